"""The two one-line helpers of adaptive layer norm (DiT): modulate a normalized input, gate a residual branch."""
from __future__ import annotations

from torch import Tensor

# Order of the six per-layer modulation chunks everywhere in walt (and in the public Latte/DiT checkpoints).
CHUNKS = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x * (1 + scale) + shift`` with ``(B, D)`` shift/scale broadcast over the tokens of ``x`` ``(B, N, D)``."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def gate(x: Tensor, g: Tensor) -> Tensor:
    """Scale a residual branch ``(B, N, D)`` by a ``(B, D)`` gate (α in W.A.L.T, zero-initialized)."""
    return x * g.unsqueeze(1)
