"""The two one-line helpers of adaptive layer norm (DiT): modulate a normalized input, gate a residual branch.

A modulation is per sample, ``(B, D)``, or per frame, ``(B, T, D)`` (joint image–video training, where an image
frame takes its own condition: ``walt/models/conditioning/image_frames.py``); tokens ``(B, T·S, D)`` are frame-major,
so a per-frame modulation applies to the ``S`` tokens of its frame."""
from __future__ import annotations

from torch import Tensor

# Order of the six per-layer modulation chunks everywhere in walt (and in the public Latte/DiT checkpoints).
CHUNKS = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x * (1 + scale) + shift`` with ``(B, D)`` (or per-frame ``(B, T, D)``) shift/scale broadcast over the
    tokens of ``x`` ``(B, N, D)``."""
    if shift.dim() == 3:
        return (_frames(x, shift) * (1 + scale.unsqueeze(2)) + shift.unsqueeze(2)).reshape(x.shape)
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


def gate(x: Tensor, g: Tensor) -> Tensor:
    """Scale a residual branch ``(B, N, D)`` by a ``(B, D)`` (or per-frame ``(B, T, D)``) gate (α in W.A.L.T,
    zero-initialized)."""
    if g.dim() == 3:
        return (_frames(x, g) * g.unsqueeze(2)).reshape(x.shape)
    return x * g.unsqueeze(1)


def _frames(x: Tensor, per_frame: Tensor) -> Tensor:
    """Tokens ``(B, T·S, D)`` as ``(B, T, S, D)`` for a per-frame ``(B, T, D)`` modulation."""
    b, t, d = per_frame.shape
    if x.shape[0] != b or x.shape[1] % t or x.shape[2] != d:
        raise ValueError(f"per-frame modulation {tuple(per_frame.shape)} does not fit tokens {tuple(x.shape)}")
    return x.reshape(b, t, x.shape[1] // t, d)
