# UCF-101 class-conditional video generation, W.A.L.T §5.1: 17×128×128 clips (W.A.L.T Table 1 / 3).
# LAVITA configs override: num_frames=16, frame_interval=3, resolution=256, split="all" (LAVITA §4).
# W.A.L.T §5.2 latent norm: per-channel statistics of this dataset's causal-VAE (c = 8) latents, written by
# tools/encode_latents.py; a config with another autoencoder names its own file (or None).
latent_norm = dict(stats="data/ucf101_latents/latent_stats.json")
data = dict(
    train=dict(type="UCF101", root="data/ucf101", split="train", num_frames=17, frame_interval=1, resolution=128,
               hflip=0.5),
    batch_size=8,
    num_workers=4,
)
