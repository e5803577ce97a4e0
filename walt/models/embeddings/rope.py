"""Rotary position embedding on the temporal axis (LAVITA §3.5, RoPE of Su et al. 2021).

Used through the ``.rope`` hook of the attention modules: it rotates the query and key of every token by angles
proportional to its frame index, so ``q·k`` depends only on the frame offset (which also makes it independent of
where a window starts). Frame 0 is the identity.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from walt.models.grid import Grid


def rotate(x: Tensor, positions: Tensor, base: float = 10000.0) -> Tensor:
    """Rotate ``x`` ``(..., L, d)`` by ``positions`` ``(L,)``: channel pairs ``(i, i + d/2)`` turn by ``p·θ_i``
    with ``θ_i = base^(-2i/d)`` (the rotate-half layout)."""
    d = x.shape[-1]
    if d % 2:
        raise ValueError(f"rotate: head dim must be even for RoPE, got {d}")
    theta = base ** (-torch.arange(0, d // 2, dtype=torch.float32, device=x.device) * 2 / d)
    angles = positions.to(torch.float32)[:, None] * theta[None]  # (L, d/2)
    cos, sin = torch.cos(angles).to(x.dtype), torch.sin(angles).to(x.dtype)
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class TemporalRoPE(nn.Module):
    """LAVITA §3.5 relative temporal position: RoPE by frame index on ``(B, N, heads, d)`` queries and keys."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        self.head_dim, self.base = head_dim, base

    def forward(self, q: Tensor, k: Tensor, grid: Grid) -> tuple[Tensor, Tensor]:
        frames = torch.arange(grid.t, device=q.device).repeat_interleave(grid.spatial)  # (N,)
        q, k = (rotate(x.transpose(1, 2), frames, self.base).transpose(1, 2) for x in (q, k))
        return q, k
