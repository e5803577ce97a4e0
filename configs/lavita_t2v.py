# LAVITA text-to-video (lavita.md §4.4: WebVid-2M + ~6.4M LAION images, FVD 378.20, FID 47.72): LAVITA-XL/2 with
# the SD1.4 CLIP text encoder (open_clip ViT-L-14, QuickGELU, OpenAI weights from a local file); the pooled output
# (d = 768) is added to the timestep embedding like a label (§4.4: "texts play the same role as the timesteps or
# labels"). Text dropout 0.1 for classifier-free guidance (our choice). Joint training with images appended as
# in LAVITA+IMG; LAION images as extra frames need a text–image dataset, so the appended frames here are WebVid
# frames (JointAppendedFrames). 16 frames at 256², interval 3, AdamW constant lr 1e-4 (§4.1).
_base_ = [
    "./_base_/models/lavita_xl.py",
    "./_base_/data/text_video.py",
    "./_base_/schedules/lavita.py",
    "./_base_/runtime/default.py",
]
model = dict(
    text_encoder=dict(_delete_=True, type="OpenCLIPTextEncoder", model_name="ViT-L-14",
                      pretrained="checkpoints/clip-vit-l-14-openai.pt"),
    cond_dropout_prob=0.1,
)
data = dict(train=dict(_delete_=True, type="JointAppendedFrames", num_images=8,
                       dataset=dict(type="TextVideoCSV", root="data/webvid", csv="captions.csv", num_frames=16,
                                    frame_interval=3, resolution=256, hflip=0.0)),
            batch_size=40)  # global batch: LAVITA states none; 5 clips per GPU (public code) × 8 GPUs, our choice
latent_norm = None  # SD latents (scaled by 0.18215) are not normalized per channel in LAVITA
