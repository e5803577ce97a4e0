# LAVITA unconditional FaceForensics (lavita.md §4.1, Table 2): LAVITA-XL/2 variant 2, 16 frames at 256², frame
# interval 3, SD VAE latents, AdamW constant lr 1e-4, EMA 0.9999, horizontal flip only. Base of the §4.2 ablations.
_base_ = [
    "./_base_/models/lavita_xl.py",
    "./_base_/data/faceforensics.py",
    "./_base_/schedules/lavita.py",
    "./_base_/runtime/default.py",
]
