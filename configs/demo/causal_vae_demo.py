# CPU demo of the first stage: a tiny causal 3-D VAE (f_s = 4, f_t = 2, c = 4) on the demo videos
# (python tools/make_demo_data.py --out data/demo): 9×32×32 clips → 5×8×8×4 latents; 300 steps, the 3-D
# discriminator joins at step 200. Then: tools/encode_latents.py this config --checkpoint work_dirs/causal_vae_demo.
_base_ = [
    "../_base_/models/causal_vae.py",
    "../_base_/data/demo.py",
    "../_base_/schedules/adamw.py",
    "../_base_/runtime/default.py",
]
model = dict(
    autoencoder=dict(latent_channels=4, base_channels=16, channel_multipliers=(1, 2, 2), num_res_blocks=1,
                     temporal_downsample=(False, True), num_mid_blocks=1, num_groups=8),
    perceptual=dict(frames_per_clip=2),
    discriminator=dict(base_channels=16, num_layers=2),
    disc_start=200,
)
data = dict(train=dict(num_frames=9, frame_interval=1), batch_size=8, num_workers=0)
optimizer = dict(lr=1e-3, betas=(0.5, 0.9))
max_steps = 300
lr_schedule = dict(warmup_steps=50)
precision = "fp32"
log_interval = 25
ckpt_interval = 100
sample = dict(interval=0)
