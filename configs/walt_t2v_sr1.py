# W.A.L.T text-to-video super-resolution stage 1 (§4.5, §5.3): 17×128×224 → 17×256×448, "L, 1.3B, p = 2" — the
# WALT-SR-1.3B preset (40 × 1408, patch 2; text cross-attention included, which is what makes 1.3B). Latents
# 8×5×16×28 → 8×5×32×56 (token grid 5×16×28 with p = 2, windows as the 9:16 base stage: 1×16×28 and 5×8×14). The
# low-resolution latent is upsampled by a depth-to-space convolution and concatenated to the input; noise
# conditioning augmentation t_sr ~ U{0..250} is embedded into AdaLN-LoRA (t_max not stated; ours).
# Trained jointly on videos and images like the base stage (§4.5: the low-resolution input z_lr is "video or
# image"): SuperResolutionPairs makes the 2× downsampled input of each clip and of each image stack
# (JointImageStacks, every image under its own caption); no frame prediction.
_base_ = ["./walt_t2v_l.py"]
model = dict(
    backbone=dict(preset="WALT-SR-1.3B", spatial_window=(1, 16, 28), spatiotemporal_window=(5, 8, 14)),
    frame_prediction_prob=0.0,
    super_resolution=True,
    sr_noise_t_max=250,
    video_size=(17, 256, 448),
)
data = dict(train=dict(_delete_=True, type="SuperResolutionPairs", factor=2,
                       dataset=dict(type="JointImageStacks",
                                    video=dict(type="TextVideoCSV", root="data/text_video", csv="captions.csv",
                                               num_frames=17, resolution=(256, 448), hflip=0.0),
                                    image=dict(type="TextVideoCSV", root="data/text_image", csv="captions.csv",
                                               num_frames=1, resolution=(256, 448), hflip=0.0),
                                    images_per_stack=5)))
grad_checkpointing = True
