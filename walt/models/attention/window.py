"""Multi-head self-attention restricted to non-overlapping 3-D windows of the token grid (W.A.L.T §4.2).

One module covers every self-attention factorization of both papers, by its window ``(wt, wh, ww)``:

* full attention: the whole grid;  * W.A.L.T spatial window (SW): ``1 × h × w``;
* W.A.L.T spatiotemporal window (STW): ``(1+t) × h' × w'``;  * LAVITA spatial: ``1 × h × w``; LAVITA temporal: ``t × 1 × 1``.

A window entry of ``None`` means the whole extent of that grid axis, and an entry larger than the grid is clamped
to it (an image, ``t = 1``, passes an STW layer as a spatial window). Windows are folded into the batch, so the
kernel is one :func:`~walt.models.attention.kernel.attention` call on ``(B * num_windows, heads, L, d)``; the q/k/v
projections are computed on the unpartitioned tokens and split into windows and heads in one copy.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from walt.models.attention.kernel import (attention, check_window, window_merge_heads, window_partition,
                                         window_split_heads)
from walt.models.grid import Grid

WindowSpec = Sequence[int | None]


def resolve_window(window: WindowSpec, grid: Grid) -> tuple[int, int, int]:
    """The concrete window for ``grid``: ``None`` → whole axis, larger than the axis → clamped to it."""
    return tuple(g if w is None else min(w, g) for w, g in zip(window, grid))  # type: ignore[return-value]


def image_identity_mask(image_mask: Tensor, grid: Grid, window: tuple[int, int, int]) -> Tensor:
    """Bool mask ``(B * num_windows, 1, L, L)``: tokens of image frames attend only to themselves (so their output
    is their value vector, W.A.L.T's identity mask), video tokens attend only to video tokens of their window."""
    b = image_mask.shape[0]
    is_img = image_mask[:, :, None].expand(b, grid.t, grid.spatial).reshape(b, grid.numel, 1)
    is_img = window_partition(is_img.to(torch.uint8), tuple(grid), window).squeeze(-1).bool()  # (B', L)
    eye = torch.eye(is_img.shape[1], dtype=torch.bool, device=is_img.device)
    video = ~is_img
    return (eye | (video[:, :, None] & video[:, None, :]))[:, None]


class WindowSelfAttention(nn.Module):
    """Multi-head self-attention inside non-overlapping ``(wt, wh, ww)`` windows, with optional qk-norm.

    Hooks used by subclasses: ``self.rope`` (a module mapping ``(q, k) → (q, k)`` on ``(B', heads, L, d)``) and
    ``self.rel_pos`` (a module mapping a concrete window to an additive ``(heads, L, L)`` bias).
    """

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (None, None, None), qk_norm: bool = True,
                 qkv_bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{type(self).__name__}: dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.window = tuple(window)
        if len(self.window) != 3:
            raise ValueError(f"{type(self).__name__}: window must have 3 entries (t, h, w), got {self.window}")
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        self.rope: nn.Module | None = None
        self.rel_pos: nn.Module | None = None

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B, N, D)`` tokens on ``grid``; ``image_mask``: optional ``(B, t)`` bool, True = image frame."""
        window = resolve_window(self.window, grid)
        check_window(tuple(grid), window, type(self).__name__)
        q, k, v = window_split_heads(self.qkv(x), tuple(grid), window, 3, self.num_heads)  # (B', heads, L, d)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.rope is not None:
            q, k = self.rope(q, k)
        bias = self.rel_pos(window) if self.rel_pos is not None else None  # the kernel casts it to q's dtype
        if image_mask is not None and window[0] > 1 and bool(image_mask.any()):
            allowed = image_identity_mask(image_mask, grid, window)
            bias = allowed if bias is None else bias.masked_fill(~allowed, float("-inf"))
        return self.proj(window_merge_heads(attention(q, k, v, bias), tuple(grid), window))
