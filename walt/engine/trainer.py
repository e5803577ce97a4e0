"""The training loop of walt (DiT / Open-Sora style: one readable file, not a framework runner).

One step: batch → ``model(batch)["loss"]`` under autocast → backward → gradient clipping (the norm is logged) →
optimizer and lr-schedule step → EMA update. Around it: DDP/FSDP under ``torchrun``, atomic checkpoints that
resume bit-for-bit (weights, EMA, optimizer, schedule, every rank's RNG, data position), SIGTERM/SIGINT → save
and exit, a NaN/inf loss → stop naming the step without touching the last good checkpoint, rank-0 reporting.

Config keys read here (schema in docs/architecture.md): ``model, data.{train,batch_size,num_workers}, optimizer,
lr_schedule, max_steps, grad_clip, ema.decay, seed, precision, grad_checkpointing, parallel, log_interval,
ckpt_interval, sample.{interval,num,steps,cfg_scale,...}, wandb, work_dir``. ``data.batch_size`` is per process.
"""
from __future__ import annotations

import math
import os
import signal
from pathlib import Path
from typing import Any

import torch
from mmengine.config import Config
from torch import nn

from walt.engine.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from walt.engine.config import default_work_dir
from walt.engine.data_state import ResumableLoader
from walt.engine.distributed import all_reduce_mean, cleanup, gather_objects, init_distributed, unwrap, wrap_model
from walt.engine.ema import EMA
from walt.engine.errors import CheckpointError, ConfigError, NonFiniteLossError, WorkDirError
from walt.engine.logging import RunLogger
from walt.engine.loading import (check_trained_layout, is_trainer_checkpoint, load_public_weights,
                                 read_any_checkpoint)
from walt.engine.lr_schedule import build_lr_scheduler
from walt.engine.optim import build_optimizer, trainable_parameters
from walt.engine.precision import resolve_precision
from walt.engine.rng import rng_state, seed_everything, set_rng_state
from walt.models.generative.build import build_model

__all__ = ["Trainer", "check_work_dir_writable"]


