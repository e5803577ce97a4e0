# W.A.L.T Table 3f: latent channels c = 4 (rFVD 37.7, FVD 86.4, IS 84.9). The causal autoencoder is retrained with c = 4
# (tools/train_autoencoder.py ... --cfg-options model.autoencoder.latent_channels=4); the transformer sees c channels (derived from the autoencoder).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(autoencoder=dict(latent_channels=4))
latent_norm = dict(stats="data/ucf101_latents_c4/latent_stats.json")  # the statistics of these c = 4 latents
