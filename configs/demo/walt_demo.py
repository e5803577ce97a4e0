# CPU demo of W.A.L.T (§4.2–4.3) on the bundled demo videos (python tools/make_demo_data.py --out data/demo): four
# classes of a coloured shape moving right / left / up / down. A small W.A.L.T (4 layers, d = 128, patch 4) with
# alternating spatial (1×4×4 tokens) and spatiotemporal (8×2×2) window attention, AdaLN-LoRA (r = 8),
# self-conditioning, v-prediction with zero terminal SNR and class conditioning with a null class for guidance,
# trained in pixel space (identity autoencoder) on 8 frames × 16² clips on 2 CPU cores: 4,000 steps, in bf16 where the
# CPU has native bf16 and in fp32 elsewhere (AVX2 emulated: ≈ 11 min of training on an AMD Zen 5, 14 min on a
# 2.8 GHz Intel Xeon, 17 on its slowest day).
#
# Three choices make the classes' motion learnable in ~10 CPU minutes (docs/benchmarks.md, "CPU demo"):
# * position and class embeddings start at a scale the network sees: the learned space-time position table at
#   std 0.5 (not ViT's 0.02) and the class table at std 1 (ADM's N(0, 1), not DiT's 0.02). At the small inits a
#   5000-step run barely uses either, and the motion direction is decided at high noise, where only the class
#   and the position say anything;
# * 16² frames (4×4 tokens): 3.4× more steps per minute than 32²;
# * the cosine schedule, which leaves more of the training steps at noise levels where the object is visible.
_base_ = [
    "../_base_/models/walt_l.py",
    "../_base_/data/demo.py",
    "../_base_/schedules/adamw.py",
    "../_base_/runtime/default.py",
]
model = dict(
    backbone=dict(preset=None, depth=4, dim=128, num_heads=4, patch_size=4,
                  spatial_window=(1, 4, 4), spatiotemporal_window=(8, 2, 2),
                  conditioning=dict(type="AdaLNLoRA", rank=8),
                  pos_embed=dict(type="LearnedSpaceTimePosEmbed", init_std=0.5),
                  num_classes=4, class_embed_std=1.0),
    autoencoder=dict(_delete_=True, type="IdentityAutoencoder", latent_channels=3),
    diffusion=dict(schedule="cosine"),
    video_size=(8, 16, 16),
    self_condition_prob=0.5,
    cond_dropout_prob=0.1,
)
data = dict(train=dict(resolution=16), batch_size=16)
optimizer = dict(lr=1e-3, betas=(0.9, 0.99))
lr_schedule = dict(warmup_steps=200)
max_steps = 4000  # 12.4-17.9 min end to end with AVX2 emulated in fp32, by the host CPU's speed (docs/benchmarks.md)
ema = dict(decay=0.99)  # a short run: average the last ~100 steps (0.999 still mixes in early, poor weights)
log_interval = 50
ckpt_interval = 1000
sample = dict(interval=0, num=8, steps=50, cfg_scale=1.0)
