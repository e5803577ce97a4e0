# Sampling the public Latte UCF-101 checkpoint (ucf101.pt) as configs/ucf101/ucf101_sample.yaml of Latte:
# class-conditional Latte-XL/2 (101 classes + the null class 101), 16 frames at 256², DDPM 250 (linspace
# respacing), classifier-free guidance 7.0 on ε (the variance from the conditional half), the release's SD VAE, 8 fps.
#   python tools/sample.py configs/pretrained/latte_ucf.py --checkpoint ucf101.pt --class 0 1 2 3
_base_ = ["../lavita_ucf.py"]
model = dict(autoencoder=dict(pretrained="checkpoints/Latte/vae"))
sample = dict(sampler=dict(type="DDPM", spacing="linspace"), steps=250, cfg_scale=7.0, fps=8)
