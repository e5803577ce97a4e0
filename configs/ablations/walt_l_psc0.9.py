# W.A.L.T Table 3c: self-conditioning rate p_sc = 0.9 (the default).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(self_condition_prob=0.9)
