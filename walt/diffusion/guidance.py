"""Classifier-free guidance (Ho & Salimans 2022): ``f̃ = f(∅) + s·(f(c) − f(∅))`` from one batched forward pass.

Used for text-to-video (W.A.L.T §5.4) and for the frame-prediction conditioning, whose null condition is a zero
``c_fp`` (W.A.L.T §4.4). The guided quantity is the model's prediction (ε, v or x_0 — all linear in the output at a
fixed ``x_t``); the learned-variance channels of a ``2C``-channel output are taken from the conditional half.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor

ModelFn = Callable[..., Tensor]


def classifier_free_guidance(model_fn: ModelFn, cond: Any, null: Any, scale: float) -> ModelFn:
    """A model function ``(x_t, t, **extra) -> output`` that applies guidance with ``scale`` to
    ``model_fn(x_t, t, cond)`` (a backbone).

    ``cond`` and ``null``: the condition and its null version, two
    :class:`~walt.models.conditioning.conditions.Conditions` (anything with ``concat`` and ``replace``);
    ``scale == 1`` is the conditional model itself (no null pass). ``extra`` inputs (e.g. the self-conditioning
    ``x_sc``) are fields set on both halves."""
    if scale == 1.0:
        return lambda x, t, **extra: model_fn(x, t, cond.replace(**extra))
    both = cond.concat(null)

    def guided(x: Tensor, t: Tensor, **extra) -> Tensor:
        extra = {k: None if v is None else torch.cat([v, v]) for k, v in extra.items()}
        out_c, out_u = model_fn(torch.cat([x, x]), torch.cat([t, t]), both.replace(**extra)).chunk(2, dim=0)
        c = x.shape[1]
        pred = torch.lerp(out_u[:, :c], out_c[:, :c], scale)  # u + s·(c − u)
        return pred if out_c.shape[1] == c else torch.cat([pred, out_c[:, c:]], dim=1)

    return guided
