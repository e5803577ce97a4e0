# W.A.L.T class-conditional ImageNet 256×256 (§5.1, Table 2: FID 2.56, IS 215.1 without guidance, 460M params,
# 437k steps × batch 1024, 50 DDIM steps). Table 8 ImageNet column: L (24 layers, d = 1024) with a separate AdaLN
# per layer instead of AdaLN-LoRA, which gives the 460M of Table 2 (458M of Table 4 + the 1000-class embedding).
# An image is a one-frame video (§4.1): 256² → 8×1×32×32 latents of the causal autoencoder, patch 1 (the §5.2
# default; Table 8's patch entry is illegible). With one latent frame the spatiotemporal layers reduce to 1×8×8
# spatial windows (the 5 of 5×8×8 is clamped to the single frame). lr is illegible: W.A.L.T's UCF-101 5e-4.
_base_ = [
    "./_base_/models/walt_l.py",
    "./_base_/data/imagenet.py",
    "./_base_/schedules/adamw.py",
    "./_base_/runtime/default.py",
]
model = dict(
    backbone=dict(num_classes=1000, spatiotemporal_window=(1, 8, 8), conditioning=dict(_delete_=True, type="AdaLN")),
    cond_dropout_prob=0.1,
    video_size=(1, 256, 256),
)
data = dict(batch_size=1024)  # the global batch (Table 2); data.micro_batch_size: what fits one device
optimizer = dict(lr=5e-4)
max_steps = 437000
