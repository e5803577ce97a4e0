# W.A.L.T Table 3f: latent channels c = 16 (rFVD 8.2, FVD 67.0, IS 86.0). The causal autoencoder is retrained with c = 16
# (tools/train_autoencoder.py ... --cfg-options model.autoencoder.latent_channels=16); the transformer sees c channels (derived from the autoencoder).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(autoencoder=dict(latent_channels=16))
latent_norm = dict(stats="data/ucf101_latents_c16/latent_stats.json")  # the statistics of these c = 16 latents
