# Cross-paper ablation: LAVITA-XL/2 variant 2 on UCF-101 (lavita_ucf.py) with W.A.L.T's windows (§4.2): spatial blocks
# use a 1×16×16 SW window (the whole 16×16 token frame), temporal blocks a spatiotemporal window over all frames and
# 8×8 positions ("(1 + t) × h' × w'"; 5×8×8 does not divide 16 frames), both with W.A.L.T's relative position bias.
# qk-norm stays LAVITA's (off), as does everything else.
_base_ = ["../../lavita_ucf.py"]
model = dict(backbone=dict(spatial_attention=dict(type="SpatialWindowAttention"),
                           temporal_attention=dict(type="SpatiotemporalWindowAttention", window=(None, 8, 8))))
