# W.A.L.T Table 3f: latent channels c = 8 (rFVD 17.1, FVD 75.4, IS 86.3). The causal autoencoder is retrained with c = 8
# (tools/train_autoencoder.py ... --cfg-options model.autoencoder.latent_channels=8); the transformer sees c channels (derived from the autoencoder).
_base_ = ["./walt_l_lora_r2.py"]
model = dict(autoencoder=dict(latent_channels=8))  # the default: latent_norm of the ucf101 data base
