# W.A.L.T Table 3b: spatiotemporal window 5×4×4.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(spatiotemporal_window=(5, 4, 4)))
