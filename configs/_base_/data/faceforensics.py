# FaceForensics, LAVITA §4: 16-frame clips at 256×256 with a sampling interval (3, as for UCF-101), flip only.
# root: a folder of videos or of frame folders (e.g. StyleGAN-V's preprocessed train split).
data = dict(
    train=dict(type="VideoFolder", root="data/faceforensics/train", num_frames=16, frame_interval=3,
               resolution=256, hflip=0.5),
    batch_size=40,   # global batch; LAVITA states none: the public code's 5 clips per GPU × 8 GPUs (our choice)
    num_workers=4,
)
