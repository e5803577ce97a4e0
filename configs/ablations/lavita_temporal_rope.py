# LAVITA ablation, temporal RoPE (lavita.md §4.2 "Temporal positional embedding", Fig. 5b).
_base_ = ["../lavita_ffs.py"]
model = dict(backbone=dict(temporal_position="rope"))
