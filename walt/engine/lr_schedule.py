"""Learning-rate schedule: linear warmup, then constant (LAVITA §4.1) or cosine decay to ``min_lr_ratio``. The lr
is a function of the config and the optimizer-step count alone, so a resumed run rebuilds the schedule from its
(current) config at the checkpoint's step instead of restoring one from the checkpoint."""
from __future__ import annotations

import math

import torch

__all__ = ["WarmupSchedule", "build_lr_scheduler"]


class WarmupSchedule:
    """Multiplier of the base lr at ``step`` (0-based count of optimizer steps taken): ``(step+1)/warmup_steps``
    during warmup, then 1 (``decay=None``) or a cosine from 1 to ``min_lr_ratio`` at ``total_steps``."""

    def __init__(self, warmup_steps: int = 0, decay: str | None = None, total_steps: int | None = None,
                 min_lr_ratio: float = 0.0):
        if decay not in (None, "cosine"):
            raise ValueError(f"lr_schedule.decay must be None or 'cosine', got {decay!r}")
        if decay == "cosine" and not total_steps:
            raise ValueError("lr_schedule.decay='cosine' needs total_steps (max_steps) > 0")
        self.warmup_steps, self.decay = warmup_steps, decay
        self.total_steps, self.min_lr_ratio = total_steps, min_lr_ratio

    def __call__(self, step: int) -> float:
        if step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.decay is None:
            return 1.0
        span = max(1, self.total_steps - self.warmup_steps)
        progress = min(1.0, (step - self.warmup_steps) / span)
        return self.min_lr_ratio + (1 - self.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_lr_scheduler(cfg: dict | None, optimizer: torch.optim.Optimizer, total_steps: int,
                       start_step: int = 0) -> torch.optim.lr_scheduler.LambdaLR:
    """``LambdaLR`` over ``WarmupSchedule(**cfg)`` positioned after ``start_step`` optimizer steps (the optimizer's
    groups then hold ``initial_lr`` × the schedule at ``start_step``); ``cfg`` keys: ``warmup_steps``, ``decay``,
    ``min_lr_ratio``."""
    schedule = WarmupSchedule(total_steps=total_steps, **dict(cfg or {}))
    if start_step == 0:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    for group in optimizer.param_groups:
        if "initial_lr" not in group:
            raise ValueError("build_lr_scheduler(start_step > 0) needs the optimizer groups' 'initial_lr' (base lr)")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=start_step - 1)
