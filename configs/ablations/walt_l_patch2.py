# W.A.L.T Table 3a: patch size p = 2; windows larger than the 8×8 token grid are clamped to it.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(patch_size=2))
