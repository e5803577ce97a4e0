"""The self-attentions of the LAVITA variants (§3.2, Fig. 2): spatial, temporal, and split-head (variant 4).

* :class:`SpatialAttention`: tokens of one frame (window ``1 × h × w``), ``z_s ∈ R^{n_f × t × d}``.
* :class:`TemporalAttention`: tokens at one spatial position across frames (window ``t × 1 × 1``),
  ``z_t ∈ R^{t × n_f × d}``; optional temporal RoPE (§3.5). Image frames of joint training (§3.6) are excluded:
  video tokens never attend to them and the module's output on them is zero, so they are untouched.
* :class:`SpatioTemporalSplitHeadAttention` (variant 4): one MHA whose first half of the heads attend spatially and
  second half temporally; the two components' outputs are summed (one output projection over both halves).

All three end in :func:`~walt.models.attention.kernel.windowed_attention` and take the keywords of
:class:`~walt.models.attention.window.WindowSelfAttention` (their windows are fixed), so each works in any slot of
either backbone (:mod:`~walt.models.attention.needs`); in a W.A.L.T layer they take its relative position bias.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Sequence

import torch
from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.attention.kernel import resolve_window, windowed_attention
from walt.models.attention.needs import AttentionNeeds, has_spatial_extent
from walt.models.attention.window import WindowSelfAttention
from walt.models.cpu_inference import qkv_projection
from walt.models.embeddings.rel_pos_bias import RelativePositionBias
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

    def needs(self) -> AttentionNeeds:
        return replace(super().needs(), image_frames="excluded")

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        return zero_image_frames(super().forward(x, grid, image_mask), grid, image_mask)


@ATTENTIONS.register_module()
class SpatioTemporalSplitHeadAttention(WindowSelfAttention):
    """LAVITA §3.2 variant 4 (Fig. 2d): one MHA, ``spatial_heads`` heads (default half) attend within each frame and
    the rest across frames; the temporal output ``z'_t`` is added to the spatial output ``z_s`` — written as one
    output projection over the concatenated heads, which equals the sum of the two components' projections. With
    ``rel_pos_bias`` each component has its own relative position bias table (spatial heads over ``(Δh, Δw)``,
    temporal heads over ``Δt``), sized on ``input_grid``."""

    def __init__(self, dim: int, num_heads: int, spatial_heads: int | None = None, qk_norm: bool = False,
                 qkv_bias: bool = True, rel_pos_bias: bool = False, rope: bool = False,
                 input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, (None, None, None), qk_norm, qkv_bias, rope=rope, input_grid=input_grid)
        self.spatial_heads = num_heads // 2 if spatial_heads is None else spatial_heads
        if not 0 <= self.spatial_heads <= num_heads:
            raise ValueError(f"SpatioTemporalSplitHeadAttention: spatial_heads={spatial_heads} must be in "
                             f"[0, num_heads={num_heads}]")
        self.rel_pos_parts = None  # one table per component, in the order of _components()
        if rel_pos_bias:
            if input_grid is None:
                raise ValueError("SpatioTemporalSplitHeadAttention: rel_pos_bias=True needs input_grid=(t, h, w) to "
                                 "size its spatial and temporal tables")
            self.rel_pos_parts = nn.ModuleList(
                RelativePositionBias(resolve_window(window, self.input_grid), heads.stop - heads.start)
                for window, heads in self._components())

    def _components(self) -> list[tuple[tuple, slice]]:
        """``(window, heads)`` of the spatial and the temporal component, those that have heads."""
        hs = self.spatial_heads
        return [(w, s) for w, s in ((SPATIAL_WINDOW, slice(0, hs)), (TEMPORAL_WINDOW, slice(hs, self.num_heads)))
                if s.stop > s.start]

    def needs(self) -> AttentionNeeds:
        """Two windows; the spatial bias table is laid out over the frame; image frames leave the temporal heads."""
        tables = self.rel_pos_parts or []
        return AttentionNeeds(windows=tuple(w for w, _ in self._components()),
                              frame_layout=any(has_spatial_extent(table.window) for table in tables),
                              temporal_rope=self.rope is not None, image_frames="excluded")

    def set_window(self, window: Sequence[int]) -> None:
        """Aspect-ratio finetuning (W.A.L.T App. A): the windows stay whole frame / whole time; the tables follow
        the new grid ``window``."""
        for (part, _), table in zip(self._components(), self.rel_pos_parts or []):
            table.interpolate(tuple(w if p is None else p for w, p in zip(window, part)))

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        b, n, _ = x.shape
        q, k, v = qkv_projection(self.qkv, x).view(b, n, 3, self.num_heads, self.head_dim).unbind(2)
        outs = []
        for i, (part, heads) in enumerate(self._components()):
            window = resolve_window(part, grid)
            bias = self.bias_on(self.rel_pos_parts[i] if self.rel_pos_parts is not None else None, window, grid,
                                image_mask)
            if part == SPATIAL_WINDOW:  # RoPE is temporal: within one frame it would be the identity
                qs, ks = self.q_norm(q[:, :, heads]), self.k_norm(k[:, :, heads])
                outs.append(windowed_attention(qs, ks, v[:, :, heads], grid, window, bias=bias))
            else:
                qt, kt = self.qk(q[:, :, heads], k[:, :, heads], grid)
                out_t = windowed_attention(qt, kt, v[:, :, heads], grid, window, image_mask, bias)
                outs.append(zero_image_frames(out_t, grid, image_mask))
        return self.proj(torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0])
