"""The public Latte code's checkpoints (``models/latte.py``, ``models/latte_img.py``; ``ffs.pt``, ``ucf101.pt`` ...)
↔ walt's LAVITA, both ways.

Layout (variant 2: even blocks spatial, odd temporal; S-AdaLN; per-frame patch embedding; absolute temporal
position): ``x_embedder.proj``, ``t_embedder.mlp.{0,2}``, ``y_embedder.embedding_table`` (class-conditional),
``text_embedding_projection.1`` (text-to-video, ``extras=78``), ``pos_embed (1, N, D)`` and ``temp_embed (1, F, D)``
(fixed sin-cos tables, frozen parameters; early checkpoints call the latter ``time_embed``),
``blocks.{i}.attn.{qkv,proj}``, ``blocks.{i}.mlp.{fc1,fc2}``, ``blocks.{i}.adaLN_modulation.1`` (one ``(6D, D)``
regression per block, chunks in :data:`~walt.models.conditioning.modulate.CHUNKS` order),
``final_layer.{linear,adaLN_modulation.1}``. walt differs in names, in stacking the per-block regressions
(``conditioning.weight (L, 6D, D)``), and in computing the sin-cos tables (checked on import, written on export).

The image-joint checkpoints (``latte_img.py``, LAVITA+IMG §3.6) have the same keys. Their meaning differs in two
places, which :func:`latte_img_to_walt` states: the frames after the ``F`` video frames of a training batch are
independent images that skip the temporal blocks and get no temporal position (walt: ``image_mask``), and the
text-to-video projection reads one pooled text embedding (1024-d) per frame instead of 77 flattened CLIP tokens.
"""
from __future__ import annotations

import re

import torch
from torch import Tensor, nn

from walt.models.convert.common import Converted, LayoutError, row, shape
from walt.models.convert.layout import LATTE_ATTENTION, require_layout
from walt.models.embeddings.sincos_pos_embed import sincos_1d, sincos_2d

LATTE = dict(variant=2, conditioning="SAdaLN", patch_embed="PatchEmbed", temporal_position="abs",
             cross_attention=None, text_pooled=False, extra_inputs=False, attention=LATTE_ATTENTION)
_RENAMES = (("x_embedder.", "patch_embed."), ("text_embedding_projection.1.", "latte_text_embed.linear."))
_ADALN = re.compile(r"^blocks\.(\d+)\.adaLN_modulation\.1\.(weight|bias)$")
_TEMPORAL_TABLE = ("temp_embed", "time_embed")


def latte_to_walt(sd: dict[str, Tensor], model: nn.Module) -> Converted:
    """A ``latte.py`` checkpoint (unconditional, class-conditional, or text-to-video with 77 × 768 flattened CLIP
    tokens, ``latte_text="tokens"``) as walt tensors for ``model``."""
    return _to_walt(sd, model, text_source="tokens", layout="Latte (latte.py)")


def latte_img_to_walt(sd: dict[str, Tensor], model: nn.Module) -> Converted:
    """A ``latte_img.py`` image–video joint checkpoint as walt tensors for ``model``: the keys of
    :func:`latte_to_walt`; its text-to-video projection reads the pooled text embedding (``latte_text="pooled"``).
    Trained with ``F`` video frames followed by independent image frames: in walt the image frames carry
    ``image_mask`` True (``JointAppendedFrames``), skip the temporal blocks and get no temporal position."""
    return _to_walt(sd, model, text_source="pooled", layout="Latte image-joint (latte_img.py)")


def _to_walt(sd: dict[str, Tensor], model: nn.Module, text_source: str, layout: str) -> Converted:
    facts = require_layout(model, layout, **LATTE)
    if "text_embedding_projection.1.weight" in sd and facts["latte_text"] != text_source:
        raise LayoutError(f"the {layout} checkpoint has text_embedding_projection.1.weight "
                          f"{shape(sd['text_embedding_projection.1.weight'])}, read by LAVITA(latte_text="
                          f"{text_source!r}); this model has latte_text={facts['latte_text']!r}")
    return map_keys(sd, model)


def map_keys(sd: dict[str, Tensor], model: nn.Module) -> Converted:
    """The key mapping of the Latte / DiT layout (no layout check): renames, per-block adaLN rows, fixed tables
    checked against the model's."""
    out = Converted()
    for key, value in sd.items():
        match = _ADALN.match(key)
        if match:
            out.put(row(f"conditioning.{match[2]}", match[1]), value, key)
        elif key == "pos_embed" or key in _TEMPORAL_TABLE:
            _check_fixed_table(model, key, value, out)
        else:
            new = next((n + key[len(o):] for o, n in _RENAMES if key.startswith(o)), key)
            out.put(new, value, key)
    return out


def walt_to_latte(model: nn.Module) -> dict[str, Tensor]:
    """The public Latte state dict of a walt LAVITA (variant 2 with temporal blocks; refused otherwise)."""
    require_layout(model, "Latte", temporal_blocks=True, **LATTE)
    return export_keys(model) | {"temp_embed": fixed_table(model, "temp_embed")}


def export_keys(model: nn.Module) -> dict[str, Tensor]:
    """The Latte / DiT keys of ``model`` (inverse of :func:`map_keys`, with ``pos_embed``; no layout check)."""
    layers = list(model.blocks)
    out: dict[str, Tensor] = {}
    for key, value in model.state_dict().items():
        if key.startswith("conditioning."):
            name = key.split(".", 1)[1]
            out.update({f"blocks.{b}.adaLN_modulation.1.{name}": value[i] for i, b in enumerate(layers)})
            continue
        old = next((o + key[len(n):] for o, n in _RENAMES if key.startswith(n)), key)
        out[old] = value
    out["pos_embed"] = fixed_table(model, "pos_embed")
    return out


def fixed_table(model: nn.Module, key: str) -> Tensor:
    """The model's ``pos_embed (1, h·w, D)`` or temporal ``(1, t, D)`` sin-cos table in the Latte/DiT layout."""
    grid = model.input_grid
    if key == "pos_embed":
        return sincos_2d(model.dim, grid.h, grid.w)[None]
    return sincos_1d(model.dim, torch.arange(grid.t))[None]


def _check_fixed_table(model: nn.Module, key: str, value: Tensor, out: Converted) -> None:
    """A stored sin-cos table must be this model's (other resolution / frame count otherwise)."""
    if key in _TEMPORAL_TABLE and not model.temporal:
        out.unused[key] = "image-mode model: no temporal position"
        return
    ours = fixed_table(model, "pos_embed" if key == "pos_embed" else "temp_embed")
    what = "resolution (token grid h·w)" if key == "pos_embed" else "number of frames"
    if value.shape != ours.shape:
        raise LayoutError(f"{key} has shape {shape(value)} in the checkpoint, but the model's fixed table has shape "
                          f"{shape(ours)}: another {what}")
    if not torch.allclose(value.float(), ours, atol=1e-4):
        raise LayoutError(f"{key} {shape(value)} holds other values than the model's fixed sin-cos table")
    out.notes.append(f"{key} {shape(value)} equals the model's fixed sin-cos table (not stored in walt)")
