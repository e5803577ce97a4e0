"""Loading weights for inference or as a training start: build ``cfg.model`` from a config and load a trainer
checkpoint (the EMA weights by default) or public weights into it (Latte, diffusers Latte, DiT; layout detected
from the keys, :mod:`walt.models.convert`). Used by ``tools/sample.py``, ``tools/sample_cascade.py``,
``tools/eval.py``, ``benchmarks/demo_motion.py`` and the trainer's ``--load-from``."""
from __future__ import annotations

import ast
import inspect
from pathlib import Path
from typing import Any

import torch
from torch import nn

from registry import find_class
from walt.engine.checkpoint import LATEST, latest_checkpoint, read_checkpoint
from walt.engine.config import load_config
from walt.engine.errors import CheckpointError
from walt.models.convert.dit import DIT_INIT
from walt.models.convert import (LayoutError, detect_format, diffusers_folder, load_public, read_weights,
                                 state_dict_of)
from walt.models.generative.build import build_model

__all__ = ["load_model", "load_weights", "resolve_checkpoint", "read_any_checkpoint", "is_trainer_checkpoint", "load_public_weights",
           "check_trained_layout", "saved_model_config"]

# backbone keys that change what the weights mean without changing their shapes (checked against a checkpoint's
# embedded config)
_LAYOUT_KEYS = ("type", "variant", "temporal_position")


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """A checkpoint file, a diffusers folder, or the newest checkpoint of a work dir (or of its ``latest`` file)."""
    path = Path(checkpoint)
    if path.is_dir() and diffusers_folder(path) is not None:
        return path
    if path.is_dir() or path.name == LATEST:
        path = latest_checkpoint(path if path.is_dir() else path.parent)
    return path


def read_any_checkpoint(path: str | Path) -> tuple[Any, dict | None]:
    """What a weights file or diffusers folder holds, and the diffusers ``config.json`` (``CheckpointError``
    naming the file when it is missing or unreadable)."""
    return read_checkpoint(Path(path), read_weights, folder=True)


def is_trainer_checkpoint(obj: Any) -> bool:
    """A walt trainer checkpoint (``{model, ema, ..., step}``), as opposed to public or bare weights."""
    return isinstance(obj, dict) and isinstance(obj.get("model"), dict) and "step" in obj


def check_trained_layout(saved: str | dict | None, cfg: Any, path: Path) -> None:
    """The backbone layout a checkpoint was trained with (its embedded config: the trainer's text, or a dict) must
    be the config's: a variant-1 model's weights have the shapes of variant 2's."""
    saved = saved_model_config(saved) if isinstance(saved, str) else saved
    if not saved or "backbone" not in (saved.get("model") or {}) or "backbone" not in cfg.model:
        return
    before, now = saved["model"]["backbone"], cfg.model.backbone
    for key in _LAYOUT_KEYS:
        if _stated(before, key) != _stated(now, key):
            raise CheckpointError(f"checkpoint {path} was trained with model.backbone.{key}={_stated(before, key)!r}, "
                                  f"the config has {_stated(now, key)!r}")


