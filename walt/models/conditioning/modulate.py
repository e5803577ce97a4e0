"""The two helpers of adaptive layer norm (DiT): modulate a normalized input, add a gated residual branch.

A modulation is per sample, ``(B, D)``, or per frame, ``(B, T, D)`` (joint image–video training, where an image
frame takes its own condition: ``walt/models/conditioning/image_frames.py``); tokens ``(B, T·S, D)`` are frame-major,
so a per-frame modulation applies to the ``S`` tokens of its frame."""
from __future__ import annotations

import torch
from torch import Tensor

# Order of the six per-layer modulation chunks everywhere in walt (and in the public Latte/DiT checkpoints).
CHUNKS = ("shift_msa", "scale_msa", "gate_msa", "shift_mlp", "scale_mlp", "gate_mlp")


def modulate(x: Tensor, shift: Tensor, scale: Tensor) -> Tensor:
    """``x * (1 + scale) + shift`` with ``(B, D)`` (or per-frame ``(B, T, D)``) shift/scale broadcast over the
    tokens of ``x`` ``(B, N, D)``; one pass over ``x`` (``addcmul``)."""
    if shift.dim() == 3:
        return torch.addcmul(shift.unsqueeze(2), _frames(x, shift), 1 + scale.unsqueeze(2)).reshape(x.shape)
    return torch.addcmul(shift.unsqueeze(1), x, 1 + scale.unsqueeze(1))


def gated_residual(x: Tensor, branch: Tensor, g: Tensor) -> Tensor:
    """``x + g · branch``, the gated residual update of an adaLN block (α in W.A.L.T, zero-initialized), with a
    ``(B, D)`` (or per-frame ``(B, T, D)``) gate; one pass over the tokens (``addcmul``)."""
    if g.dim() == 3:
        return torch.addcmul(_frames(x, g), _frames(branch, g), g.unsqueeze(2)).reshape(x.shape)
    return torch.addcmul(x, branch, g.unsqueeze(1))


def _frames(x: Tensor, per_frame: Tensor) -> Tensor:
    """Tokens ``(B, T·S, D)`` as ``(B, T, S, D)`` for a per-frame ``(B, T, D)`` modulation."""
    b, t, d = per_frame.shape
    if x.shape[0] != b or x.shape[1] % t or x.shape[2] != d:
        raise ValueError(f"per-frame modulation {tuple(per_frame.shape)} does not fit tokens {tuple(x.shape)}")
    return x.reshape(b, t, x.shape[1] // t, d)
