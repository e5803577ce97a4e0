"""The training loop of walt (DiT / Open-Sora style: one readable loop, not a framework runner).

One optimizer step (walt/engine/accumulation.py): ``accumulation`` micro-batches → ``model(batch)["loss"]`` under
autocast → backward (gradients synchronised on the last) → gradient clipping (the norm is logged) → optimizer and
lr-schedule step → EMA update. ``data.batch_size`` is the global batch the papers state; ``data.micro_batch_size``
what one process computes at once. Around it: DDP/FSDP under ``torchrun``, atomic checkpoints with retention that
resume bit-for-bit (weights, EMA, optimizer, loss scaler, every rank's RNG, data position) and say which changed
settings take effect (walt/engine/resume_check.py), samples with the EMA weights after the checkpoint of their step
(a sampling failure is logged and training goes on), SIGTERM/SIGINT → checkpoint and exit, a NaN/inf loss or
gradient norm → stop naming the step without touching the last good checkpoint, rank-0 reporting.

The config keys read here, their defaults and valid values are declared in walt/engine/schema.py.
"""
from __future__ import annotations

import functools
import os
import signal
import traceback
from pathlib import Path
from typing import Any, Callable

import torch
from mmengine.config import Config
from torch import nn
from torch.utils.data import IterableDataset

from walt.engine.accumulation import BatchPlan, OptimizerStep
from walt.engine.checkpoint import (latest_checkpoint, load_checkpoint, prune_checkpoints, remove_partial_writes,
                                    save_checkpoint)
from walt.engine.config import default_work_dir
from walt.engine.data_state import ResumableLoader
from walt.engine.distributed import (cleanup, gather_objects, get_training_state, init_distributed,
                                     set_training_state, unwrap, wrap_model)
from walt.engine.ema import EMA
from walt.engine.errors import CheckpointError, ConfigError, NonFiniteLossError, WorkDirError
from walt.engine.logging import RunLogger
from walt.engine.loading import (check_trained_layout, is_trainer_checkpoint, load_public_weights,
                                 read_any_checkpoint)
from walt.engine.lora_run import lora_settings, start_lora_run
from walt.engine.lr_schedule import build_lr_scheduler
from walt.engine.optim import build_optimizer
from walt.engine.precision import resolve_precision
from walt.engine.resume_check import check_resume, convert_data_position, run_settings
from walt.engine.rng import rng_state, seed_everything, set_rng_state
from walt.engine.schema import check_engine_config
from walt.engine.stream_state import StreamingLoader
from walt.models.generative.build import build_model
from walt.utils import hardware

__all__ = ["Trainer", "check_work_dir_writable", "signal_exit_code"]

_FULL_STATE = ("model", "ema", "optimizer", "step", "rng", "data", "settings")


def signal_exit_code(signum: int) -> int:
    """The exit code of a run stopped by ``signum`` after saving: 128 + the signal number (143 for SIGTERM, 130 for
    SIGINT), the shell's convention for "ended by this signal", so job scripts do not take it for a finished run."""
    return 128 + signum


