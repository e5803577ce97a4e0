# W.A.L.T-XL (W.A.L.T Table 4 / Table 8 UCF-101 column): 28 layers, d = 1152, 16 heads; otherwise as W.A.L.T-L.
_base_ = ["./walt_l.py"]
model = dict(backbone=dict(preset="WALT-XL"))
