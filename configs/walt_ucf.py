# W.A.L.T class-conditional UCF-101 (Tables 1 and 4, Table 8 UCF-101 column): W.A.L.T-XL, AdaLN-LoRA r = 2,
# patch 1, AdamW lr 5e-4, batch 256, EMA, 60,000 steps; latents 8×5×16×16 of 17×128×128 clips.
_base_ = [
    "./_base_/models/walt_xl.py",
    "./_base_/data/ucf101.py",
    "./_base_/schedules/adamw.py",
    "./_base_/runtime/default.py",
]
model = dict(backbone=dict(num_classes=101))
data = dict(batch_size=256)   # the global batch (Table 8); data.micro_batch_size: what fits one device
optimizer = dict(lr=5e-4)
max_steps = 60000
