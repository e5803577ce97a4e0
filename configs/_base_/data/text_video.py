# Text-to-video base stage, W.A.L.T §5.3: 17×128×128 clips with captions (CSV: path,caption).
# No flip: captions may say "left" or "right".
latent_norm = dict(stats="data/text_video_latents/latent_stats.json")  # W.A.L.T §5.2 (tools/encode_latents.py)
data = dict(
    train=dict(type="TextVideoCSV", root="data/text_video", csv="captions.csv", num_frames=17, frame_interval=1,
               resolution=128, hflip=0.0),
    batch_size=8,
    num_workers=4,
)
