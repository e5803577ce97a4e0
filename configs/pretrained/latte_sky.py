# Sampling the public Latte SkyTimelapse checkpoint (sky.pt) as configs/sky/sky_sample.yaml of Latte: unconditional
# Latte-XL/2, 16 frames at 256², DDPM 250 (linspace respacing), no guidance, the release's SD VAE, 8 fps.
_base_ = ["../lavita_sky.py"]
model = dict(autoencoder=dict(pretrained="checkpoints/Latte/vae"))
sample = dict(sampler=dict(type="DDPM", spacing="linspace"), steps=250, cfg_scale=1.0, fps=8)
