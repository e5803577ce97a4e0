# LAVITA+IMG on FaceForensics (lavita.md §3.6, §4.2, Table 1: FID 3.87; Table 2: FVD 27.08): lavita_ffs.py with 8 frames of other
# videos appended to each clip (image_mask; they skip the temporal blocks), as lavita_ucf_img.py.
_base_ = ["./lavita_ffs.py"]
data = dict(train=dict(_delete_=True, type="JointAppendedFrames", num_images=8, dataset={{_base_.data.train}}))
