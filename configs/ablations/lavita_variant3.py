# LAVITA ablation, model variant 3 (lavita.md §4.2 "Model variants", Fig. 5d, Table 4): FaceForensics, unconditional.
_base_ = ["../lavita_ffs.py"]
model = dict(backbone=dict(variant=3))
