# LAVITA ablation, uniform frame patch embedding (lavita.md §4.2 "Video clip patch embedding", Fig. 5e), variant 2.
_base_ = ["../lavita_ffs.py"]
model = dict(backbone=dict(patch_embed=dict(type="PatchEmbed")))
