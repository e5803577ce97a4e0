# CPU demo of W.A.L.T (§4.2–4.3) on the bundled demo videos (python tools/make_demo_data.py --out data/demo): four
# classes of a coloured shape moving right / left / up / down. A small W.A.L.T (4 layers, d = 128, patch 4) with
# alternating spatial (1×8×8 tokens) and spatiotemporal (8×4×4) window attention, AdaLN-LoRA (r = 8),
# self-conditioning, v-prediction with zero terminal SNR and class conditioning with a null class for guidance,
# trained in pixel space (identity autoencoder) on 8 frames × 32² clips with bf16 autocast on 2 CPU cores.
_base_ = [
    "../_base_/models/walt_l.py",
    "../_base_/data/demo.py",
    "../_base_/schedules/adamw.py",
    "../_base_/runtime/default.py",
]
model = dict(
    backbone=dict(preset=None, depth=4, dim=128, num_heads=4, patch_size=4, in_channels=3, input_size=(8, 32, 32),
                  spatial_window=(1, 8, 8), spatiotemporal_window=(8, 4, 4),
                  conditioning=dict(type="AdaLNLoRA", rank=8), num_classes=4),
    autoencoder=dict(_delete_=True, type="IdentityAutoencoder", latent_channels=3),
    latent_norm=None,  # pixels in [-1, 1]
    video_size=(8, 32, 32),
    self_condition_prob=0.5,
    cond_dropout_prob=0.1,
)
data = dict(batch_size=16)
optimizer = dict(lr=1e-3, betas=(0.9, 0.99))
lr_schedule = dict(warmup_steps=200)
max_steps = 1800
ema = dict(decay=0.99)  # a short run: average the last ~100 steps (0.999 still mixes in early, poor weights)
log_interval = 25
ckpt_interval = 600
sample = dict(interval=0, num=8, steps=50, cfg_scale=1.0)
