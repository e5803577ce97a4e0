# W.A.L.T Table 3 default setting ("full method" row; Table 3d r = 2, 313M): W.A.L.T-L, patch 1, 1×16×16 SW,
# 5×8×8 STW, p_sc = 0.9, c = 8, r = 2, class-conditional UCF-101 with W.A.L.T-XL's recipe (walt_ucf.py: AdamW
# lr 5e-4, global batch 256); ablations train 35,000 steps (App. A). Every other L ablation inherits this.
_base_ = ["../walt_ucf.py"]
model = dict(backbone=dict(preset="WALT-L"))
max_steps = 35000
