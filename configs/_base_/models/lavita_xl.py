# LAVITA-XL/2 latent video diffusion model (lavita.md §3, §4.3): variant 2 (interleaved spatial/temporal blocks),
# uniform frame patch embedding, S-AdaLN, absolute sin-cos temporal position; ε-prediction with learned variance
# trained on L_simple + L_vlb (§3.1, DiT's linear 1000-step schedule); SD VAE latents 4×16×32×32 of 16×256×256 clips.
model = dict(
    type="LatentDiffusion",
    backbone=dict(
        type="LAVITA",
        preset="LAVITA-XL/2",
        variant=2,
        in_channels=4,
        num_frames=16,
        input_size=32,
        patch_embed=dict(type="PatchEmbed"),
        conditioning=dict(type="SAdaLN"),
        temporal_position="abs",
        learn_sigma=True,
    ),
    diffusion=dict(type="GaussianDiffusion", schedule="linear", prediction="eps", learn_sigma=True,
                   zero_terminal_snr=False),
    # Stable Diffusion's VAE (a local diffusers directory, e.g. a saved SD-1.4 pipeline; never downloaded here).
    autoencoder=dict(type="SDVAE", pretrained="checkpoints/stable-diffusion-v1-4"),
    text_encoder=None,
    latent_norm=None,
    self_condition_prob=0.0,
)
