# W.A.L.T Table 3d: AdaLN-LoRA rank r = 16 (316M parameters).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(conditioning=dict(rank=16)))
