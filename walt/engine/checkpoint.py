"""Checkpoint files: ``{model, ema, optimizer, scheduler, step, rng, config, data, history}`` in one ``torch.save``
file, written atomically (a temporary file in the same directory, fsynced, then ``os.replace``d over the target),
and a small text file ``latest`` in the work dir holding the newest checkpoint's file name (rewritten the same
way). An interrupted write therefore never damages the previous checkpoint nor the ``latest`` pointer."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from walt.engine.errors import CheckpointError
from walt.utils.atomic import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "checkpoint_name", "LATEST"]

LATEST = "latest"


def checkpoint_name(step: int) -> str:
    return f"step_{step:08d}.pth"


def save_checkpoint(work_dir: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``work_dir/step_XXXXXXXX.pth`` atomically, then point ``work_dir/latest`` at it."""
    work_dir = Path(work_dir)
    path = work_dir / checkpoint_name(int(state["step"]))
    atomic_write(path, lambda f: torch.save(state, f))
    atomic_write(work_dir / LATEST, lambda f: f.write((path.name + "\n").encode()))
    return path


def latest_checkpoint(work_dir: str | Path) -> Path:
    """The checkpoint named by ``work_dir/latest``."""
    pointer = Path(work_dir) / LATEST
    if not pointer.is_file():
        raise CheckpointError(f"nothing to resume: {pointer} does not exist (no checkpoint saved in {work_dir})")
    name = pointer.read_text().strip()
    if not name:
        raise CheckpointError(f"nothing to resume: {pointer} is empty")
    return Path(work_dir) / name


def load_checkpoint(path: str | Path, required: tuple[str, ...] = ("model",)) -> dict[str, Any]:
    """Load a checkpoint on CPU; ``CheckpointError`` naming the file if it is missing, corrupt or lacks a key."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # truncated zip, not a torch file, unpickling failure
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from err
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing} (has {sorted(state)})")
    return state
