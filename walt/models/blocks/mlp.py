"""The transformer MLP (``fc1 → GELU(tanh) → fc2``, ratio 4; key names as in DiT/Latte checkpoints). With another
output width it is also PixArt-α's caption projection (text width → D → D)."""
from __future__ import annotations

from torch import Tensor, nn


class Mlp(nn.Module):
    """Two-layer MLP with tanh-approximated GELU (DiT)."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, out_dim or dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
