# LAVITA class-conditional UCF-101 (lavita.md §4.1, Tables 1–2): train + test splits, 101 classes (+ the null class
# of classifier-free guidance), 16 frames at 256², frame interval 3, SD VAE latents, AdamW constant lr 1e-4,
# EMA 0.9999, horizontal flip only.
_base_ = [
    "./_base_/models/lavita_xl.py",
    "./_base_/data/ucf101.py",
    "./_base_/schedules/lavita.py",
    "./_base_/runtime/default.py",
]
model = dict(backbone=dict(num_classes=101), cond_dropout_prob=0.1)
latent_norm = None  # the ucf101 data base names W.A.L.T's causal-VAE statistics; LAVITA's SD latents are not normalized
data = dict(train=dict(num_frames=16, frame_interval=3, resolution=256, hflip=0.5, split="all"),
            batch_size=40)  # global batch: LAVITA states none; 5 clips per GPU (public code) × 8 GPUs, our choice
