# The W.A.L.T first stage (W.A.L.T §4.1, App. A: MAGVIT-v2 architecture, real-valued latents): causal 3-D CNN VAE,
# f_s = 8, f_t = 4, c = 8 (17×128×128 → 5×16×16×8), trained with L1 + KL + perceptual + adversarial losses.
model = dict(
    type="AutoencoderTraining",
    autoencoder=dict(type="CausalVAE3D", latent_channels=8, base_channels=128, channel_multipliers=(1, 2, 2, 4),
                     num_res_blocks=4, temporal_downsample=(False, True, True)),
    reconstruction_loss="l1",
    kl_weight=1e-6,                  # LDM KL-reg value; the KL is normalised per pixel element like the L1 term
    # LPIPS-style perceptual loss: set vgg_weights to a local torchvision vgg16 state dict (and optionally
    # lpips_weights to LPIPS' linear heads); None turns the term off (the log says so).
    perceptual=dict(vgg_weights=None, lpips_weights=None, frames_per_clip=4),
    perceptual_weight=1.0,
    discriminator=dict(base_channels=64, num_layers=3),
    adversarial_weight=0.1,
    disc_start=50000,
)
