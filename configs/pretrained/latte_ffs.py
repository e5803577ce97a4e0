# Sampling the public Latte FaceForensics checkpoint (ffs.pt), as Latte's configs/ffs/ffs_sample.yaml does:
# Latte-XL/2 (LAVITA-XL/2 variant 2), unconditional, 16 frames at 256², learned Σ; DDPM with 250 steps respaced
# like improved DDPM (linspace), no guidance; the SD VAE of the Latte release (its vae/ folder), videos at 8 fps.
#   python tools/sample.py configs/pretrained/latte_ffs.py --checkpoint ffs.pt
_base_ = ["../lavita_ffs.py"]
model = dict(autoencoder=dict(pretrained="checkpoints/Latte/vae"))
sample = dict(sampler=dict(type="DDPM", spacing="linspace"), steps=250, cfg_scale=1.0, fps=8)
