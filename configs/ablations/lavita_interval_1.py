# LAVITA ablation, video sampling interval 1 (lavita.md §4.2 "Video sampling interval", Fig. 5a): 16 frames taken
# every 1 source frames on FaceForensics. The paper keeps 3; Fig. 5a's exact set of intervals is not in our copy.
_base_ = ["../lavita_ffs.py"]
data = dict(train=dict(frame_interval=1))
