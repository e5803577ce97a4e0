"""Loading a trained model for inference: build ``cfg.model`` from a config and load a trainer checkpoint into it
(the EMA weights by default). Used by ``tools/sample.py``, ``tools/sample_cascade.py``, ``tools/eval.py`` and
``benchmarks/demo_motion.py``."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from walt.engine.checkpoint import LATEST, latest_checkpoint, load_checkpoint
from walt.engine.config import load_config
from walt.engine.errors import CheckpointError
from walt.models.generative.build import build_model

__all__ = ["load_model", "resolve_checkpoint"]


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """A checkpoint file, or the newest checkpoint of a work dir (or of its ``latest`` pointer file)."""
    path = Path(checkpoint)
    if path.is_dir() or path.name == LATEST:
        path = latest_checkpoint(path if path.is_dir() else path.parent)
    return path


def load_model(config: str, checkpoint: str | Path, use_ema: bool = True, cfg_options: list[str] | None = None,
               device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Build ``cfg.model`` and load a trainer checkpoint into it. Returns ``(model in eval mode, info)`` with
    ``info = dict(path, step, weights)`` (``weights``: ``"ema"`` or ``"model"``)."""
    cfg = load_config(config, cfg_options)
    model = build_model(cfg)
    path = resolve_checkpoint(checkpoint)
    state = load_checkpoint(path, required=("model",))
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
    return model.to(device).eval(), dict(path=str(path), step=state.get("step"), weights=weights)
