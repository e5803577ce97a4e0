# W.A.L.T Table 3 default setting ("full method" row; Table 3d r = 2, 313M): W.A.L.T-L, patch 1, 1×16×16 SW,
# 5×8×8 STW, p_sc = 0.9, c = 8, r = 2, class-conditional UCF-101 (W.A.L.T-XL's recipe of walt_ucf.py: AdamW
# lr 5e-4); ablations train 35,000 steps (App. A). Every other L ablation inherits this.
_base_ = [
    "../_base_/models/walt_l.py",
    "../_base_/data/ucf101.py",
    "../_base_/schedules/adamw.py",
    "../_base_/runtime/default.py",
]
model = dict(backbone=dict(num_classes=101))
data = dict(batch_size=256)
optimizer = dict(lr=5e-4)
max_steps = 35000
