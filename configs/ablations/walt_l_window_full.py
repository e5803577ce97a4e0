# W.A.L.T Table 3b: "full self attn." — the spatiotemporal layers attend over the whole 5×16×16 token grid
# (spatial layers keep their 1×16×16 window, which already spans a whole frame at this resolution).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(spatiotemporal_attention=dict(_delete_=True, type="FullAttention")))
