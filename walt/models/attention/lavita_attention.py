"""The self-attentions of the LAVITA variants (§3.2, Fig. 2): spatial, temporal, and split-head (variant 4).

* :class:`SpatialAttention`: tokens of one frame (window ``1 × h × w``), ``z_s ∈ R^{n_f × t × d}``.
* :class:`TemporalAttention`: tokens at one spatial position across frames (window ``t × 1 × 1``),
  ``z_t ∈ R^{t × n_f × d}``; optional temporal RoPE (§3.5). Image frames of joint training (§3.6) are excluded:
  video tokens never attend to them and the module's output on them is zero, so they are untouched.
* :class:`SpatioTemporalSplitHeadAttention` (variant 4): one MHA whose first half of the heads attend spatially and
  second half temporally; the two components' outputs are summed (one output projection over both halves).

All three end in :func:`~walt.models.attention.kernel.windowed_attention`.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

from registry import ATTENTIONS
from walt.models.attention.kernel import windowed_attention
from walt.models.attention.window import WindowSelfAttention
from walt.models.grid import Grid

SPATIAL_WINDOW = (1, None, None)
TEMPORAL_WINDOW = (None, 1, 1)


def zero_image_frames(out: Tensor, grid: Grid, image_mask: Tensor | None) -> Tensor:
    """``out`` ``(B, N, C)`` with the tokens of image frames set to zero (temporal attention leaves them alone)."""
    if image_mask is None:
        return out
    return out * (~grid.token_mask(image_mask))[:, :, None].to(out.dtype)


@ATTENTIONS.register_module()
class SpatialAttention(WindowSelfAttention):
    """LAVITA §3.2 spatial multi-head self-attention among the tokens of one frame (window ``1 × h × w``)."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, qkv_bias: bool = True,
                 rel_pos_bias: bool = False, rope: bool = False, input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, SPATIAL_WINDOW, qk_norm, qkv_bias, rel_pos_bias, rope, input_grid)


@ATTENTIONS.register_module()
class TemporalAttention(WindowSelfAttention):
    """LAVITA §3.2 temporal multi-head self-attention across frames at one spatial position (window
    ``t × 1 × 1``), with temporal RoPE when ``rope`` (§3.5). Image frames (``image_mask`` True) are excluded."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, qkv_bias: bool = True,
                 rel_pos_bias: bool = False, rope: bool = False, input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, TEMPORAL_WINDOW, qk_norm, qkv_bias, rel_pos_bias, rope, input_grid)

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        return zero_image_frames(super().forward(x, grid, image_mask), grid, image_mask)


@ATTENTIONS.register_module()
class SpatioTemporalSplitHeadAttention(WindowSelfAttention):
    """LAVITA §3.2 variant 4 (Fig. 2d): one MHA, ``spatial_heads`` heads (default half) attend within each frame and
    the rest across frames; the temporal output ``z'_t`` is added to the spatial output ``z_s`` — written as one
    output projection over the concatenated heads, which equals the sum of the two components' projections."""

    def __init__(self, dim: int, num_heads: int, spatial_heads: int | None = None, qk_norm: bool = False,
                 qkv_bias: bool = True, rope: bool = False):
        super().__init__(dim, num_heads, (None, None, None), qk_norm, qkv_bias, rope=rope)
        self.spatial_heads = num_heads // 2 if spatial_heads is None else spatial_heads
        if not 0 <= self.spatial_heads <= num_heads:
            raise ValueError(f"SpatioTemporalSplitHeadAttention: spatial_heads={spatial_heads} must be in "
                             f"[0, num_heads={num_heads}]")

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        b, n, _ = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim).unbind(2)
        hs, outs = self.spatial_heads, []
        if hs:  # RoPE is temporal: the spatial heads see all tokens of one frame, where it would be a no-op
            qs, ks = self.q_norm(q[:, :, :hs]), self.k_norm(k[:, :, :hs])
            outs.append(windowed_attention(qs, ks, v[:, :, :hs], grid, SPATIAL_WINDOW))
        if hs < self.num_heads:
            qt, kt = self.qk(q[:, :, hs:], k[:, :, hs:], grid)
            out_t = windowed_attention(qt, kt, v[:, :, hs:], grid, TEMPORAL_WINDOW, image_mask)
            outs.append(zero_image_frames(out_t, grid, image_mask))
        return self.proj(torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0])
