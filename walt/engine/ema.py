"""Exponential moving average of the trainable weights (LAVITA §4.1: decay 0.9999, all results use the EMA model;
DiT and W.A.L.T Table 8 do the same). Sampling swaps the EMA weights in and the training weights back out."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor, nn

from walt.engine.optim import trainable_parameters

__all__ = ["EMA"]


class EMA:
    """fp32 shadow copies of ``model``'s trainable parameters: ``ema ← decay·ema + (1-decay)·param`` each step."""

    def __init__(self, model: nn.Module, decay: float = 0.9999):
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"ema.decay must be in [0, 1], got {decay}")
        self.decay = decay
        self.shadow: dict[str, Tensor] = {
            name: p.detach().clone().float() for name, p in trainable_parameters(model)}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, p in trainable_parameters(model):
            self.shadow[name].lerp_(p.detach().float(), 1.0 - self.decay)

    @contextmanager
    def applied_to(self, model: nn.Module) -> Iterator[nn.Module]:
        """Inside the block ``model`` holds the EMA weights; its training weights are restored on exit."""
        params = dict(trainable_parameters(model))
        backup = {name: p.detach().clone() for name, p in params.items()}
        with torch.no_grad():
            for name, p in params.items():
                p.copy_(self.shadow[name])
        try:
            yield model
        finally:
            with torch.no_grad():
                for name, p in params.items():
                    p.copy_(backup[name])

    def state_dict(self) -> dict[str, Tensor]:
        return {name: _full(t).cpu() for name, t in self.shadow.items()}

    def load_state_dict(self, state: dict[str, Tensor]) -> None:
        missing, unexpected = set(self.shadow) - set(state), set(state) - set(self.shadow)
        if missing or unexpected:
            raise KeyError(f"EMA state does not match the model's trainable parameters: missing {sorted(missing)[:5]}, "
                           f"unexpected {sorted(unexpected)[:5]}")
        with torch.no_grad():
            for name, t in self.shadow.items():
                _copy_full_into(t, state[name])


def _full(t: Tensor) -> Tensor:
    """The whole tensor of a (possibly FSDP-sharded) DTensor."""
    return t.full_tensor() if hasattr(t, "full_tensor") else t


def _copy_full_into(target: Tensor, full: Tensor) -> None:
    if hasattr(target, "full_tensor"):  # FSDP2 shard: take this rank's slice of the full tensor
        from torch.distributed.tensor import distribute_tensor
        target.copy_(distribute_tensor(full.to(target.dtype), target.device_mesh, target.placements))
    else:
        target.copy_(full)
