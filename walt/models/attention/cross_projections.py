"""The projections of every cross-attention to text (W.A.L.T §4.3, PixArt-α §2.3): queries ``q`` from the video
tokens, one fused ``kv`` projection, optional per-head qk-norm (LayerNorm), the output ``proj``."""
from __future__ import annotations

from torch import nn


class CrossAttentionProjections(nn.Module):
    """Base of the cross-attentions: ``q``, ``kv``, ``q_norm``, ``k_norm``, ``proj`` for width ``dim``."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool, qkv_bias: bool):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"{type(self).__name__}: dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.q_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
