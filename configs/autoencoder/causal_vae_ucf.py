# W.A.L.T causal 3-D VAE on UCF-101 17×128×128 clips (W.A.L.T §4.1; the W.A.L.T-L/XL configs then use its latents:
# tools/encode_latents.py this config --checkpoint work_dirs/causal_vae_ucf --out data/ucf101_latents).
_base_ = [
    "../_base_/models/causal_vae.py",
    "../_base_/data/ucf101.py",
    "../_base_/schedules/adamw.py",
    "../_base_/runtime/default.py",
]
data = dict(batch_size=8)
optimizer = dict(lr=1e-4, betas=(0.5, 0.9))   # GAN-style betas (VQ-GAN / LDM autoencoders)
max_steps = 200000
sample = dict(interval=0)                     # an autoencoder has nothing to sample; watch rec_loss instead
