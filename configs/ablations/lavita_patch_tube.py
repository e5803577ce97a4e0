# LAVITA ablation, compression frame (tube) patch embedding (lavita.md §4.2, Fig. 5e), variant 2. The paper does not
# give the temporal stride s; 2 halves the 16 frames to 8 token frames, undone by the 3-D transposed-conv head.
_base_ = ["../lavita_ffs.py"]
model = dict(backbone=dict(patch_embed=dict(type="TubeEmbed", temporal_patch=2)))
