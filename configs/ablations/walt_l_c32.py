# W.A.L.T Table 3f: latent channels c = 32 (rFVD 3.5, FVD 83.4, IS 82.9). The causal autoencoder is retrained with c = 32
# (tools/train_autoencoder.py ... --cfg-options model.autoencoder.latent_channels=32); the transformer sees c channels (derived from the autoencoder).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(autoencoder=dict(latent_channels=32))
latent_norm = dict(stats="data/ucf101_latents_c32/latent_stats.json")  # the statistics of these c = 32 latents
