# W.A.L.T Table 4: W.A.L.T-L with a separate AdaLN regression per layer (458M), trained 60,000 steps (App. A).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(conditioning=dict(_delete_=True, type="AdaLN")))
max_steps = 60000
