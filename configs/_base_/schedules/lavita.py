# LAVITA optimization (lavita.md §4.1): AdamW with a constant learning rate 1e-4, EMA decay 0.9999, horizontal flip
# the only augmentation (set by the data bases). The paper gives no total; 150k is its longest ablation run (Table 4).
_base_ = ["./adamw.py"]
optimizer = dict(type="AdamW", lr=1e-4, weight_decay=0.0)
lr_schedule = dict(warmup_steps=0, decay=None)
ema = dict(decay=0.9999)
max_steps = 150000
