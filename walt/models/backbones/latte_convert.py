"""Checkpoint compatibility with the public Latte release (the reference code of lavita.md), both ways.

Official layout (variant 2, S-AdaLN, uniform frame patch embedding, absolute temporal position):
``x_embedder.proj``, ``t_embedder.mlp.{0,2}``, ``y_embedder.embedding_table``, ``pos_embed (1, N, D)``,
``temp_embed (1, F, D)``, ``blocks.{i}.attn.{qkv,proj}``, ``blocks.{i}.mlp.{fc1,fc2}``,
``blocks.{i}.adaLN_modulation.1`` (one ``(6D, D)`` regression per block, chunks in
:data:`~walt.models.conditioning.modulate.CHUNKS` order), ``final_layer.{linear,adaLN_modulation.1}``; even blocks
spatial, odd temporal. Ours differs only in names and in stacking the per-block regressions into
``conditioning.weight (L, 6D, D)`` / ``conditioning.bias (L, 6D)`` (layer ``l`` = the ``l``-th built block). The
sin-cos tables are fixed buffers here: they are written on export and checked on import.
"""
from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from walt.models.embeddings.sincos_pos_embed import sincos_1d, sincos_2d

_RENAMES = (("x_embedder.", "patch_embed."),)  # official prefix → ours; everything else keeps its name
_ADALN = re.compile(r"^blocks\.(\d+)\.adaLN_modulation\.1\.(weight|bias)$")
_FIXED = ("pos_embed", "temp_embed")


def latte_to_walt(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """Official Latte state dict → walt ``LAVITA`` state dict (the fixed ``pos_embed``/``temp_embed`` dropped)."""
    out: dict[str, Tensor] = {}
    regressions: dict[str, dict[int, Tensor]] = {"weight": {}, "bias": {}}
    for key, value in sd.items():
        match = _ADALN.match(key)
        if match:
            regressions[match.group(2)][int(match.group(1))] = value
            continue
        if key in _FIXED:
            continue
        for old, new in _RENAMES:
            if key.startswith(old):
                key = new + key[len(old):]
        out[key] = value
    if not regressions["weight"]:
        raise ValueError("latte_to_walt: no 'blocks.{i}.adaLN_modulation.1.weight' keys: not a Latte state dict")
    if sorted(regressions["weight"]) != sorted(regressions["bias"]):
        raise ValueError("latte_to_walt: adaLN_modulation weight and bias keys name different blocks")
    order = sorted(regressions["weight"])
    out["conditioning.weight"] = torch.stack([regressions["weight"][i] for i in order])
    out["conditioning.bias"] = torch.stack([regressions["bias"][i] for i in order])
    return out


def walt_to_latte(sd: dict[str, Tensor], num_frames: int, grid_hw: tuple[int, int]) -> dict[str, Tensor]:
    """walt ``LAVITA`` state dict → official Latte layout, with ``pos_embed`` for a ``grid_hw`` token grid and
    ``temp_embed`` for ``num_frames`` frames (the fixed sin-cos tables Latte stores as frozen parameters)."""
    if "conditioning.weight" not in sd:
        raise ValueError("walt_to_latte: no 'conditioning.weight': only S-AdaLN/AdaLN models have a Latte layout")
    block_ids = sorted({int(k.split(".")[1]) for k in sd if k.startswith("blocks.")})
    weight, bias = sd["conditioning.weight"], sd["conditioning.bias"]
    if weight.shape[0] != len(block_ids) or weight.shape[1] != 6 * weight.shape[2]:
        raise ValueError(f"walt_to_latte: conditioning.weight {tuple(weight.shape)} is not (L={len(block_ids)}, 6D, D)")
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        if key.startswith("conditioning."):
            continue
        for old, new in _RENAMES:
            if key.startswith(new):
                key = old + key[len(new):]
        out[key] = value
    for layer, block in enumerate(block_ids):
        out[f"blocks.{block}.adaLN_modulation.1.weight"] = weight[layer]
        out[f"blocks.{block}.adaLN_modulation.1.bias"] = bias[layer]
    dim = weight.shape[2]
    out["pos_embed"] = sincos_2d(dim, *grid_hw)[None].to(weight.dtype)
    out["temp_embed"] = sincos_1d(dim, torch.arange(num_frames))[None].to(weight.dtype)
    return out


def _check_layout(model: nn.Module) -> None:
    from walt.models.backbones.lavita import LAVITA  # late import: lavita.py is the consumer of this module

    if not isinstance(model, LAVITA) or model.variant != 2 or not model.conditioning.modulated \
            or type(model.patch_embed).__name__ != "PatchEmbed" or model.temporal_position != "abs":
        raise ValueError("Latte checkpoints fit LAVITA(variant=2, conditioning=SAdaLN, patch_embed=PatchEmbed, "
                         "temporal_position='abs') only")


def to_latte_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The official Latte state dict of a walt ``LAVITA`` (variant 2) model."""
    _check_layout(model)
    grid = model.input_grid
    return walt_to_latte(model.state_dict(), grid.t, (grid.h, grid.w))


def load_latte_state_dict(model: nn.Module, sd: dict[str, Tensor], strict: bool = True) -> tuple[list[str], list[str]]:
    """Load an official Latte state dict into a walt ``LAVITA`` (variant 2) model; returns ``(missing,
    unexpected)`` keys. With ``strict=False`` an image-mode model (App. A.4, no temporal blocks) takes the
    spatial blocks of a video checkpoint. The fixed sin-cos tables must equal ours (a ValueError names the key)."""
    _check_layout(model)
    for key in _FIXED:
        if key in sd:
            ours = _fixed_table(model, key)
            if ours is not None and (sd[key].shape != ours.shape or not torch.allclose(sd[key].float(), ours, atol=1e-4)):
                raise ValueError(f"load_latte_state_dict: {key} {tuple(sd[key].shape)} differs from this model's fixed "
                                 f"sin-cos table {tuple(ours.shape)} (other resolution/frame count?)")
    converted = latte_to_walt(sd)
    built = sorted(int(k) for k in model.blocks)
    all_blocks = sorted({int(k.split(".")[1]) for k in converted if k.startswith("blocks.")})
    if built != all_blocks:  # keep the stacked regressions of the built blocks only
        keep = [all_blocks.index(b) for b in built if b in all_blocks]
        converted["conditioning.weight"] = converted["conditioning.weight"][keep]
        converted["conditioning.bias"] = converted["conditioning.bias"][keep]
        dropped = {str(b) for b in all_blocks if b not in built}
        unexpected_blocks = [k for k in converted if k.startswith("blocks.") and k.split(".")[1] in dropped]
        for k in unexpected_blocks:
            del converted[k]
        if strict and unexpected_blocks:
            raise ValueError(f"load_latte_state_dict: blocks {sorted(dropped, key=int)} are not in this model "
                             "(image mode?); pass strict=False to skip them")
    result = model.load_state_dict(converted, strict=strict)
    return list(result.missing_keys), list(result.unexpected_keys)


def _fixed_table(model: nn.Module, key: str) -> Tensor | None:
    """This model's fixed ``pos_embed`` (1, N, D) or ``temp_embed`` (1, F, D) table in the Latte layout."""
    grid = model.input_grid
    if key == "pos_embed":
        return sincos_2d(model.dim, grid.h, grid.w)[None]
    return sincos_1d(model.dim, torch.arange(grid.t))[None] if model.temporal else None
