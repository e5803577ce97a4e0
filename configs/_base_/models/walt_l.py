# W.A.L.T-L latent video diffusion model (W.A.L.T §4, App. A defaults): 24 layers, d = 1024, 16 heads, patch 1,
# 1×16×16 spatial / 5×8×8 spatiotemporal windows (the backbone's spatial_window / spatiotemporal_window, unset =
# the paper's; set only for window attentions), AdaLN-LoRA r = 2, qk-norm, v-prediction, zero terminal SNR,
# self-conditioning p_sc = 0.9, latents c = 8 of a 17×128×128 clip (5×16×16: derived from video_size and the
# autoencoder, as are the backbone's input channels and self-conditioning input). The latent-norm statistics
# (W.A.L.T §5.2) belong to the dataset: each _base_/data file sets `latent_norm`.
model = dict(
    type="LatentDiffusion",
    video_size=(17, 128, 128),
    backbone=dict(
        type="WALT",
        preset="WALT-L",
        spatial_attention=dict(type="SpatialWindowAttention"),
        spatiotemporal_attention=dict(type="SpatiotemporalWindowAttention"),
        conditioning=dict(type="AdaLNLoRA", rank=2, lora_every_layer=True),
        qk_norm=True,
        rel_pos_bias=True,
    ),
    diffusion=dict(type="GaussianDiffusion", schedule="linear", prediction="v", zero_terminal_snr=True),
    autoencoder=dict(type="CausalVAE3D", latent_channels=8),
    text_encoder=None,
    self_condition_prob=0.9,
)