class Trainer:
    """Builds everything from ``cfg`` and trains with :meth:`train`.

    ``resume``: ``True`` (the checkpoint ``work_dir/latest`` names) or a checkpoint path: continue that run;
    ``resume_override``: let settings that differ from the checkpoint's take effect instead of stopping.
    ``load_from``: a checkpoint whose model (and EMA) weights initialize a new run at step 0, or public weights
    (Latte, diffusers Latte, DiT through LAVITA §3.6 as the config key ``dit_init`` says; ``walt.models.convert``)
    that initialize the backbone, what they leave at initialization and what they do not use written to the log;
    ``load_from`` defaults to the config's. With ``model.lora`` the run trains LoRA adapters (peft) on those frozen base weights and its
    checkpoints hold the adapters only, with the base weights' path and digest (walt/engine/lora_run.py).
    Nothing is written to ``work_dir`` before the config, model, data and checkpoint have all been read.
    """

    def __init__(self, cfg: Config, *, work_dir: str | Path | None = None, resume: bool | str | Path | None = None,
                 load_from: str | Path | None = None, resume_override: bool = False):
        if resume and load_from:
            raise ConfigError("use either resume or load_from, not both")
        check_engine_config(cfg)
        self.cfg = cfg
        self.work_dir = Path(work_dir or default_work_dir(cfg))
        check_work_dir_writable(self.work_dir)
        self.dist = init_distributed()
        self.device = self.dist.device
        self.plan = BatchPlan.from_config(cfg.data, self.dist.world_size)
        self.seed, self.max_steps = cfg.seed, cfg.max_steps
        seed_everything(self.seed)  # the same initial weights on every rank (FSDP shards them without a broadcast)

        # ---- model, precision, parallelism -------------------------------------------------------------------
        model = _build("model", lambda: build_model(cfg))
        self.precision = resolve_precision(cfg.precision, self.device)
        load_from = load_from or (None if resume else cfg.load_from)
        resume_path = (latest_checkpoint(self.work_dir) if resume is True else Path(resume)) if resume else None
        self.lora, lora_state = lora_settings(cfg), None
        if self.lora is not None:  # LoRA fine-tuning: the base weights go in, then the adapters (walt/engine/lora_run)
            self.lora_record, lora_state, public_report = start_lora_run(model, cfg, self.lora, load_from,
                                                                         resume_path, self.precision.dtype)
            initial, public = None, False
        else:
            initial = read_any_checkpoint(load_from) if load_from else None
            public = initial is not None and not is_trainer_checkpoint(initial[0])
            public_report = load_public_weights(model, *initial, load_from, strict=False,
                                                dit_init=cfg.dit_init)["report"] if public else []
        if cfg.grad_checkpointing:
            _enable_grad_checkpointing(model)
        self.sample_interval = cfg.sample.interval
        if self.sample_interval and not hasattr(model, "sample"):
            raise ConfigError(f"sample.interval={self.sample_interval} but {type(model).__name__} has no sample(); "
                              "set sample.interval=0")
        self.parallel = cfg.parallel
        self.model = wrap_model(model.to(self.device).train(), self.parallel, self.dist)
        # what checkpoints leave out: frozen weights (a LoRA run's base: its buffers too, so only adapters are saved)
        self.frozen = {name for name, p in unwrap(self.model).named_parameters() if not p.requires_grad}
        if self.lora is not None:
            self.frozen |= {name for name, _ in unwrap(self.model).named_buffers()}

        # ---- optimization ------------------------------------------------------------------------------------
        self.optimizer = _build("optimizer", lambda: build_optimizer(cfg.optimizer, unwrap(self.model)))
        self.scheduler = _build("lr_schedule", lambda: build_lr_scheduler(cfg.lr_schedule, self.optimizer,
                                                                          self.max_steps))
        self.ema = _build("ema", lambda: EMA(unwrap(self.model), **cfg.ema))
        self.optimizer_step = OptimizerStep(self.model, self.optimizer, self.ema, self.precision, self.plan,
                                            self.dist, cfg.grad_clip)
        self.settings = run_settings(self.optimizer, cfg.optimizer.type, self.scheduler.lr_lambdas[0],
                                     self.max_steps, self.plan, self.precision.name)
        seed_everything(self.seed + self.dist.rank)  # different noise and timesteps on every rank

        # ---- data --------------------------------------------------------------------------------------------
        def loader() -> Any:
            from walt.data.loader import build_dataloader
            from walt.models.generative.clip_shapes import clip_token_counts
            return build_dataloader(cfg.data.train, batch_size=self.plan.micro_batch_size,
                                    num_workers=cfg.data.num_workers, shuffle=True, seed=self.seed,
                                    distributed=self.dist.distributed, drop_last=True,
                                    bucket_tokens=lambda shapes: clip_token_counts(
                                        unwrap(self.model), shapes, "data.train.buckets"))
        built = _build("data", loader)
        if isinstance(built.dataset, IterableDataset):  # streamed shards keep their own position
            self.data = StreamingLoader(built, gather=functools.partial(gather_objects, info=self.dist))
        else:
            self.data = ResumableLoader(built, seed=self.seed)

        # ---- state from a checkpoint -------------------------------------------------------------------------
        self.step, history, source, notes = 0, [], None, []
        if resume:
            source = resume_path
            history, notes = self._load(source, full=True, override=resume_override, state=lora_state)
        elif load_from:
            source = Path(load_from)
            if not public and self.lora is None:  # public weights went into the model before it was wrapped
                self._load(source, full=False, override=False, state=initial[0])

        # ---- reporting (rank 0) ------------------------------------------------------------------------------
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise WorkDirError(f"cannot create work dir {self.work_dir}: {err.strerror}") from err
        self.config_text = cfg.pretty_text  # the config as checkpoints store it: text, not objects
        if self.dist.is_main:
            (self.work_dir / "config.py").write_text(self.config_text)
        self.log = RunLogger(self.work_dir, cfg, active=self.dist.is_main, total_steps=self.max_steps,
                             start_step=self.step, resumed=bool(resume))
        self.log.history = history
        if self.dist.is_main:
            for partial in remove_partial_writes(self.work_dir):
                self.log.text(f"removed {partial.name}, left by an interrupted checkpoint write")
        if source is not None:
            self.log.text(f"{'resumed from' if resume else 'weights loaded from'} {source}")
        for line in public_report + notes:
            self.log.text(line)
        self.log.text(hardware.describe(str(self.device)))  # the speed in train.log means nothing without it
        self.log.text(f"world size {self.dist.world_size}, device {self.device}, precision {self.precision.name}, "
                      f"parallel {self.parallel if self.dist.distributed else 'none'}; {self.plan}")
        batches = self.data.loader.batch_sampler
        if hasattr(batches, "batch_sizes"):  # shape buckets: the micro-batch of each
            shapes = ", ".join(f"{tuple(bucket)}×{size}" for bucket, size in
                               zip(self.data.loader.dataset.buckets, batches.batch_sizes))
            self.log.text(f"shape buckets (frames, height, width)×micro-batch: {shapes}")
        self.log.parameters(unwrap(self.model))
        self._stop_signal = 0

    # ===========================================================================================================
    # training
    # ===========================================================================================================

    def train(self) -> list[float]:
        """Train until ``max_steps`` or a SIGTERM/SIGINT (then :attr:`stopped_by` names it); return the loss of every
        step this call ran (mean over the global batch). Raises :class:`NonFiniteLossError` naming the step if the
        loss or gradient norm is NaN/inf, after logging it and closing W&B as failed."""
        cfg = self.cfg
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        losses: list[float] = []
        window: dict[str, list[float]] = {}
        self.stopped_by, exit_code = 0, 1
        try:
            while self.step < self.max_steps:
                result = self.optimizer_step(self.data.next_batch, self.scheduler, self.step + 1,
                                             lambda: self._stop_signal)
                self.step += 1
                losses.append(result.loss)
                self.log.advance(self.step, result.loss)
                for key, value in result.scalars.items():
                    window.setdefault(key, []).append(value)
                if self.step % cfg.log_interval == 0 or self.step == self.max_steps:
                    self.log.scalars(self.step, {k: sum(v) / len(v) for k, v in window.items()},
                                     self.plan.batch_size)
                    window = {}
                if result.stop or self.step % cfg.ckpt_interval == 0 or self.step == self.max_steps:
                    self._save()
                if result.stop:
                    self.stopped_by = result.stop
                    self.log.text(f"received {signal.Signals(result.stop).name} at step {self.step}: "
                                  f"checkpoint saved, exiting with code {signal_exit_code(result.stop)}")
                    break
                if self.sample_interval and self.step % self.sample_interval == 0:
                    self._sample()
            exit_code = signal_exit_code(self.stopped_by) if self.stopped_by else 0
        except NonFiniteLossError as err:
            exit_code = err.exit_code
            message = f"{err}; stopped, the last good checkpoint in {self.work_dir} is kept"
            self.log.text(f"error: {message}")
            raise NonFiniteLossError(message) from None
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self.log.close(exit_code, preempted=bool(self.stopped_by))
        return losses

    def _on_signal(self, signum: int, frame: Any) -> None:
        # repeats (the process group's signal, then torchrun's copy of it) change nothing; kill -9 forces an exit
        self._stop_signal = self._stop_signal or signum

    # ===========================================================================================================
    # sampling with the EMA weights
    # ===========================================================================================================

    def _sample(self) -> None:
        """``sample.num`` videos with the EMA weights → ``work_dir/samples`` and W&B; training RNG and weights
        untouched. A failure is logged (with its traceback in train.log) and training continues."""
        if not (self.dist.is_main or self.parallel == "fsdp"):  # FSDP: every rank takes part in the forward
            return
        scfg = dict(self.cfg.sample)
        model = unwrap(self.model)
        extra = {k: v for k, v in scfg.items() if k not in ("interval", "num", "steps", "cfg_scale", "fps")
                 and v is not None}
        if "y" in extra:
            extra["y"] = torch.as_tensor(extra["y"], device=self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), self.ema.applied_to(model), self.precision.autocast():
                model.eval()
                try:
                    videos = model.sample(scfg["num"], steps=scfg["steps"], cfg_scale=float(scfg["cfg_scale"]),
                                          generator=torch.Generator(self.device).manual_seed(self.seed), **extra)
                finally:
                    model.train()
            self.log.videos(self.step, videos, fps=scfg["fps"])
        except Exception as err:  # a sample is a by-product: never lose training time to it
            self.log.text(f"error: sampling at step {self.step} failed ({type(err).__name__}: {err}); "
                          f"training continues")
            self.log.text(traceback.format_exc().rstrip(), console=False)

    # ===========================================================================================================
    # checkpoints
    # ===========================================================================================================

    def _save(self) -> None:
        """Collect the state on every rank (FSDP gathers shards), write it from rank 0, then apply retention."""
        model_state, optimizer_state = get_training_state(self.model, self.optimizer, skip=self.frozen)
        scaler = self.precision.scaler
        state = dict(model=model_state, ema=self.ema.state_dict(), optimizer=optimizer_state,
                     scaler=scaler.state_dict() if scaler else None, step=self.step,
                     rng=gather_objects(rng_state(), self.dist), data=self.data.state_dict(),
                     history=self.log.history, settings=self.settings, config=self.config_text)
        if self.lora is not None:
            state["lora"] = self.lora_record  # the adapters' settings, the base weights' path and digest
        if self.dist.is_main:
            path = save_checkpoint(self.work_dir, state)
            deleted = prune_checkpoints(self.work_dir, keep_last=self.cfg.ckpt_keep_last,
                                        keep_every=self.cfg.ckpt_keep_every, newest_step=self.step)
            self.log.text(f"checkpoint {path}" + (f" (deleted {', '.join(p.name for p in deleted)})"
                                                  if deleted else ""))
        if self.dist.distributed:
            torch.distributed.barrier()

    def _load(self, path: Path, full: bool, override: bool, state: dict | None = None) -> tuple[list, list[str]]:
        """Restore from ``path`` (already read: ``state``): weights and EMA; with ``full`` also optimizer (with the
        current config's hyperparameters), loss scaler, step, RNG and data position, after checking the changed
        settings. Returns the logged loss history and the resume notes."""
        if state is None:
            state = load_checkpoint(path, required=_FULL_STATE if full else ("model",))
        check_trained_layout(state.get("config"), self.cfg, path)
        changes = check_resume(state["settings"], self.settings, override=override, path=path) if full else None
        hyper = [{k: v for k, v in group.items() if k != "params"} for group in self.optimizer.param_groups]
        keep_optimizer = full and changes.optimizer_state
        try:
            result = set_training_state(self.model, state["model"], self.optimizer if keep_optimizer else None,
                                        state["optimizer"] if keep_optimizer else None)
            missing = set(result.missing_keys) - self.frozen
            if missing or result.unexpected_keys:
                raise KeyError(f"missing keys {sorted(missing)[:5]}, unexpected keys "
                               f"{sorted(result.unexpected_keys)[:5]}")
            if state.get("ema") is not None:
                self.ema.load_state_dict(state["ema"])
            else:
                self.ema = self.optimizer_step.ema = EMA(unwrap(self.model), self.ema.decay)
        except (KeyError, RuntimeError, ValueError) as err:
            raise CheckpointError(f"checkpoint {path} does not fit this model: {err}") from err
        if not full:
            return [], []
        for group, values in zip(self.optimizer.param_groups, hyper):
            group.update(values)  # the current config's lr, betas, ...: equal, or accepted by check_resume
        if self.precision.scaler is not None and state.get("scaler") is not None:
            self.precision.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.scheduler = build_lr_scheduler(self.cfg.lr_schedule, self.optimizer, self.max_steps, start_step=self.step)
        self.data.load_state_dict(convert_data_position(state["data"], state["settings"], self.settings))
        rngs = state["rng"]
        set_rng_state(rngs[self.dist.rank % len(rngs)])  # another world size: see resume_check
        return list(state.get("history", [])), changes.notes

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


def _build(what: str, build: Callable[[], Any]) -> Any:
    """Run ``build``; the errors a bad config causes (unknown name, bad argument, a file it names that is missing
    or unreadable) become one ``ConfigError``."""
    try:
        return build()
    except OSError as err:  # a data root, weights or statistics file the config names
        message = f"{err.strerror}: {err.filename}" if err.filename and err.strerror else str(err)
        raise ConfigError(f"cannot build {what}: {message}") from err
    except (KeyError, TypeError, ValueError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        raise ConfigError(f"cannot build {what}: {message}") from err


def _enable_grad_checkpointing(model: nn.Module) -> None:
    backbone = getattr(model, "backbone", model)
    if not hasattr(backbone, "grad_checkpointing"):
        raise ConfigError(f"grad_checkpointing=True but {type(backbone).__name__} has no 'grad_checkpointing' switch")
    backbone.grad_checkpointing = True
