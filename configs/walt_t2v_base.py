# W.A.L.T text-to-video base stage (§4.5, §5.3, Table 5 "3B (video + image)": UCF-101 zero-shot IS 35.1, FVD 258.1):
# walt_t2v_l.py scaled to the 3B preset (52 layers, Table 8; width chosen to give 3B, walt/models/backbones/walt.py).
# Generates 17×128×128; walt_t2v_base_9x16.py finetunes it to 128×224 for the SR cascade (tools/sample_cascade.py).
_base_ = ["./walt_t2v_l.py"]
model = dict(backbone=dict(preset="WALT-T2V-3B"))
grad_checkpointing = True
