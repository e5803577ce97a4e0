# LAVITA+IMG on Taichi-HD (lavita.md §3.6, §4.2, Table 2: FVD 116.83): lavita_taichi.py with 8 frames of other
# videos appended to each clip (image_mask; they skip the temporal blocks), as lavita_ucf_img.py.
_base_ = ["./lavita_taichi.py"]
data = dict(train=dict(_delete_=True, type="JointAppendedFrames", num_images=8, dataset={{_base_.data.train}}))
