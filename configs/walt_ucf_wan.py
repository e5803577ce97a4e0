# W.A.L.T class-conditional UCF-101 (configs/walt_ucf.py) on the public Wan-2.1 VAE instead of W.A.L.T's unreleased
# tokenizer (docs/video_vaes.md): diffusers AutoencoderKLWan, f_t = 4, f_s = 8, c = 16, so 17×128×128 clips become
# 16×5×16×16 latents (the backbone's in_channels and latent grid are derived from the VAE, as for the causal VAE).
# Latents: the Wan pipeline's (z - latents_mean) / latents_std, then walt's latent norm (W.A.L.T §5.2) from the
# statistics tools/encode_latents.py writes next to the cache.
_base_ = ["./walt_ucf.py"]
model = dict(autoencoder=dict(_delete_=True, type="DiffusersVideoVAE", model="AutoencoderKLWan",
                              pretrained="checkpoints/Wan2.1-T2V-1.3B-Diffusers/vae"))
latent_norm = dict(stats="data/ucf101_wan_latents/latent_stats.json")
