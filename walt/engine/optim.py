"""Optimizers (registered in ``OPTIMIZERS``) and ``build_optimizer`` over the trainable parameters only."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from registry import OPTIMIZERS

__all__ = ["AdamW", "Adafactor", "build_optimizer", "trainable_parameters"]


@OPTIMIZERS.register_module()
class AdamW(torch.optim.AdamW):
    """LAVITA §4.1 and W.A.L.T Table 8 (UCF-101, ImageNet, Kinetics): AdamW; LAVITA uses a constant lr 1e-4."""

    def __init__(self, params: Any, lr: float = 1e-4, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, fused: bool | None = None):
        super().__init__(params, lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay, fused=fused)


@OPTIMIZERS.register_module()
class Adafactor(torch.optim.Adafactor):
    """W.A.L.T Table 8 (text-to-video base and super-resolution models): Adafactor, factored second moments and
    no first moment, so optimizer memory grows with rows + columns instead of parameters (torch's implementation)."""

    def __init__(self, params: Any, lr: float = 1e-2, beta2_decay: float = -0.8,
                 eps: tuple[float | None, float] = (None, 1e-3), d: float = 1.0, weight_decay: float = 0.0):
        super().__init__(params, lr=lr, beta2_decay=beta2_decay, eps=tuple(eps), d=d, weight_decay=weight_decay)


def trainable_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """``(name, parameter)`` for every parameter with ``requires_grad`` (frozen autoencoder/text encoder excluded)."""
    return [(name, p) for name, p in model.named_parameters() if p.requires_grad]


def build_optimizer(cfg: dict, model: nn.Module) -> torch.optim.Optimizer:
    """Build ``cfg`` (``dict(type="AdamW", lr=...)``) from ``OPTIMIZERS`` over ``model``'s trainable parameters."""
    params = [p for _, p in trainable_parameters(model)]
    if not params:
        raise ValueError(f"{type(model).__name__} has no trainable parameters (every requires_grad is False)")
    return OPTIMIZERS.build(dict(cfg), default_args=dict(params=params))
