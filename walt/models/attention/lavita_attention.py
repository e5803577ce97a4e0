"""The self-attentions of the LAVITA variants (§3.2, Fig. 2): spatial, temporal, and split-head (variant 4).

* :class:`SpatialAttention`: tokens of one frame (window ``1 × h × w``), ``z_s ∈ R^{n_f × t × d}``.
* :class:`TemporalAttention`: tokens at one spatial position across frames (window ``t × 1 × 1``),
  ``z_t ∈ R^{t × n_f × d}``; optional temporal RoPE (§3.5). Image frames of joint training (§3.6) are excluded:
  video tokens never attend to them and the module's output on them is zero, so they are untouched.
* :class:`SpatioTemporalSplitHeadAttention` (variant 4): one MHA whose first half of the heads attend spatially and
  second half temporally; the two components' outputs are summed (one output projection over both halves).

All three end in the shared window partition and kernel of :mod:`walt.models.attention.kernel`.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.attention.kernel import attention, window_merge, window_partition
from walt.models.attention.window import WindowSelfAttention, image_identity_mask, resolve_window
from walt.models.embeddings.rope import TemporalRoPE
from walt.models.grid import Grid

SPATIAL_WINDOW = (1, None, None)
TEMPORAL_WINDOW = (None, 1, 1)


def video_token_mask(image_mask: Tensor, grid: Grid) -> Tensor:
    """``(B, t)`` image-frame mask → ``(B, N, 1)`` float-able bool, True on tokens of video frames."""
    b = image_mask.shape[0]
    return (~image_mask)[:, :, None].expand(b, grid.t, grid.spatial).reshape(b, grid.numel, 1)


@ATTENTIONS.register_module()
class SpatialAttention(WindowSelfAttention):
    """LAVITA §3.2 spatial multi-head self-attention among the tokens of one frame (window ``1 × h × w``)."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, qkv_bias: bool = True):
        super().__init__(dim, num_heads, window=SPATIAL_WINDOW, qk_norm=qk_norm, qkv_bias=qkv_bias)


@ATTENTIONS.register_module()
class TemporalAttention(WindowSelfAttention):
    """LAVITA §3.2 temporal multi-head self-attention across frames at one spatial position (window
    ``t × 1 × 1``), with temporal RoPE when ``rope`` (§3.5). Image frames (``image_mask`` True) are excluded."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, qkv_bias: bool = True, rope: bool = False):
        super().__init__(dim, num_heads, window=TEMPORAL_WINDOW, qk_norm=qk_norm, qkv_bias=qkv_bias)
        if rope:
            self.rope = TemporalRoPE(self.head_dim)

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        out = super().forward(x, grid, image_mask)
        if image_mask is not None:
            out = out * video_token_mask(image_mask, grid).to(out.dtype)
        return out


def _window_attention(qkv: Tensor, grid: Grid, window: tuple[int | None, int | None, int | None], heads: int,
                      q_norm: nn.Module, k_norm: nn.Module, rope: nn.Module | None,
                      image_mask: Tensor | None) -> Tensor:
    """Attention of ``heads`` heads whose fused ``(B, N, 3·heads·d)`` projections are ``qkv``, inside ``window``."""
    win = resolve_window(window, grid)
    xw = window_partition(qkv, tuple(grid), win)
    bw, length, c = xw.shape
    q, k, v = xw.view(bw, length, 3, heads, c // (3 * heads)).permute(2, 0, 3, 1, 4)
    q, k = q_norm(q), k_norm(k)
    if rope is not None:
        q, k = rope(q, k)
    bias = None
    if image_mask is not None and win[0] > 1 and bool(image_mask.any()):
        bias = image_identity_mask(image_mask, grid, win)
    out = attention(q, k, v, bias).transpose(1, 2).reshape(bw, length, c // 3)
    return window_merge(out, tuple(grid), win)


@ATTENTIONS.register_module()
class SpatioTemporalSplitHeadAttention(nn.Module):
    """LAVITA §3.2 variant 4 (Fig. 2d): one MHA, ``spatial_heads`` heads (default half) attend within each frame and
    the rest across frames; the temporal output ``z'_t`` is added to the spatial output ``z_s`` — written as one
    output projection over the concatenated heads, which equals the sum of the two components' projections."""

    def __init__(self, dim: int, num_heads: int, spatial_heads: int | None = None, qk_norm: bool = False,
                 qkv_bias: bool = True, rope: bool = False):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"SpatioTemporalSplitHeadAttention: dim={dim} is not divisible by num_heads={num_heads}")
        self.spatial_heads = num_heads // 2 if spatial_heads is None else spatial_heads
        if not 0 <= self.spatial_heads <= num_heads:
            raise ValueError(f"SpatioTemporalSplitHeadAttention: spatial_heads={spatial_heads} must be in "
                             f"[0, num_heads={num_heads}]")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.temporal_heads = num_heads - self.spatial_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.rope: nn.Module | None = TemporalRoPE(self.head_dim) if rope else None

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        b, n, _ = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, self.head_dim)
        hs, outs = self.spatial_heads, []
        if hs:
            qkv_s = qkv[:, :, :, :hs].reshape(b, n, 3 * hs * self.head_dim)
            outs.append(_window_attention(qkv_s, grid, SPATIAL_WINDOW, hs, self.q_norm, self.k_norm, None, None))
        if self.temporal_heads:
            qkv_t = qkv[:, :, :, hs:].reshape(b, n, 3 * self.temporal_heads * self.head_dim)
            out_t = _window_attention(qkv_t, grid, TEMPORAL_WINDOW, self.temporal_heads, self.q_norm, self.k_norm,
                                      self.rope, image_mask)
            if image_mask is not None:
                out_t = out_t * video_token_mask(image_mask, grid).to(out_t.dtype)
            outs.append(out_t)
        return self.proj(torch.cat(outs, dim=-1) if len(outs) > 1 else outs[0])
