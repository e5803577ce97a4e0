# Cross-paper ablation: W.A.L.T-L (Table 3 default, walt_l_lora_r2.py) with LAVITA's factorization (lavita.md §3.2):
# the SW layers attend within a frame (SpatialAttention; on 16×16 latents the same tokens as a 1×16×16 window) and
# the STW layers across frames at one position (TemporalAttention; image frames excluded, §3.6) instead of 5×8×8.
# Everything else is W.A.L.T's, including the qk-norm and relative position bias the backbone offers each layer.
_base_ = ["../walt_l_lora_r2.py"]
model = dict(backbone=dict(spatial_attention=dict(_delete_=True, type="SpatialAttention"),
                           spatiotemporal_attention=dict(_delete_=True, type="TemporalAttention")))
