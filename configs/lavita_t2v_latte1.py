# The released Latte text-to-video architecture (Latte-1 and the first release t2v.pt; diffusers
# LatteTransformer3DModel) as a LAVITA config. It is not the pooled-CLIP model of lavita.md §4.4: PixArt-α-style —
# T5-XXL per-token embeddings (120 tokens, 4096-d) pass a caption projection and every spatial block cross-attends to
# them (TextCrossAttention: text-only keys); one adaLN-single timestep modulation shared by all blocks plus a learned
# scale-shift table per block; GELU-tanh MLP; 28 spatial + 28 temporal blocks of width 1152, 16 heads (LAVITA-XL/2 at
# depth 56), patch 2, learned Σ; 16 frames at 512². Dropped text is the empty prompt's encoding (the pipeline's
# negative prompt). The T5 folder is a local save_pretrained copy (Latte-1's text_encoder/ and tokenizer/).
_base_ = ["./lavita_t2v.py"]
model = dict(
    video_size=(16, 512, 512),
    backbone=dict(depth=56, conditioning=dict(_delete_=True, type="AdaLNSingle"),
                  cross_attention=dict(type="TextCrossAttention"), text_pooled=False),
    text_encoder=dict(_delete_=True, type="T5TextEncoder", path="checkpoints/t5-v1_1-xxl", max_length=120),
    null_text="empty_prompt",
)
data = dict(train=dict(dataset=dict(resolution=512)))
