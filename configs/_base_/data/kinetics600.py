# Kinetics-600 frame prediction, W.A.L.T §5.1: 17×128×128 clips, the first 5 frames are the condition.
# annotations: the official CSV (label,youtube_id,time_start,time_end,split) or one with path,label columns.
latent_norm = dict(stats="data/kinetics600_latents/latent_stats.json")  # W.A.L.T §5.2 (tools/encode_latents.py)
data = dict(
    train=dict(type="Kinetics600", root="data/kinetics600", annotations="train.csv", num_frames=17,
               frame_interval=1, resolution=128, hflip=0.5),
    batch_size=8,
    num_workers=4,
)
