# The CPU demo: tools/make_demo_data.py videos (4 motion classes, 16 frames at 64×64) read in UCF-101 layout,
# 8 frames every 2nd frame at 32×32. No flip: it would swap the "moving left" and "moving right" classes. The 96
# videos (19 MB decoded) are decoded once and kept in memory (keep_decoded): decoding them again on every step took a
# fifth of two CPU cores. Kept decoded, the training process reads its batches itself (no workers): worker processes
# would only compete with training for the two cores (6.2 vs 5.5 steps/s, docs/benchmarks.md "The CPU demo").
data = dict(
    train=dict(type="UCF101", root="data/demo", split="all", num_frames=8, frame_interval=2, resolution=32,
               hflip=0.0, keep_decoded=True),
    batch_size=8,
    num_workers=0,
)