class Trainer:
    """Builds everything from ``cfg`` and trains with :meth:`train`.

    ``resume``: ``True`` (the checkpoint ``work_dir/latest`` names) or a checkpoint path: continue that run.
    ``load_from``: a checkpoint whose model (and EMA) weights initialize a new run at step 0, or public weights
    (Latte, diffusers Latte, DiT through LAVITA §3.6; ``walt.models.convert``) that initialize the backbone, what
    they leave at initialization and what they do not use written to the log.
    Nothing is written to ``work_dir`` before the config, model, data and checkpoint have all been read.
    """

    def __init__(self, cfg: Config, *, work_dir: str | Path | None = None, resume: bool | str | Path | None = None,
                 load_from: str | Path | None = None):
        if resume and load_from:
            raise ConfigError("use either resume or load_from, not both")
        self.cfg = cfg
        self.work_dir = Path(work_dir or default_work_dir(cfg))
        check_work_dir_writable(self.work_dir)
        _check_choices(cfg)
        self.dist = init_distributed()
        self.device = self.dist.device
        self.seed = int(cfg.get("seed", 0))
        self.max_steps = int(_require(cfg, "max_steps"))
        seed_everything(self.seed)  # the same initial weights on every rank (FSDP shards them without a broadcast)

        # ---- model, precision, parallelism -------------------------------------------------------------------
        _require(cfg, "model")
        model = _build("model", lambda: build_model(cfg))
        initial = read_any_checkpoint(load_from) if load_from else None
        public = initial is not None and not is_trainer_checkpoint(initial[0])
        public_report = load_public_weights(model, *initial, load_from, strict=False)["report"] if public else []
        if cfg.get("grad_checkpointing", False):
            _enable_grad_checkpointing(model)
        self.sample_interval = int((cfg.get("sample") or {}).get("interval") or 0)
        if self.sample_interval and not hasattr(model, "sample"):
            raise ConfigError(f"sample.interval={self.sample_interval} but {type(model).__name__} has no sample(); "
                              "set sample.interval=0")
        self.precision = resolve_precision(cfg.get("precision", "bf16"), self.device)
        self.parallel = cfg.get("parallel", "ddp")
        self.model = wrap_model(model.to(self.device).train(), self.parallel, self.dist)
        self.frozen = {name for name, p in unwrap(self.model).named_parameters() if not p.requires_grad}

        # ---- optimization ------------------------------------------------------------------------------------
        self.optimizer = _build("optimizer", lambda: build_optimizer(_require(cfg, "optimizer"), unwrap(self.model)))
        self.scheduler = _build("lr_schedule", lambda: build_lr_scheduler(
            cfg.get("lr_schedule"), self.optimizer, self.max_steps))
        self.grad_clip = cfg.get("grad_clip")
        self.ema = EMA(unwrap(self.model), **dict(cfg.get("ema") or {}))
        seed_everything(self.seed + self.dist.rank)  # different noise and timesteps on every rank

        # ---- data --------------------------------------------------------------------------------------------
        data = _require(cfg, "data")
        self.batch_size = int(data.get("batch_size", 1))

        def loader() -> Any:
            from walt.data.loader import build_dataloader
            return build_dataloader(_require(data, "train"), batch_size=self.batch_size,
                                    num_workers=int(data.get("num_workers", 0)), shuffle=True, seed=self.seed,
                                    distributed=self.dist.distributed, drop_last=True)
        self.data = ResumableLoader(_build("data", loader), seed=self.seed)

        # ---- state from a checkpoint -------------------------------------------------------------------------
        self.step, history, source = 0, [], None
        if resume:
            source = latest_checkpoint(self.work_dir) if resume is True else Path(resume)
            history = self._load(source, full=True)
        elif load_from:
            source = Path(load_from)
            if not public:  # public weights went into the model before it was wrapped
                self._load(source, full=False, state=initial[0])

        # ---- reporting (rank 0) ------------------------------------------------------------------------------
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WorkDirError(f"cannot create work dir {self.work_dir}: {err.strerror}") from err
        if self.dist.is_main:
            cfg.dump(str(self.work_dir / "config.py"))
        self.log = RunLogger(self.work_dir, cfg, active=self.dist.is_main, total_steps=self.max_steps,
                             start_step=self.step, resumed=bool(resume))
        self.log.history = history
        if source is not None:
            self.log.text(f"{'resumed from' if resume else 'weights loaded from'} {source}")
        for line in public_report:
            self.log.text(line)
        self.log.text(f"world size {self.dist.world_size}, device {self.device}, precision {self.precision.name}, "
                      f"parallel {self.parallel if self.dist.distributed else 'none'}")
        self.log.parameters(unwrap(self.model))
        self._stop_signal: int | None = None

    # ===========================================================================================================
    # training
    # ===========================================================================================================

    def train(self) -> list[float]:
        """Train until ``max_steps`` (or a SIGTERM/SIGINT); return the loss of every step this call ran (mean over
        ranks). Raises :class:`NonFiniteLossError` naming the step if the loss or gradient norm is NaN/inf."""
        cfg = self.cfg
        log_interval, ckpt_interval = int(cfg.get("log_interval", 10)), int(cfg.get("ckpt_interval", 1000))
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        losses: list[float] = []
        window: dict[str, list[float]] = {}
        try:
            while self.step < self.max_steps:
                loss, stop, scalars = self._train_step(self.data.next_batch())
                self.step += 1
                losses.append(loss)
                self.log.advance(self.step, loss)
                for key, value in scalars.items():
                    window.setdefault(key, []).append(value)
                if self.step % log_interval == 0 or self.step == self.max_steps:
                    self.log.scalars(self.step, {k: sum(v) / len(v) for k, v in window.items()},
                                     self.batch_size * self.dist.world_size)
                    window = {}
                if self.sample_interval and self.step % self.sample_interval == 0:
                    self._sample()
                if stop or self.step % ckpt_interval == 0 or self.step == self.max_steps:
                    self._save()
                if stop:
                    self.log.text(f"received {signal.Signals(stop).name} at step {self.step}: "
                                  "checkpoint saved, exiting")
                    break
        except NonFiniteLossError as err:
            self.log.text(f"error: {err}")
            raise
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.log.close()
        return losses

    def _train_step(self, batch: dict) -> tuple[float, int, dict[str, float]]:
        """One optimizer step; returns (loss mean over ranks, stop signal seen by any rank or 0, scalars to log)."""
        batch = _to_device(batch, self.device)
        with self.precision.autocast():
            out = self.model(batch)
        loss = out["loss"]
        # one collective per step: the loss (for logging and a consistent NaN stop) and any rank's stop signal
        flags = torch.tensor([loss.detach().float().item(), float(self._stop_signal or 0)], device=self.device)
        mean_loss, stop = all_reduce_mean(flags, self.dist).tolist()
        stop = (self._stop_signal or int(signal.SIGTERM)) if stop > 0 else 0
        if not math.isfinite(mean_loss):
            raise NonFiniteLossError(f"loss is {mean_loss} at step {self.step + 1}; stopped, the last good "
                                     f"checkpoint in {self.work_dir} is kept")
        scaler = self.precision.scaler
        (scaler.scale(loss) if scaler else loss).backward()
        if scaler:
            scaler.unscale_(self.optimizer)
        params = [p for _, p in trainable_parameters(unwrap(self.model))]
        grad_norm = torch.nn.utils.clip_grad_norm_(params, self.grad_clip or float("inf"))
        grad_norm = float(grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm)
        if scaler:  # fp16: an inf gradient means the loss scale was too high; the scaler skips the step
            scaler.step(self.optimizer)
            scaler.update()
        elif not math.isfinite(grad_norm):
            raise NonFiniteLossError(f"gradient norm is {grad_norm} at step {self.step + 1}; stopped, the last good "
                                     f"checkpoint in {self.work_dir} is kept")
        else:
            self.optimizer.step()
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.ema.update(unwrap(self.model))
        scalars = {k: float(v.detach().float()) for k, v in out.items()
                   if k != "loss" and torch.is_tensor(v) and v.numel() == 1}
        return mean_loss, stop, dict(loss=mean_loss, lr=lr, grad_norm=grad_norm, **scalars)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._stop_signal = signum

    # ===========================================================================================================
    # sampling with the EMA weights
    # ===========================================================================================================

    def _sample(self) -> None:
        """``sample.num`` videos with the EMA weights → ``work_dir/samples`` and W&B; training RNG untouched."""
        scfg = dict(self.cfg.get("sample") or {})
        model = unwrap(self.model)
        if not (self.dist.is_main or self.parallel == "fsdp"):  # FSDP: every rank takes part in the forward
            return
        extra = {k: v for k, v in scfg.items()
                 if k not in ("interval", "num", "steps", "cfg_scale", "fps") and v is not None}
        if "y" in extra:
            extra["y"] = torch.as_tensor(extra["y"], device=self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices), self.ema.applied_to(model), self.precision.autocast():
            model.eval()
            try:
                videos = model.sample(int(scfg.get("num", 4)), steps=int(scfg.get("steps", 50)),
                                      cfg_scale=float(scfg.get("cfg_scale", 1.0)),
                                      generator=torch.Generator(self.device).manual_seed(self.seed), **extra)
            finally:
                model.train()
        self.log.videos(self.step, videos, fps=int(scfg.get("fps", 8)))

    # ===========================================================================================================
    # checkpoints
    # ===========================================================================================================

    def _save(self) -> None:
        """Collect the state on every rank (FSDP gathers shards), write it from rank 0."""
        state = dict(model=self._model_state(), ema=self.ema.state_dict(), optimizer=self._optimizer_state(),
                     scheduler=self.scheduler.state_dict(), step=self.step, rng=gather_objects(rng_state(), self.dist),
                     data=self.data.state_dict(), history=self.log.history, config=self.cfg.to_dict())
        if self.dist.is_main:
            path = save_checkpoint(self.work_dir, state)
            self.log.text(f"checkpoint {path}")
        if self.dist.distributed:
            torch.distributed.barrier()

    def _load(self, path: Path, full: bool, state: dict | None = None) -> list:
        """Restore from ``path`` (already read: ``state``): weights and EMA; with ``full`` also optimizer, schedule,
        step, RNG, data position. Returns the logged loss history."""
        if state is None:
            state = load_checkpoint(path, required=("model", "ema", "optimizer", "scheduler", "step", "rng", "data")
                                    if full else ("model",))
        check_trained_layout(state.get("config"), self.cfg, path)
        try:
            self._load_model_state(state["model"])
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema = EMA(unwrap(self.model), self.ema.decay)
            if full:
                self._load_optimizer_state(state["optimizer"])
                self.scheduler.load_state_dict(state["scheduler"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this model: {err}") from err
        if not full:
            return []
        self.step = int(state["step"])
        self.data.load_state_dict(state["data"])
        rngs = state["rng"]
        if len(rngs) != self.dist.world_size:  # different world size: continues, but not bit-for-bit
            import warnings
            warnings.warn(f"{path} was saved by {len(rngs)} processes, resuming with {self.dist.world_size}")
        set_rng_state(rngs[self.dist.rank % len(rngs)])
        return list(state.get("history", []))

    def _model_state(self) -> dict[str, torch.Tensor]:
        """Trainable parameters and buffers (frozen autoencoder / text-encoder weights come from their own files)."""
        if self.parallel == "fsdp" and self.dist.distributed:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
            full = get_model_state_dict(self.model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        else:
            full = unwrap(self.model).state_dict()
        return {k: v.detach().cpu() for k, v in full.items() if k not in self.frozen}

    def _load_model_state(self, state: dict[str, torch.Tensor]) -> None:
        if self.parallel == "fsdp" and self.dist.distributed:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict
            result = set_model_state_dict(self.model, state, options=StateDictOptions(full_state_dict=True,
                                                                                       strict=False))
        else:
            result = unwrap(self.model).load_state_dict(state, strict=False)
        missing = set(result.missing_keys) - self.frozen
        if missing or result.unexpected_keys:
            raise KeyError(f"missing keys {sorted(missing)[:5]}, unexpected keys {sorted(result.unexpected_keys)[:5]}")

    def _optimizer_state(self) -> dict:
        if self.parallel == "fsdp" and self.dist.distributed:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict
            return get_optimizer_state_dict(self.model, self.optimizer,
                                            options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        return self.optimizer.state_dict()

    def _load_optimizer_state(self, state: dict) -> None:
        if self.parallel == "fsdp" and self.dist.distributed:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict
            set_optimizer_state_dict(self.model, self.optimizer, state, options=StateDictOptions(full_state_dict=True))
        else:
            self.optimizer.load_state_dict(state)

    def close(self) -> None:
        """Leave the process group (the trainer is done)."""
        cleanup(self.dist)


# ===============================================================================================================
# helpers
# ===============================================================================================================

def check_work_dir_writable(work_dir: Path) -> None:
    """``WorkDirError`` unless ``work_dir`` is (or can be created as) a writable directory; creates nothing."""
    existing = work_dir
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise WorkDirError(f"work dir {work_dir}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise WorkDirError(f"work dir {work_dir} is not writable ({existing} denies write access)")


def _check_choices(cfg: Config) -> None:
    choices = {"precision": ("bf16", "fp16", "fp32"), "parallel": ("ddp", "fsdp"),
               "wandb.mode": ("online", "offline", "disabled")}
    for key, allowed in choices.items():
        section, _, name = key.rpartition(".")
        value = (cfg.get(section) or {}).get(name) if section else cfg.get(name)
        if value is not None and value not in allowed:
            raise ConfigError(f"{key} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def _require(cfg: Any, key: str) -> Any:
    if key not in cfg or cfg[key] is None:
        raise ConfigError(f"config has no {key!r} (needed by the trainer)")
    return cfg[key]


def _build(what: str, build: Any) -> Any:
    """Run ``build``; the errors a bad config causes (unknown name, bad argument) become one ``ConfigError``."""
    try:
        return build()
    except (KeyError, TypeError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        raise ConfigError(f"cannot build {what}: {message}") from err


def _enable_grad_checkpointing(model: nn.Module) -> None:
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "grad_checkpointing"):
        raise ConfigError(f"grad_checkpointing=True but {type(backbone).__name__} has no 'grad_checkpointing' switch")
    backbone.grad_checkpointing = True


def _to_device(batch: Any, device: torch.device) -> Any:
    if torch.is_tensor(batch):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: _to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)) and batch and torch.is_tensor(batch[0]):
        return type(batch)(_to_device(v, device) for v in batch)
    return batch
