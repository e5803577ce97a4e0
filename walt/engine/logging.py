"""What a training run reports, on rank 0 only: a plain-text log (``train.log`` in the work dir), a tqdm progress
bar (steps/s, ETA), Weights & Biases (``wandb.mode``: online / offline / disabled) with the config, a parameter
table, scalars and sample videos, sample GIFs in ``work_dir/samples``, and a loss-curve PNG at the end.

A resumed run continues the same W&B run and sends nothing for the steps W&B already has (those between the
checkpoint and the interruption: W&B would drop them, and a bit-exact resume recomputes the same values); the run
is finished with the process's exit code, so a run stopped by a NaN is marked failed (and one stopped by a signal
preempted)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from torch import Tensor, nn
from tqdm import tqdm

from walt.data.video_io import make_grid, write_gif

__all__ = ["RunLogger", "parameter_rows"]

WANDB_ID_FILE = "wandb_run_id"
WANDB_STEP_FILE = "wandb_last_step"  # the last step sent to W&B, for a resumed run


def parameter_rows(model: nn.Module) -> list[tuple[str, int, int]]:
    """``(child module, parameters, trainable parameters)`` for each direct child, then ``total``."""
    rows = []
    for name, child in model.named_children():
        params = list(child.parameters())
        rows.append((name, sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)))
    params = list(model.parameters())
    rows.append(("total", sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)))
    return rows


class RunLogger:
    """All reporting of one run; every method is a no-op on ranks other than 0 (``active=False``)."""

    def __init__(self, work_dir: str | Path, cfg: Any, *, active: bool, total_steps: int, start_step: int,
                 resumed: bool):
        self.work_dir, self.active = Path(work_dir), active
        self.history: list[tuple[int, float]] = []
        self._run, self._file, self._bar = None, None, None
        self._t0, self._step0 = time.perf_counter(), start_step
        self._wandb_floor = -1  # steps up to this one were sent to the W&B run before it was resumed
        if not active:
            return
        self._file = open(self.work_dir / "train.log", "a", buffering=1)
        self._bar = tqdm(total=total_steps, initial=start_step, unit="step", dynamic_ncols=True, mininterval=1.0)
        self.text(f"{'resuming' if resumed else 'starting'} at step {start_step}/{total_steps} in {self.work_dir}")
        wandb_cfg = dict(cfg.get("wandb") or {})
        mode = wandb_cfg.get("mode", "disabled")
        if mode not in ("online", "offline", "disabled"):
            raise ValueError(f"wandb.mode must be 'online', 'offline' or 'disabled', got {mode!r}")
        if mode != "disabled":
            self._init_wandb(wandb_cfg, mode, cfg, resumed)

    def _init_wandb(self, wandb_cfg: dict, mode: str, cfg: Any, resumed: bool) -> None:
        import wandb

        id_file = self.work_dir / WANDB_ID_FILE
        run_id = id_file.read_text().strip() if resumed and id_file.is_file() else None
        if run_id:
            self._wandb_floor = _read_int(self.work_dir / WANDB_STEP_FILE, default=-1)
        self._run = wandb.init(project=wandb_cfg.get("project", "walt"), entity=wandb_cfg.get("entity"),
                               name=wandb_cfg.get("name") or self.work_dir.name, mode=mode, id=run_id,
                               resume="allow" if run_id else None, config=cfg.to_dict(),
                               dir=os.environ.get("WANDB_DIR", str(self.work_dir)))
        id_file.write_text(self._run.id + "\n")
        self.text(f"wandb run {self._run.id} ({mode}) in {self._run.dir}")

    # -----------------------------------------------------------------------------------------------------------

    def text(self, message: str, console: bool = True) -> None:
        """One timestamped line in ``train.log`` (and, with ``console``, above the progress bar)."""
        if not self.active:
            return
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}"
        self._file.write(line + "\n")
        if console:
            tqdm.write(line)

    def _wandb_log(self, values: dict[str, Any], step: int) -> None:
        if self._run is None or step <= self._wandb_floor:
            return
        self._run.log(values, step=step)
        (self.work_dir / WANDB_STEP_FILE).write_text(f"{step}\n")

    def parameters(self, model: nn.Module) -> None:
        rows = parameter_rows(model)
        if not self.active:
            return
        self.text("parameters: " + ", ".join(f"{n} {p:,} ({t:,} trainable)" for n, p, t in rows))
        if self._run is not None:
            import wandb

            self._wandb_log({"parameters": wandb.Table(columns=["module", "parameters", "trainable"],
                                                       data=[list(r) for r in rows])}, step=self._step0)

    def advance(self, step: int, loss: float) -> None:
        """Called after every optimizer step: progress bar and loss history."""
        if not self.active:
            return
        self._bar.update(1)
        self._bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    def scalars(self, step: int, values: dict[str, float], batch_size: int) -> None:
        """Log ``values`` at ``step`` with throughput since the last call (samples/s counts all ranks)."""
        if not self.active:
            return
        now = time.perf_counter()
        steps = max(1, step - self._step0)
        values = dict(values, steps_per_s=steps / (now - self._t0), samples_per_s=steps * batch_size / (now - self._t0))
        self._t0, self._step0 = now, step
        self.history.append((step, values["loss"]))
        self.text(f"step {step} " + " ".join(f"{k} {_fmt(v)}" for k, v in values.items()))
        self._wandb_log(values, step)

    def videos(self, step: int, videos: Tensor, fps: int = 8) -> Path | None:
        """Write ``videos`` ``(N, 3, T, H, W)`` in ``[-1, 1]`` as one grid to ``samples/step_XXXXXXXX.gif``."""
        if not self.active:
            return None
        (self.work_dir / "samples").mkdir(exist_ok=True)
        path = write_gif(self.work_dir / "samples" / f"step_{step:08d}.gif",
                         make_grid(videos.detach().float().cpu()), fps=fps)
        self.text(f"samples written to {path}")
        if self._run is not None:
            import wandb

            # from the file: encoding raw frames would need moviepy
            self._wandb_log({"samples": wandb.Video(str(path))}, step)
        return path

    def close(self, exit_code: int = 0, preempted: bool = False) -> Path | None:
        """Close the bar, the log and W&B (finished with ``exit_code``: non-zero marks the run failed, ``preempted``
        marks it preempted); write ``loss_curve.png``; return its path (None if nothing logged)."""
        if not self.active:
            return None
        self._bar.close()
        png = self._loss_curve()
        if self._run is not None:
            if preempted:
                self._run.mark_preempting()
            self._run.finish(exit_code=exit_code)
        self._file.close()
        return png

    def _loss_curve(self) -> Path | None:
        if not self.history:
            return None
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        steps, losses = zip(*self.history)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(steps, losses)
        ax.set(xlabel="step", ylabel="loss", title=self.work_dir.name)
        ax.grid(alpha=0.3)
        path = self.work_dir / "loss_curve.png"
        fig.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(fig)
        self.text(f"loss curve written to {path}")
        return path


def _read_int(path: Path, default: int) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return default


def _fmt(value: float) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
