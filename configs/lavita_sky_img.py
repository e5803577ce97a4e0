# LAVITA+IMG on SkyTimelapse (lavita.md §3.6, §4.2, Table 2: FVD 42.67): lavita_sky.py with 8 frames of other
# videos appended to each clip (image_mask; they skip the temporal blocks), as lavita_ucf_img.py.
_base_ = ["./lavita_sky.py"]
data = dict(train=dict(_delete_=True, type="JointAppendedFrames", num_images=8, dataset={{_base_.data.train}}))
