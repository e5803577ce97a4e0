"""What every attention module of walt shares: ``num_heads`` heads of ``dim / num_heads`` channels over a window of
the token grid, LayerNorm qk-norm per head (W.A.L.T §4.2) and an output projection."""
from __future__ import annotations

from torch import nn

from walt.models.attention.kernel import WindowSpec


class MultiHeadAttention(nn.Module):
    """Base of the self- and cross-attentions: checks the head split and the window; subclasses register their
    q/k/v projections, then call :meth:`add_qk_norm_and_proj` (registration order = checkpoint key order)."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec):
        super().__init__()
        name = type(self).__name__
        if dim % num_heads:
            raise ValueError(f"{name}: dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.window = tuple(window)
        if len(self.window) != 3:
            raise ValueError(f"{name}: window must have 3 entries (t, h, w), got {self.window}")

    def add_qk_norm_and_proj(self, qk_norm: bool) -> None:
        self.q_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(self.dim, self.dim)
