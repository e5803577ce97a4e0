"""LAVITA variant 3 block (§3.2, Fig. 2c): spatial MHA, then temporal MHA, then the MLP, all in one block.

``x ← x + α₁ · SpatialAttn(AdaLN(x)); x ← x + α₂ · TemporalAttn(AdaLN(x)); x ← x + α₃ · MLP(AdaLN(x))``: each
sub-layer is pre-norm and has its own shift/scale/gate, so the block takes a ``(B, 9, D)`` modulation in the order
``shift_msa, scale_msa, gate_msa, shift_tmsa, scale_tmsa, gate_tmsa, shift_mlp, scale_mlp, gate_mlp``.
"""
from __future__ import annotations

from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.blocks.mlp import Mlp
from walt.models.conditioning.modulate import gated_residual, modulate
from walt.models.grid import Grid

NUM_CHUNKS = 9


class SpatioTemporalBlock(nn.Module):
    """LAVITA §3.2 variant 3: one transformer block with a spatial and then a temporal multi-head self-attention."""

    num_chunks = NUM_CHUNKS

    def __init__(self, dim: int, num_heads: int, spatial_attention: dict, temporal_attention: dict,
                 mlp_ratio: float = 4.0, modulated: bool = True, attention_args: dict | None = None):
        super().__init__()
        self.modulated = modulated
        known = dict(attention_args or {}, dim=dim, num_heads=num_heads)
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        # the spatial slot mixes an image frame's own tokens (needs.py, rule 4)
        self.attn = ATTENTIONS.build(spatial_attention, default_args=dict(known, image_frames="own_frame"))
        self.norm_temporal = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.attn_temporal = ATTENTIONS.build(temporal_attention, default_args=known)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, grid: Grid, mod: Tensor | None = None, image_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, N, D)``; ``mod`` ``(B, 9, D)`` or per frame ``(B, T, 9, D)`` (see the module docstring)
        when ``modulated``."""
        if not self.modulated:
            x = x + self.attn(self.norm1(x), grid, image_mask)
            x = x + self.attn_temporal(self.norm_temporal(x), grid, image_mask)
            return x + self.mlp(self.norm2(x))
        if mod.shape[-2] != NUM_CHUNKS:
            raise ValueError(f"SpatioTemporalBlock(modulated=True) needs a (B, {NUM_CHUNKS}, D) modulation (or "
                             f"(B, T, {NUM_CHUNKS}, D) per frame), got {tuple(mod.shape)}")
        s1, c1, g1, s2, c2, g2, s3, c3, g3 = mod.unbind(-2)
        x = gated_residual(x, self.attn(modulate(self.norm1(x), s1, c1), grid, image_mask), g1)
        x = gated_residual(x, self.attn_temporal(modulate(self.norm_temporal(x), s2, c2), grid, image_mask), g2)
        return gated_residual(x, self.mlp(modulate(self.norm2(x), s3, c3)), g3)
