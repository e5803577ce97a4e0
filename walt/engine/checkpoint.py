"""Checkpoint files and their retention.

A checkpoint is one ``torch.save`` file ``step_XXXXXXXX.pth`` holding only tensors and plain Python values
(``{model, ema, optimizer, scaler, step, rng, data, history, settings, config}``, the config as its text), so it is
read back with ``torch.load(weights_only=True)``: loading a checkpoint runs no code from it. It is written
atomically (a temporary file in the same directory, fsynced, ``os.replace``d over the target, the directory
fsynced), then the small text file ``latest`` is pointed at it the same way. An interrupted write (a crash, a
``kill -9``) therefore never damages the previous checkpoint nor the ``latest`` pointer; it can leave a temporary
file behind, which :func:`remove_partial_writes` clears when the next run starts.

Retention (:func:`prune_checkpoints`) runs only after the new checkpoint and ``latest`` are durable, keeps the
``keep_last`` newest checkpoints and every ``keep_every``-th step, and never deletes the one ``latest`` names.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch

from walt.engine.errors import CheckpointError
from walt.utils.atomic import atomic_write

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "checkpoint_name", "prune_checkpoints",
           "remove_partial_writes", "read_checkpoint", "LATEST"]

LATEST = "latest"
_CHECKPOINT = re.compile(r"step_(\d+)\.pth")
T = TypeVar("T")
_PARTIAL = ".step_*.pth.*.tmp", f".{LATEST}.*.tmp"  # atomic_write's temporary names for these two files


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
    """Load a checkpoint on CPU (tensors and plain values only); ``CheckpointError`` naming the file if it is
    missing, corrupt, holds other objects, or lacks a ``required`` key."""
    path = Path(path)
    state = read_checkpoint(path, lambda p: torch.load(p, map_location="cpu", weights_only=True))
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} holds a {type(state).__name__}, expected a dict")
    missing = [key for key in required if key not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {missing} (has {sorted(state)})")
    return state


def read_checkpoint(path: Path, read: Callable[[Path], T], folder: bool = False) -> T:
    """``read(path)``, with a missing file (or folder, with ``folder``) or an unreadable one turned into one
    ``CheckpointError`` naming it."""
    if not (path.exists() if folder else path.is_file()):
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        return read(path)
    except Exception as err:  # truncated zip, not a torch file, an object the weights-only unpickler refuses, ...
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: {err}") from err


def prune_checkpoints(work_dir: str | Path, *, keep_last: int | None, keep_every: int | None,
                      newest_step: int) -> list[Path]:
    """Delete the checkpoints of ``work_dir`` up to ``newest_step`` except the ``keep_last`` newest (None: all),
    the steps divisible by ``keep_every`` (None: none) and the one ``latest`` names; return the deleted paths.

    Checkpoints of later steps (left by an earlier run that was resumed from an older checkpoint) are neither
    counted nor deleted: this run overwrites them when it reaches their step."""
    work_dir = Path(work_dir)
    pointer = work_dir / LATEST
    current = pointer.read_text().strip() if pointer.is_file() else None
    steps = {}
    for path in work_dir.iterdir():
        match = _CHECKPOINT.fullmatch(path.name)
        if match and int(match.group(1)) <= newest_step:
            steps[int(match.group(1))] = path
    ordered = sorted(steps)
    keep = set(ordered if keep_last is None else ordered[max(0, len(ordered) - keep_last):])
    if keep_every:
        keep |= {step for step in ordered if step % keep_every == 0}
    deleted = [steps[step] for step in ordered if step not in keep and steps[step].name != current]
    for path in deleted:
        path.unlink()
    return deleted


def remove_partial_writes(work_dir: str | Path) -> list[Path]:
    """Delete the temporary files that interrupted checkpoint / ``latest`` writes left in ``work_dir``."""
    partial = [path for pattern in _PARTIAL for path in Path(work_dir).glob(pattern)]
    for path in partial:
        path.unlink(missing_ok=True)
    return partial