def saved_model_config(text: str) -> dict:
    """``{"model": ...}`` of a config stored as its text (``Config.pretty_text``), read without running it: only
    literals and ``dict(...)`` calls are evaluated; ``{}`` when ``model`` is not such an expression."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["model"]:
            try:
                return {"model": _literal(node.value)}
            except ValueError:
                return {}
    return {}


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "dict" and not node.args:
        return {kw.arg: _literal(kw.value) for kw in node.keywords}
    if isinstance(node, ast.List):
        return [_literal(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e) for e in node.elts)
    return ast.literal_eval(node)


def _stated(backbone: dict, key: str) -> Any:
    """``backbone[key]``, or the default of the backbone class when the config leaves it out."""
    if key in backbone:
        return backbone[key]
    cls = find_class(backbone.get("type", ""))
    param = inspect.signature(cls).parameters.get(key) if cls is not None else None
    return None if param is None else param.default


def load_model(config: str, checkpoint: str | Path, use_ema: bool = True, cfg_options: list[str] | None = None,
               device: str | torch.device = "cpu", partial: bool = False) -> tuple[nn.Module, dict]:
    """Build ``cfg.model`` and load a checkpoint into it: a trainer checkpoint, or public weights (every backbone
    tensor must come from them; with ``partial`` unused checkpoint tensors are allowed and reported). Returns
    ``(model in eval mode, info)`` with ``info = dict(path, step, weights, report)`` (``weights``: ``"ema"``,
    ``"model"`` or the public layout's name; ``report``: lines saying what was loaded, left, unused)."""
    cfg = load_config(config, cfg_options)
    model = build_model(cfg)
    info = load_weights(model, cfg, resolve_checkpoint(checkpoint), use_ema, partial, config)
    return model.to(device).eval(), info


def load_weights(model: nn.Module, cfg: Any, path: Path, use_ema: bool = True, partial: bool = False,
                 config: str = "this config") -> dict:
    """Load the trainer checkpoint or public weights at ``path`` into ``model`` (built from ``cfg``; see
    :func:`load_model`); returns ``info``."""
    state, hf_config = read_any_checkpoint(path)
    if is_trainer_checkpoint(state):
        if "lora" in state:
            raise CheckpointError(f"{path} holds LoRA adapters, not full weights: pass the base weights it was "
                                  f"trained on ({state['lora']['base']}) and the adapters with --lora {path}")
        check_trained_layout(state.get("config"), cfg, path)
        return _load_trainer_state(model, state, path, config, use_ema)
    return load_public_weights(model, state, hf_config, path, strict=not partial, allow_unused=partial,
                               dit_init=cfg.get("dit_init", DIT_INIT[0]))


def _load_trainer_state(model: nn.Module, state: dict, path: Path, config: str, use_ema: bool) -> dict:
    try:
        result = model.load_state_dict(state["model"], strict=False)
    except RuntimeError as err:  # shape mismatches
        raise CheckpointError(f"checkpoint {path} does not fit the model of {config}: {err}") from err
    # the trainer leaves the frozen autoencoder / text encoder out: their weights come from their own files
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    frozen |= {name for name, _ in model.named_buffers()}
    missing = set(result.missing_keys) - frozen
    if missing or result.unexpected_keys:
        raise CheckpointError(f"checkpoint {path} does not fit the model of {config}: missing "
                              f"{sorted(missing)[:5]}, unexpected {sorted(result.unexpected_keys)[:5]}")
    weights = "model"
    if use_ema and state.get("ema"):
        ema, params = state["ema"], dict(model.named_parameters())
        unknown = sorted(set(ema) - set(params))
        if unknown:
            raise CheckpointError(f"checkpoint {path}: EMA keys {unknown[:5]} are not parameters of the model")
        with torch.no_grad():
            for name, value in ema.items():
                params[name].copy_(value)
        weights = "ema"
    return dict(path=str(path), step=state.get("step"), weights=weights, report=[])


def load_public_weights(model: nn.Module, obj: Any, hf_config: dict | None, path: str | Path, strict: bool = True,
                        allow_unused: bool = False, dit_init: str = DIT_INIT[0]) -> dict:
    """Load public (or bare walt) weights into ``model``'s backbone (or into ``model``, a backbone). ``strict``:
    nothing may be left at initialization; unused checkpoint tensors are an error unless ``allow_unused``; what is
    left or unused is in ``info["report"]`` either way. ``dit_init``: how a DiT fills temporal blocks (LAVITA §3.6,
    the config key ``dit_init``; :mod:`walt.models.convert.dit`)."""
    try:
        sd = state_dict_of(obj)
        fmt = detect_format(sd)
        if fmt == "walt":  # a bare LatentDiffusion state dict (e.g. an EMA-only file)
            return _load_trainer_state(model, dict(model=sd), Path(path), "this config", use_ema=False)
        backbone = getattr(model, "backbone", model)  # a LatentDiffusion, or a backbone itself
        report = load_public(backbone, sd, fmt, hf_config, strict=strict and not allow_unused, dit_init=dit_init)
    except (LayoutError, ValueError) as err:
        raise CheckpointError(f"{path} does not fit this model: {err}") from err
    if strict and report.fresh:
        raise CheckpointError(f"{path} does not fit this model: {'; '.join(report.lines()[1:])}")
    return dict(path=str(path), step=None, weights=report.fmt, report=report.lines())
