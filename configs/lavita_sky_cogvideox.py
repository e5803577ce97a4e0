# LAVITA unconditional SkyTimelapse (configs/lavita_sky.py) on the public CogVideoX VAE (docs/video_vaes.md): diffusers
# AutoencoderKLCogVideoX, f_t = 4, f_s = 8, c = 16. Its frame grid is 1 + 8k, so 17 frames (LAVITA: 16) at 256²,
# interval 3, become 16×5×32×32 latents; LAVITA-XL/2 tokens 5×16×16. Latents: the CogVideoX pipeline's
# z · scaling_factor, then walt's latent norm from the statistics tools/encode_latents.py writes next to the cache.
# Tiling is on (the VAE's default here: CogVideoX's decoder needs it on consumer GPUs).
_base_ = ["./lavita_sky.py"]
model = dict(autoencoder=dict(_delete_=True, type="DiffusersVideoVAE", model="AutoencoderKLCogVideoX",
                              pretrained="checkpoints/CogVideoX-2b/vae"),
             video_size=(17, 256, 256))
data = dict(train=dict(num_frames=17))
latent_norm = dict(stats="data/sky_cogvideox_latents/latent_stats.json")
