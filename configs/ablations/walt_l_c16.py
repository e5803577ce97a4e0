# W.A.L.T Table 3f: latent channels c = 16 (rFVD 8.2, FVD 67.0, IS 86.0). The causal autoencoder is retrained with c = 16
# (tools/train_autoencoder.py ... --cfg-options model.autoencoder.latent_channels=16); the transformer sees c channels.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(in_channels=16), autoencoder=dict(latent_channels=16))
