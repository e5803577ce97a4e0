# W.A.L.T Table 3a: patch size p = 4; windows larger than the 4×4 token grid are clamped to it.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(patch_size=4))
