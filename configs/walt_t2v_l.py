# W.A.L.T text-to-video, W.A.L.T-L (§5.3, Table 5 "419M (video + image)": UCF-101 zero-shot IS 31.7, FVD 344.5).
# L (24 × 1024, AdaLN-LoRA r = 2, patch 1) + cross-attention to T5-XL per-token embeddings (d_text = 2048, §5.3,
# taken from the encoder)
# on the spatial windows only (joint image–video training, §4.3); 17×128×128 clips → 8×5×16×16 latents; joint
# training on text–video and text–image pairs (§4.2: each image stack is K = 5 one-frame latents); also trained on
# frame prediction for long videos (§4.4, App. A "Long video generation"); text dropout 0.1 for classifier-free
# guidance (§5.3 uses it for all text-to-video results); Adafactor (Table 8). Not legible in Table 8, our choices:
# p_fp = 0.1, lr 1e-4 with 10k warmup, batch 256, 200k steps, T5 max length 128.
# The image side is a TextVideoCSV whose rows point at one-image frame folders (data/text_image/captions.csv).
_base_ = ["./_base_/models/walt_l.py", "./_base_/data/text_video.py", "./_base_/runtime/default.py"]
model = dict(
    backbone=dict(cross_attention_window="spatial"),
    text_encoder=dict(_delete_=True, type="T5TextEncoder", path="checkpoints/t5-v1_1-xl", max_length=128),
    cond_dropout_prob=0.1,
    frame_prediction_prob=0.1,
    video_size=(17, 128, 128),
)
data = dict(
    train=dict(_delete_=True, type="JointImageStacks",
               video=dict(type="TextVideoCSV", root="data/text_video", csv="captions.csv", num_frames=17,
                          resolution=128, hflip=0.0),
               image=dict(type="TextVideoCSV", root="data/text_image", csv="captions.csv", num_frames=1,
                          resolution=128, hflip=0.0),
               images_per_stack=5),
    batch_size=256,  # the global batch; data.micro_batch_size: what fits one device
)
optimizer = dict(type="Adafactor", lr=1e-4)
lr_schedule = dict(warmup_steps=10000, decay=None)
max_steps = 200000
grad_clip = 1.0
ema = dict(decay=0.9999)
