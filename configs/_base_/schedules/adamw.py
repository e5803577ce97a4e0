# Optimization (LAVITA §4.1: AdamW, constant lr 1e-4, EMA decay 0.9999; W.A.L.T Table 8: AdamW, EMA; UCF-101
# trained 60k steps, ablations 35k). W.A.L.T's UCF-101 lr 5e-4 is set in the W.A.L.T configs over this base.
optimizer = dict(type="AdamW", lr=1e-4, betas=(0.9, 0.999), weight_decay=0.0)
lr_schedule = dict(warmup_steps=1000, decay=None, min_lr_ratio=0.0)   # decay: None (constant) or "cosine"
max_steps = 60000
grad_clip = 1.0
ema = dict(decay=0.9999)
