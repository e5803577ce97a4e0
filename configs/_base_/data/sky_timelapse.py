# SkyTimelapse, LAVITA §4: training split, 16 frames at 256×256, sampling interval 3, flip only.
# Layout sky_train/<video>/<clip>/<frames>: every folder holding frames is one video.
data = dict(
    train=dict(type="VideoFolder", root="data/sky_timelapse/sky_train", num_frames=16, frame_interval=3,
               resolution=256, hflip=0.5),
    batch_size=40,   # global batch; LAVITA states none: the public code's 5 clips per GPU × 8 GPUs (our choice)
    num_workers=4,
)
