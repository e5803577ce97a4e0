# CPU demo of the W.A.L.T text-to-video base stage (§4.5, §5.3) on the demo captions ("a red square moving left",
# python tools/make_demo_data.py --out data/demo): a 2-layer W.A.L.T (d = 32, AdaLN-LoRA r = 2, self-conditioning,
# windowed text cross-attention, frame prediction p_fp = 0.2 for --extend) in pixel space (identity autoencoder),
# MiniLM text embeddings instead of T5-XL, 5×16×16 clips. Trains in seconds; walt_t2v_sr_demo.py is its 2× SR
# stage: python tools/sample_cascade.py --prompt "a red square moving left" \
#     --configs configs/demo/walt_t2v_demo.py configs/demo/walt_t2v_sr_demo.py --checkpoints BASE.pth SR.pth
_base_ = [
    "../_base_/models/walt_l.py",
    "../_base_/data/demo_text.py",
    "../_base_/schedules/adamw.py",
    "../_base_/runtime/default.py",
]
model = dict(
    backbone=dict(depth=2, dim=32, num_heads=2, patch_size=2, spatial_window=(1, 8, 8),
                  spatiotemporal_window=(5, 4, 4), cross_attention_window="block"),
    autoencoder=dict(_delete_=True, type="IdentityAutoencoder", latent_channels=3),
    text_encoder=dict(_delete_=True, type="MiniLMTextEncoder", max_length=16),
    cond_dropout_prob=0.1,
    frame_prediction_prob=0.2,
    video_size=(5, 16, 16),
)
data = dict(train=dict(num_frames=5, frame_interval=3, resolution=16), batch_size=8, num_workers=0)
optimizer = dict(lr=1e-3)
lr_schedule = dict(warmup_steps=10)
max_steps = 300
precision = "fp32"
log_interval = 25
ckpt_interval = 100
sample = dict(interval=0)
