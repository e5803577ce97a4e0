"""LoRA fine-tuning runs (``model.lora``; adapters from :mod:`walt.models.adapters.lora`, built with ``peft``): the
base weights they apply to, and their checkpoints, shared by the trainer, ``tools/sample.py --lora`` and
``tools/convert_latte.py --lora``.

A LoRA run loads its base weights (``load_from``: public Latte / diffusers / DiT weights or a trainer checkpoint),
adds the adapters and trains them alone. Its checkpoints hold the adapters, their EMA and the optimizer state over
them (no base tensor), plus ``lora = {settings, base, base_digest}``: the adapters' settings and the path and
SHA-256 of the base weights, checked whenever the adapters are applied again (resume, sampling, export). Not
W.A.L.T's AdaLN-LoRA conditioning, which is part of a model's architecture.
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from walt.engine.checkpoint import load_checkpoint
from walt.engine.errors import CheckpointError, ConfigError
from walt.engine.loading import load_weights, resolve_checkpoint
from walt.models.convert import diffusers_folder

if TYPE_CHECKING:  # the adapters module imports peft (and through it transformers): seconds, needed by LoRA runs only
    from walt.models.adapters.lora import LoRASettings

__all__ = ["weights_digest", "start_lora_run", "apply_lora_checkpoint", "read_lora_checkpoint", "lora_settings"]


def weights_digest(path: str | Path) -> str:
    """SHA-256 of a weights file, or of a diffusers folder's ``config.json`` and weight files (by name), so that
    a pipeline folder and its ``transformer/`` give the same digest."""
    path = Path(path)
    folder = diffusers_folder(path) if path.is_dir() else None
    if path.is_dir() and folder is None:
        raise CheckpointError(f"{path} is a folder without a diffusers config.json: not weights")
    files = [path] if folder is None else [folder / "config.json"] + sorted(
        f for f in folder.iterdir() if f.suffix in (".safetensors", ".bin"))
    digest = hashlib.sha256()
    for file in files:
        digest.update(file.name.encode() if folder is not None else b"")
        with open(file, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def lora_settings(cfg: Any) -> LoRASettings | None:
    """The config's ``model.lora`` (``None``: no adapters), checked (``ConfigError`` naming the key)."""
    spec = (cfg.get("model") or {}).get("lora")
    if spec is None:
        return None
    from walt.models.adapters.lora import LoRASettings

    try:
        return LoRASettings.from_config(dict(spec))
    except (TypeError, ValueError) as err:
        raise ConfigError(str(err)) from err


def start_lora_run(model: nn.Module, cfg: Any, settings: LoRASettings, load_from: str | Path | None,
                   resume: Path | None, base_dtype: torch.dtype | None) -> tuple[dict, dict | None, list[str]]:
    """Load the base weights into ``model`` (from ``load_from``, or from the record of the ``resume`` checkpoint,
    whose adapter settings must be ``settings``), add the adapters (frozen base held in ``base_dtype``) and freeze
    everything else. Returns ``(record for checkpoints, the resume checkpoint read, log lines)``."""
    state = None
    if resume is not None:
        state = read_lora_checkpoint(resume, full=True)
        record = state["lora"]
        if record["settings"] != settings.as_config():
            raise ConfigError(f"model.lora is {settings.as_config()}, but checkpoint {resume} trained adapters "
                              f"{record['settings']}")
        check_base(Path(record["base"]), record, resume)
    elif load_from is not None:
        record = dict(settings=settings.as_config(), base=str(load_from), base_digest=weights_digest(load_from))
    else:
        raise ConfigError("model.lora trains adapters on given base weights: set load_from in the config or pass "
                          "--load-from")
    info = load_weights(model, cfg, resolve_checkpoint(record["base"]))
    from walt.models.adapters.lora import attach_lora

    try:
        names = attach_lora(getattr(model, "backbone", model), settings, base_dtype)
    except ValueError as err:  # a target role that matches no module of this backbone
        raise ConfigError(str(err)) from err
    for name, p in model.named_parameters():
        p.requires_grad_(".lora_" in name)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines = info["report"] + [f"LoRA adapters r={settings.r} alpha={settings.alpha} on {len(names)} layers "
                              f"({', '.join(settings.target)}): {trainable:,} trainable parameters; base "
                              f"{record['base']} (sha256 {record['base_digest'][:12]}) frozen"
                              + (f" in {base_dtype}" if base_dtype is not None else "")]
    return record, state, lines


def read_lora_checkpoint(path: str | Path, full: bool = False) -> dict:
    """A LoRA run's checkpoint (a work dir or ``latest`` resolve to the newest); ``CheckpointError`` otherwise."""
    path = resolve_checkpoint(path)
    state = load_checkpoint(path, required=("model", "lora") + (("optimizer", "step") if full else ()))
    if not {"settings", "base", "base_digest"} <= set(state["lora"]):
        raise CheckpointError(f"checkpoint {path}: its 'lora' entry lacks settings / base / base_digest")
    return state


def check_base(base: Path, record: dict, adapters: str | Path) -> None:
    """The base weights at ``base`` must be those the adapters were trained on (same SHA-256)."""
    digest = weights_digest(base)
    if digest != record["base_digest"]:
        raise CheckpointError(f"the LoRA adapters {adapters} were trained on {record['base']} (sha256 "
                              f"{record['base_digest'][:12]}); {base} has sha256 {digest[:12]}")


def apply_lora_checkpoint(model: nn.Module, adapters: str | Path, base: str | Path, use_ema: bool = True,
                          scale: float = 1.0) -> LoRASettings:
    """Add the adapters of the LoRA checkpoint ``adapters`` (EMA weights by default) to ``model`` (a latent
    diffusion model or its backbone) holding the base weights loaded from ``base``, scaled by ``scale``."""
    from walt.models.adapters.lora import LoRASettings, attach_lora, set_lora_scale

    state = read_lora_checkpoint(adapters)
    check_base(resolve_checkpoint(base), state["lora"], adapters)
    settings = LoRASettings.from_config(state["lora"]["settings"])
    backbone = getattr(model, "backbone", model)
    attach_lora(backbone, settings)
    weights = state["ema"] if use_ema and state.get("ema") else state["model"]
    strip = "backbone." if backbone is model else ""  # the checkpoint names the latent diffusion model's tensors
    own = {name: p for name, p in model.named_parameters() if ".lora_" in name}
    stored = {key.removeprefix(strip): value for key, value in weights.items()}
    if set(stored) != set(own):
        raise CheckpointError(f"the LoRA adapters {adapters} do not fit this model: missing "
                              f"{sorted(set(own) - set(stored))[:3]}, unexpected {sorted(set(stored) - set(own))[:3]}")
    with torch.no_grad():
        for name, p in own.items():
            p.copy_(stored[name])
    set_lora_scale(backbone, scale)
    return settings
