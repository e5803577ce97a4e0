# W.A.L.T Table 3f: latent channels c = 32 (rFVD 3.5, FVD 83.4, IS 82.9). The causal autoencoder is retrained with c = 32
# (tools/train_autoencoder.py ... --cfg-options model.autoencoder.latent_channels=32); the transformer sees c channels.
_base_ = ["./walt_l_lora_r2.py"]
model = dict(backbone=dict(in_channels=32), autoencoder=dict(latent_channels=32))
