# ImageNet 256×256 class-conditional image generation, W.A.L.T §5.1 / Table 2: images are one-frame videos.
latent_norm = dict(stats="data/imagenet_latents/latent_stats.json")  # W.A.L.T §5.2 (tools/encode_latents.py)
data = dict(
    train=dict(type="ImageFolder", root="data/imagenet/train", resolution=256, hflip=0.5),
    batch_size=32,
    num_workers=8,
)
