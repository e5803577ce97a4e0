# LAVITA-XL/2 latent video diffusion model (lavita.md §3, §4.3): variant 2 (interleaved spatial/temporal blocks),
# uniform frame patch embedding, S-AdaLN, absolute sin-cos temporal position; ε-prediction with learned variance
# trained on L_simple + L_vlb (§3.1, DiT's linear 1000-step schedule); SD VAE latents 4×16×32×32 of 16×256×256 clips
# (the backbone's size and its 2·4 output channels are derived from video_size, the VAE and learn_sigma).
# No latent normalization: the SD latents are scaled by 0.18215 (LAVITA configs set latent_norm = None).
model = dict(
    type="LatentDiffusion",
    video_size=(16, 256, 256),
    backbone=dict(
        type="LAVITA",
        preset="LAVITA-XL/2",
        variant=2,
        patch_embed=dict(type="PatchEmbed"),
        conditioning=dict(type="SAdaLN"),
        temporal_position="abs",
    ),
    diffusion=dict(type="GaussianDiffusion", schedule="linear", prediction="eps", learn_sigma=True,
                   zero_terminal_snr=False),
    # Stable Diffusion's VAE (a local diffusers directory, e.g. a saved SD-1.4 pipeline; never downloaded here).
    autoencoder=dict(type="SDVAE", pretrained="checkpoints/stable-diffusion-v1-4"),
    text_encoder=None,
    self_condition_prob=0.0,
)
