# LAVITA unconditional FaceForensics (lavita.md §4.1, Table 2): LAVITA-XL/2 variant 2, 16 frames at 256², frame
# interval 3, SD VAE latents, AdamW constant lr 1e-4, EMA 0.9999, horizontal flip only. Base of the §4.2 ablations.
_base_ = [
    "./_base_/models/lavita_xl.py",
    "./_base_/data/faceforensics.py",
    "./_base_/schedules/adamw.py",
    "./_base_/runtime/default.py",
]
data = dict(train=dict(num_frames=16, frame_interval=3, resolution=256, hflip=0.5))
optimizer = dict(type="AdamW", lr=1e-4, weight_decay=0.0)
lr_schedule = dict(warmup_steps=0, decay=None)  # constant learning rate (§4.1)
ema = dict(decay=0.9999)
max_steps = 150000  # the longest run of the §4.2 ablations (Fig. 5, Table 4); the paper gives no total
