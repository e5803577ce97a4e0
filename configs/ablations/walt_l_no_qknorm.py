# W.A.L.T Table 3e: "w/o qk norm" — no query-key LayerNorm in self- or cross-attention.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(qk_norm=False))
