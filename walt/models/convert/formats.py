"""Reading a weights file or folder and telling its layout from its keys.

Accepted: a ``torch.save`` file (a bare state dict, or a checkpoint holding one under ``ema`` — preferred —,
``model`` or ``state_dict``; DDP's ``module.`` and ``torch.compile``'s ``_orig_mod.`` prefixes removed), a
``.safetensors`` file, and a diffusers model folder (``config.json`` + ``*.safetensors``/``*.bin``, sharded or not)
or a pipeline folder holding one under ``transformer/``. The layouts, by their keys:

========================  ==========================================================================================
``walt``                  ``backbone.…`` keys: a walt ``LatentDiffusion`` state dict (trainer checkpoints)
``walt_backbone``         ``patch_embed.proj.weight``: a bare walt backbone state dict
``latte``                 ``x_embedder.proj.weight`` with ``temp_embed``/``time_embed``: public Latte
``dit``                   ``x_embedder.proj.weight`` without a temporal table: original DiT
``latte_diffusers``       ``adaln_single.linear.weight``: diffusers ``LatteTransformer3DModel`` (or ``LatteT2V``)
``dit_diffusers``         ``transformer_blocks.0.norm1.emb.…``: diffusers ``DiTTransformer2DModel``
========================  ==========================================================================================
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

FORMATS = ("walt", "walt_backbone", "latte", "dit", "latte_diffusers", "dit_diffusers")
_WRAPPERS = ("ema", "model", "state_dict")
_PREFIXES = ("module.", "_orig_mod.")


def diffusers_folder(path: str | Path) -> Path | None:
    """The diffusers model folder at ``path`` (itself or its ``transformer/``), or ``None``."""
    for folder in (Path(path), Path(path) / "transformer"):
        if (folder / "config.json").is_file():
            return folder
    return None


def read_weights(path: str | Path) -> tuple[Any, dict | None]:
    """The object stored at ``path`` and the diffusers ``config.json`` (``None`` unless a diffusers folder)."""
    path = Path(path)
    folder = diffusers_folder(path) if path.is_dir() else None
    if folder is not None:
        return _read_folder(folder), json.loads((folder / "config.json").read_text())
    if not path.is_file():
        raise FileNotFoundError(f"no weights at {path} (a file, or a diffusers folder with config.json)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path)), None
    # weights only (no code from the file runs); the public Latte / DiT training scripts store their argparse
    # Namespace beside the weights
    with torch.serialization.safe_globals([argparse.Namespace]):
        return torch.load(path, map_location="cpu", weights_only=True), None


def _read_folder(folder: Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    if not files:
        raise FileNotFoundError(f"diffusers folder {folder} has config.json but no *.safetensors / *.bin weights")
    sd: dict[str, Tensor] = {}
    for f in files:
        sd.update(load_file(str(f)) if f.suffix == ".safetensors"
                  else torch.load(f, map_location="cpu", weights_only=True))
    return sd


def state_dict_of(obj: Any) -> dict[str, Tensor]:
    """The state dict inside a checkpoint object (see the module docstring), prefixes removed."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a state dict or a checkpoint dict, got {type(obj).__name__}")
    for key in _WRAPPERS:
        if isinstance(obj.get(key), dict) and obj[key]:
            obj = obj[key]
            break
    out = {}
    for key, value in obj.items():
        for prefix in _PREFIXES:
            key = key.removeprefix(prefix)
        out[key] = value
    if not all(isinstance(v, Tensor) for v in out.values()):
        bad = next(k for k, v in out.items() if not isinstance(v, Tensor))
        raise ValueError(f"not a state dict: {bad!r} holds a {type(out[bad]).__name__}")
    return out


def detect_format(sd: dict[str, Tensor]) -> str:
    """The layout of a state dict (one of :data:`FORMATS`); a ValueError naming its first keys otherwise."""
    if any(k.startswith("backbone.") for k in sd):
        return "walt"
    if "adaln_single.linear.weight" in sd or any(k.startswith("temporal_transformer_blocks.") for k in sd):
        return "latte_diffusers"
    if any(k.startswith("transformer_blocks.") and ".norm1.emb." in k for k in sd):
        return "dit_diffusers"
    if "x_embedder.proj.weight" in sd:
        return "latte" if ("temp_embed" in sd or "time_embed" in sd) else "dit"
    if "patch_embed.proj.weight" in sd:
        return "walt_backbone"
    raise ValueError(f"unrecognized weights layout (none of {', '.join(FORMATS)}); first keys: "
                     f"{', '.join(list(sd)[:5])}")
