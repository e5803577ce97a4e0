# LAVITA ablation, S-AdaLN conditioning (lavita.md §4.2 "Conditional information injection", Fig. 5f).
_base_ = ["../lavita_ffs.py"]
model = dict(backbone=dict(conditioning=dict(type="SAdaLN")))
