# Cross-paper ablation: W.A.L.T-L (Table 3 default, walt_l_lora_r2.py) with full 3-D self-attention in every layer,
# the unfactorized model both papers avoid (W.A.L.T Table 3b makes only the STW layers full; LAVITA §3.2 factorizes
# to escape the quadratic cost). Image frames of joint training still pass through the identity mask.
_base_ = ["../walt_l_lora_r2.py"]
model = dict(backbone=dict(spatial_attention=dict(_delete_=True, type="FullAttention"),
                           spatiotemporal_attention=dict(_delete_=True, type="FullAttention")))
