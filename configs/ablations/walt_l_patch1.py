# W.A.L.T Table 3a: patch size p = 1 (the default); windows larger than the 16×16 token grid are clamped to it.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(patch_size=1))
