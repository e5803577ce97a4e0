"""Resume that says what it does: the settings a checkpoint was trained with, compared with the current ones.

A checkpoint stores ``settings``: the run's effective optimizer hyperparameters (``optimizer.*``, as the built
optimizer holds them), lr schedule (``lr_schedule.*``), ``max_steps``, batch (``data.batch_size``,
``data.micro_batch_size``), world size and precision (the one actually used). On ``--resume`` each that differs
from the current run either

* takes effect, with a line in ``train.log``: ``max_steps`` (the run now ends there; unless the schedule is a
  cosine, whose horizon it is), ``data.micro_batch_size`` (same global batch, so the same samples per optimizer
  step) and the world size (the global batch is kept; the data order and the per-rank noise then differ from an
  uninterrupted run); or
* stops the run with one line naming every such key with both values (``optimizer.*``, ``lr_schedule.*``,
  ``max_steps`` under a cosine schedule, ``data.batch_size``, ``precision``), unless ``--resume-override`` is given:
  then the current values take effect from the checkpoint's step on (a new ``optimizer.type`` starts with a fresh
  optimizer state, a new batch converts the data position by samples).

Everything else (``grad_clip``, ``ema.decay``, intervals, ...) is read from the current config, as for a new run.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from walt.engine.accumulation import BatchPlan
from walt.engine.errors import ConfigError
from walt.engine.lr_schedule import WarmupSchedule

__all__ = ["run_settings", "check_resume", "ResumeChanges", "convert_data_position"]

_TAKES_EFFECT = {
    "max_steps": "the run now ends at this step",
    "data.micro_batch_size": "same global batch: the same samples per optimizer step; data position converted",
    "world_size": "global batch kept; from here on the data order and per-rank noise differ from an uninterrupted run",
}
_MISSING = "<unset>"


def run_settings(optimizer: torch.optim.Optimizer, optimizer_type: str, schedule: WarmupSchedule, max_steps: int,
                 plan: BatchPlan, precision: str) -> dict[str, Any]:
    """The compared settings as a flat dict of plain values (``{"optimizer.lr": 1e-4, ...}``)."""
    settings: dict[str, Any] = {"optimizer.type": optimizer_type}
    settings.update({f"optimizer.{k}": _plain(v) for k, v in optimizer.defaults.items()})
    settings.update({f"lr_schedule.{k}": _plain(v) for k, v in vars(schedule).items() if k != "total_steps"})
    settings.update({"max_steps": max_steps, "data.batch_size": plan.batch_size,
                     "data.micro_batch_size": plan.micro_batch_size, "world_size": plan.world_size,
                     "precision": precision})
    return settings


@dataclass
class ResumeChanges:
    notes: list[str]          # one line per setting that changes, for train.log
    optimizer_state: bool     # whether the checkpoint's optimizer state fits (False after an optimizer.type change)


def check_resume(saved: dict[str, Any], current: dict[str, Any], *, override: bool, path: str | Path) -> ResumeChanges:
    """Compare ``saved`` (the checkpoint's settings) with ``current``; raise a one-line ``ConfigError`` for changes
    that need ``override``, else return what takes effect."""
    differ = {key: (saved.get(key, _MISSING), current.get(key, _MISSING)) for key in sorted({*saved, *current})
              if saved.get(key, _MISSING) != current.get(key, _MISSING)}
    cosine = "cosine" in (saved.get("lr_schedule.decay"), current.get("lr_schedule.decay"))
    refused = [key for key in differ if key not in _TAKES_EFFECT or (key == "max_steps" and cosine)]
    if refused and not override:
        listing = "; ".join(f"{key} is {differ[key][0]!r} in the checkpoint and {differ[key][1]!r} now"
                            for key in refused)
        raise ConfigError(f"cannot resume from {path}: {listing} (pass --resume-override to continue with the "
                          f"current values, or set them back)")
    notes = []
    for key, (old, new) in differ.items():
        why = "--resume-override" if key in refused else _TAKES_EFFECT[key]
        if key == "optimizer.type":
            why += "; the optimizer state starts afresh"
        notes.append(f"resume: {key} {old!r} -> {new!r} takes effect ({why})")
    return ResumeChanges(notes, optimizer_state="optimizer.type" not in differ)


def convert_data_position(position: dict[str, int], saved: dict[str, Any], current: dict[str, Any]) -> dict[str, int]:
    """The data position ``{epoch, consumed micro-batches}`` in the current run's micro-batches: the same number of
    samples into the epoch (exact while micro-batch × world size is unchanged). A streamed dataset's position
    (the members each stream has left, walt/engine/stream_state.py) counts members, not batches: it is returned
    as it is."""
    if "streams" in position:
        return position
    old = saved["data.micro_batch_size"] * saved["world_size"]
    new = current["data.micro_batch_size"] * current["world_size"]
    return dict(epoch=int(position["epoch"]), consumed=int(position["consumed"]) * old // new)


def _plain(value: Any) -> Any:
    """Tuples as lists, so settings compare equal however the config spelled them (and load weights-only)."""
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value
