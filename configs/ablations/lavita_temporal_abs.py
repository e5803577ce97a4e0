# LAVITA ablation, absolute sin-cos temporal position (lavita.md §4.2 "Temporal positional embedding", Fig. 5b).
_base_ = ["../lavita_ffs.py"]
model = dict(backbone=dict(temporal_position="abs"))
