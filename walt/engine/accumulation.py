"""The global batch and one optimizer step over it, with gradient accumulation.

The papers state global batches (W.A.L.T Table 8: 256 for UCF-101, 1024 for ImageNet): ``data.batch_size`` is that
number whatever the hardware. ``data.micro_batch_size`` is what one process puts through the network at once
(default: ``batch_size / world_size``); the step accumulates ``batch_size / (micro_batch_size × world_size)``
micro-batches per process before it updates the weights. Each micro-loss is divided by that count, so the gradient
is the mean over the global batch exactly as one large batch would give it (the losses are per-sample means), and
only the last micro-step synchronises the gradients between processes (DDP ``no_sync``, FSDP
``set_requires_gradient_sync``). Loss scaling (fp16), clipping, the optimizer, the lr schedule and the EMA act once
per optimizer step.
"""
from __future__ import annotations

import math
import signal
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from walt.engine.distributed import DistInfo, all_reduce_mean, gradient_sync, unwrap
from walt.engine.ema import EMA
from walt.engine.errors import ConfigError, NonFiniteLossError
from walt.engine.optim import trainable_parameters
from walt.engine.precision import Precision

__all__ = ["BatchPlan", "OptimizerStep", "StepResult"]


@dataclass(frozen=True)
class BatchPlan:
    """``batch_size`` (global) = ``micro_batch_size`` × ``accumulation`` × ``world_size``."""

    batch_size: int
    micro_batch_size: int
    world_size: int

    @property
    def accumulation(self) -> int:
        return self.batch_size // (self.micro_batch_size * self.world_size)

    @classmethod
    def from_config(cls, data: dict, world_size: int) -> BatchPlan:
        """The plan for ``data.batch_size`` / ``data.micro_batch_size`` on ``world_size`` processes; one-line
        ``ConfigError`` naming the three numbers when they do not divide."""
        batch, micro = int(data["batch_size"]), data.get("micro_batch_size")
        if micro is None:
            if batch % world_size:
                raise ConfigError(f"data.batch_size={batch} (the global batch) does not split over world size "
                                  f"{world_size} and data.micro_batch_size is not set: set data.micro_batch_size "
                                  f"so that batch_size = micro_batch_size × accumulation steps × world size")
            micro = batch // world_size
        elif batch % (int(micro) * world_size):
            raise ConfigError(f"data.batch_size={batch} (the global batch) is not a multiple of "
                              f"data.micro_batch_size={micro} × world size {world_size} = {int(micro) * world_size}: "
                              f"batch_size must equal micro_batch_size × accumulation steps × world size")
        return cls(batch, int(micro), world_size)

    def __str__(self) -> str:
        return (f"global batch {self.batch_size} = micro-batch {self.micro_batch_size} × {self.accumulation} "
                f"accumulation step(s) × {self.world_size} process(es)")


@dataclass
class StepResult:
    loss: float                 # mean over the global batch (all micro-steps and ranks)
    stop: int                   # a stop signal any rank received before this step's end, or 0
    scalars: dict[str, float]   # to log: loss, lr, grad_norm and the model's other scalar outputs (this rank's mean)


class OptimizerStep:
    """Callable: one optimizer step of ``model`` over ``plan.accumulation`` micro-batches from ``next_batch``."""

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, ema: EMA, precision: Precision,
                 plan: BatchPlan, dist: DistInfo, grad_clip: float | None):
        self.model, self.optimizer, self.ema, self.precision = model, optimizer, ema, precision
        self.plan, self.dist, self.grad_clip = plan, dist, grad_clip

    def __call__(self, next_batch: Callable[[], Any], scheduler: Any, step: int,
                 stop_signal: Callable[[], int]) -> StepResult:
        """Run optimizer step number ``step`` (1-based); ``stop_signal()``: a stop signal this rank has received (or 0).
        Raises :class:`NonFiniteLossError` naming ``step`` before touching the weights if the loss or the gradient
        norm is NaN/inf (with fp16 loss scaling an inf gradient only skips the step, as the scaler decides)."""
        accumulation, scaler = self.plan.accumulation, self.precision.scaler
        loss_sum = torch.zeros((), device=self.dist.device)
        sums: dict[str, torch.Tensor] = {}
        for micro_step in range(accumulation):
            batch = _to_device(next_batch(), self.dist.device)
            with gradient_sync(self.model, enabled=micro_step == accumulation - 1):
                with self.precision.autocast():
                    out = self.model(batch)
                loss = out["loss"] / accumulation
                (scaler.scale(loss) if scaler else loss).backward()
            loss_sum += out["loss"].detach().float()
            for key, value in out.items():
                if key != "loss" and torch.is_tensor(value) and value.numel() == 1:
                    sums[key] = sums.get(key, 0.0) + value.detach().float()
        # one collective per step: the loss (for logging and a consistent NaN stop) and any rank's stop signal
        received = stop_signal()
        flags = torch.stack([loss_sum / accumulation, torch.tensor(float(received), device=self.dist.device)])
        mean_loss, stop = all_reduce_mean(flags, self.dist).tolist()
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(f"loss is {mean_loss} at step {step}")
        if scaler:
            scaler.unscale_(self.optimizer)
        params = [p for _, p in trainable_parameters(unwrap(self.model))]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or float("inf"))
        grad_norm = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
        if scaler:  # fp16: an inf gradient means the loss scale was too high; the scaler skips the step
            scaler.step(self.optimizer)
            scaler.update()
        elif not math.isfinite(grad_norm):
            raise NonFiniteLossError(f"gradient norm is {grad_norm} at step {step}")
        else:
            self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(unwrap(self.model))
        scalars = {key: float(value) / accumulation for key, value in sums.items()}
        stop = (received or int(signal.SIGTERM)) if stop > 0 else 0  # another rank's signal: named SIGTERM
        return StepResult(mean_loss, stop, dict(loss=mean_loss, lr=lr, grad_norm=grad_norm, **scalars))


def _to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and torch.is_tensor(batch[0]):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch
