"""Classifier-free guidance (Ho & Salimans 2022): ``f̃ = f(∅) + s·(f(c) − f(∅))`` from one batched forward pass.

Used for text-to-video (W.A.L.T §5.4) and for the frame-prediction conditioning, whose null condition is a zero
``c_fp`` (W.A.L.T §4.4). The guided quantity is the model's prediction (ε, v or x_0 — all linear in the output at a
fixed ``x_t``); the learned-variance channels of a ``2C``-channel output are taken from the conditional half.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import Tensor

ModelFn = Callable[..., Tensor]


def _concat(cond, null):
    if cond is None and null is None:
        return None
    if isinstance(cond, Tensor) and isinstance(null, Tensor):
        return torch.cat([cond, null], dim=0)
    raise ValueError(f"classifier-free guidance: a conditional input and its null must both be tensors, got "
                     f"{type(cond).__name__} and {type(null).__name__}")


def batch_conditions(cond: dict, null: dict) -> dict:
    """``cond`` and ``null`` keyword inputs concatenated along the batch (conditional half first)."""
    if set(cond) != set(null):
        raise ValueError(f"classifier-free guidance: conditional keys {sorted(cond)} differ from null keys "
                         f"{sorted(null)}")
    return {k: _concat(cond[k], null[k]) for k in cond}


def classifier_free_guidance(model_fn: ModelFn, cond: dict, null: dict, scale: float) -> ModelFn:
    """A model function ``(x_t, t, **extra) -> output`` that applies guidance with ``scale``.

    ``scale == 1`` is the conditional model itself (no null pass). ``extra`` inputs (e.g. the self-conditioning
    ``x_sc``) are shared by both halves."""
    if scale == 1.0:
        return lambda x, t, **extra: model_fn(x, t, **cond, **extra)
    both = batch_conditions(cond, null)

    def guided(x: Tensor, t: Tensor, **extra) -> Tensor:
        extra = {k: None if v is None else torch.cat([v, v]) for k, v in extra.items()}
        out_c, out_u = model_fn(torch.cat([x, x]), torch.cat([t, t]), **both, **extra).chunk(2, dim=0)
        c = x.shape[1]
        pred = torch.lerp(out_u[:, :c], out_c[:, :c], scale)  # u + s·(c − u)
        return pred if out_c.shape[1] == c else torch.cat([pred, out_c[:, c:]], dim=1)

    return guided
