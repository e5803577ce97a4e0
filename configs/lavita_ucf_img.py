# LAVITA+IMG on UCF-101 (lavita.md §3.6, §4.2 "image-video joint training", Table 1: IS 73.31; Table 2: FVD 800.54):
# lavita_ucf.py with 8 frames of other videos of the dataset appended to each 16-frame clip (image_mask marks them;
# they skip the temporal blocks). 8 is the public code's number; the paper gives none.
_base_ = ["./lavita_ucf.py"]
data = dict(train=dict(_delete_=True, type="JointAppendedFrames", num_images=8, dataset={{_base_.data.train}}))
