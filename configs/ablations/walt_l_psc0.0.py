# W.A.L.T Table 3c: p_sc = 0.0, no self-conditioning (the backbone also drops the self-conditioning input channels).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(self_condition_prob=0.0)
