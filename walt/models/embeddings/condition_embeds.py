"""Embeddings of the diffusion timestep and of class labels (DiT; W.A.L.T §4.3 ``c + t``; LAVITA §3.4)."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def timestep_frequencies(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal features ``(B, dim)`` of (possibly fractional) timesteps ``(B,)``: ``[cos(t·f), sin(t·f)]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class TimestepEmbedder(nn.Module):
    """Timestep → ``(B, D)``: sinusoidal features then a 2-layer MLP (DiT; keys ``mlp.0``, ``mlp.2`` as in Latte)."""

    def __init__(self, dim: int, frequency_dim: int = 256):
        super().__init__()
        self.frequency_dim = frequency_dim
        self.mlp = nn.Sequential(nn.Linear(frequency_dim, dim), nn.SiLU(), nn.Linear(dim, dim))
        nn.init.normal_(self.mlp[0].weight, std=0.02)
        nn.init.normal_(self.mlp[2].weight, std=0.02)
        nn.init.zeros_(self.mlp[0].bias)  # DiT: apply(_basic_init) zeroes every bias first
        nn.init.zeros_(self.mlp[2].bias)

    def forward(self, t: Tensor) -> Tensor:
        return self.mlp(timestep_frequencies(t, self.frequency_dim).to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """Class label → ``(B, D)``; row ``num_classes`` is the null class used for classifier-free guidance.

    ``init_std``: DiT's 0.02 by default. ADM initialises its class embedding at N(0, 1), the scale the timestep
    embedding reaches; a short run (the CPU demo) needs that, or the label is drowned by the timestep in ``c + t``
    and the model learns to ignore it."""

    def __init__(self, num_classes: int, dim: int, init_std: float = 0.02):
        super().__init__()
        self.num_classes, self.init_std = num_classes, init_std
        self.embedding_table = nn.Embedding(num_classes + 1, dim)
        nn.init.normal_(self.embedding_table.weight, std=init_std)

    def forward(self, y: Tensor) -> Tensor:
        # no values to check on the meta device (FLOP counting); under torch.compile the data-dependent check would
        # break the graph (the compiled lookup still bounds-checks its indices)
        if y.is_meta or torch.compiler.is_compiling():
            return self.embedding_table(y)
        if y.dtype not in (torch.int64, torch.int32) or y.min() < 0 or y.max() > self.num_classes:
            raise ValueError(f"LabelEmbedder: labels must be integers in [0, {self.num_classes}] "
                             f"({self.num_classes} = null class), got dtype {y.dtype}, range "
                             f"[{int(y.min())}, {int(y.max())}]")
        return self.embedding_table(y)
