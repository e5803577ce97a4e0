"""DiT (Peebles & Xie 2023) checkpoints: LAVITA §3.6 "learning with pre-trained models", and image-mode LAVITA ↔ DiT.

Layouts. The original ``DiT-XL-2-256x256.pt`` has Latte's keys without ``temp_embed`` (:mod:`.latte`). diffusers'
``DiTTransformer2DModel`` renames them (``pos_embed.proj``, ``transformer_blocks.{i}.attn1.to_{q,k,v}`` /
``to_out.0``, ``ff.net.{0.proj,2}``, ``norm1.linear`` = the block's adaLN regression, ``proj_out_1`` / ``proj_out_2``
= the output layer) and gives every block its own copy of the timestep and class embedders
(``transformer_blocks.{i}.norm1.emb``), identical in converted checkpoints: :func:`dit_diffusers_to_dit` requires
them equal. diffusers' DiT normalizes the MLP input with eps 1e-5 (its default), DiT and walt with 1e-6.

§3.6 initialization (:func:`dit_to_walt`), a video model from an image DiT, chosen by ``dit_init`` (the config key
``dit_init`` of ``tools/train.py --load-from``):

* ``"latte"`` (default; the public Latte ``train.py``): load by key name — every walt block ``k`` takes DiT's block
  ``k`` (attention, MLP and its adaLN regression). In variant 2 (Latte's layout) spatial block ``j`` (index ``2j``)
  takes DiT block ``2j`` and temporal block ``j`` (index ``2j + 1``) DiT block ``2j + 1``: all of DiT is used, its
  odd blocks as the temporal blocks' start. DiT blocks beyond the model's depth are unused;
* ``"spatial_only"``: spatial blocks as above, temporal blocks keep their fresh initialization (zero adaLN: each
  starts as the identity) and DiT's blocks of their index are unused. The video model then starts as DiT's even
  blocks applied per frame — not as DiT itself, whose odd blocks are dropped;
* either way, patch embedding, timestep MLP and output layer are copied; DiT's ``pos_embed`` must be the model's
  fixed table, which walt adds to every frame (the paper's "replicate the positional embedding n_f times");
* the label embedding: copied when the model has DiT's classes, zeroed when it has others (the paper: "discard the
  relative parameters of DiT's label embedding and initialize them with zero values"), dropped for an
  unconditional model.
"""
from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn

from walt.models.backbones.lavita import SPATIAL, TEMPORAL
from walt.models.convert.common import Converted, LayoutError
from walt.models.convert.latte import export_keys, map_keys
from walt.models.convert.layout import LATTE_ATTENTION, require_layout

DIT = dict(conditioning="SAdaLN", patch_embed="PatchEmbed", cross_attention=None, latte_text=None,
           extra_inputs=False, attention=LATTE_ATTENTION)
CLASS_NAME = "DiTTransformer2DModel"
_BLOCK = re.compile(r"^blocks\.(\d+)\.")
_EMBEDDERS = {"norm1.emb.timestep_embedder.linear_1.": "t_embedder.mlp.0.",
              "norm1.emb.timestep_embedder.linear_2.": "t_embedder.mlp.2.",
              "norm1.emb.class_embedder.embedding_table.": "y_embedder.embedding_table."}
_IN_BLOCK = {"norm1.linear.": "adaLN_modulation.1.", "attn1.to_out.0.": "attn.proj.", "ff.net.0.proj.": "mlp.fc1.",
             "ff.net.2.": "mlp.fc2."}
_SHARED = {"pos_embed.proj.": "x_embedder.proj.", "proj_out_1.": "final_layer.adaLN_modulation.1.",
           "proj_out_2.": "final_layer.linear."}
_QKV = ("to_q", "to_k", "to_v")
DIT_INIT = ("latte", "spatial_only")  # how §3.6 fills temporal blocks (module docstring)


# --------------------------------------------------------------------------------------------- §3.6 initialization
def dit_to_walt(sd: dict[str, Tensor], model: nn.Module, dit_init: str = "latte") -> Converted:
    """An original-layout DiT state dict as walt tensors initializing ``model`` (LAVITA §3.6, ``dit_init`` one of
    :data:`DIT_INIT`, module docstring)."""
    if dit_init not in DIT_INIT:
        raise ValueError(f"dit_init must be one of {DIT_INIT}, got {dit_init!r}")
    require_layout(model, "DiT", **DIT)
    kinds = model.kinds
    if any(kind not in (SPATIAL, TEMPORAL) for kind in kinds.values()):
        raise LayoutError(f"DiT initialization fills spatial blocks (variants 1 and 2, or an image-mode model); "
                          f"this model is variant {model.variant} with {sorted(set(kinds.values()))} blocks")
    out = map_keys(sd, model)
    for key in list(out.tensors):
        block = _row_block(key)
        kind = kinds.get(block) if block is not None else None
        if block is None or kind == SPATIAL or (kind == TEMPORAL and dit_init == "latte"):
            continue
        source = out.sources.pop(key)
        del out.tensors[key]
        out.unused[source] = ("DiT block of a temporal block's index: dit_init='spatial_only' starts temporal blocks "
                              "fresh (§3.6)" if kind == TEMPORAL else "not in this model")
    table = out.tensors.get("y_embedder.embedding_table.weight")
    if table is not None:
        if model.y_embedder is None:
            del out.tensors["y_embedder.embedding_table.weight"]
            out.unused[out.sources.pop("y_embedder.embedding_table.weight")] = \
                "unconditional model: DiT's label embedding dropped (§3.6)"
        elif table.shape != model.y_embedder.embedding_table.weight.shape:
            out.tensors["y_embedder.embedding_table.weight"] = torch.zeros_like(model.y_embedder.embedding_table.weight)
            out.notes.append(f"y_embedder.embedding_table.weight: DiT's {table.shape[0] - 1} classes discarded, the "
                             f"model's {model.num_classes} (+ null) initialized with zeros (§3.6)")
    return out


def _row_block(key: str) -> str | None:
    """The block a walt key belongs to (``blocks.3.…`` or a row ``conditioning.weight[3]``), else ``None``."""
    match = _BLOCK.match(key) or re.match(r"^conditioning\.\w+\[(\d+)\]$", key)
    return match[1] if match else None


# ------------------------------------------------------------------------------------------------ diffusers DiT
def check_dit_diffusers_config(config: dict[str, Any], model: nn.Module) -> list[str]:
    """A diffusers DiT ``config.json`` against the model (its state dict stores no position table: the resolution
    is only in the config); returns notes."""
    grid, p = model.input_grid, model.patch_size
    for key, value in dict(patch_size=p, sample_size=grid.h * p).items():
        if key in config and config[key] != value:
            raise LayoutError(f"diffusers DiT config {key}={config[key]}, but the model has {key}={value} (latent "
                              f"input {tuple(model.input_size)}, patch size {p})")
    if grid.h != grid.w:
        raise LayoutError(f"diffusers DiT models are square; the model's token grid is {grid.h}×{grid.w}")
    eps = config.get("norm_eps", 1e-5)
    return [] if eps == 1e-6 else [f"diffusers DiT normalizes the MLP input with eps {eps}, DiT and walt with 1e-6"]


def dit_diffusers_to_dit(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """A diffusers ``DiTTransformer2DModel`` state dict in the original DiT layout (every block's embedders must
    equal block 0's: the original layout has one)."""
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[int, str], dict[str, Tensor]] = {}
    for key, value in sd.items():
        match = re.match(r"^transformer_blocks\.(\d+)\.(.+)$", key)
        if match is None:
            if key == "pos_embed.pos_embed":
                out["pos_embed"] = value
                continue
            new = next((n + key[len(o):] for o, n in _SHARED.items() if key.startswith(o)), None)
            if new is None:
                raise LayoutError(f"diffusers DiT: unknown key {key}")
            out[new] = value
            continue
        i, rest = int(match[1]), match[2]
        emb = next((n + rest[len(o):] for o, n in _EMBEDDERS.items() if rest.startswith(o)), None)
        if emb is not None:
            if emb in out and not torch.equal(out[emb], value):
                raise LayoutError(f"diffusers DiT: {key} differs from another block's copy; the original DiT layout "
                                  f"(and walt) have one timestep/class embedder shared by all blocks")
            out[emb] = value
        elif rest.startswith("attn1.to_") and rest.split(".")[1] in _QKV:
            proj, kind = rest.split(".")[1:3]
            qkv.setdefault((i, kind), {})[proj] = value
        else:
            new = next((n + rest[len(o):] for o, n in _IN_BLOCK.items() if rest.startswith(o)), None)
            if new is None:
                raise LayoutError(f"diffusers DiT: unknown key {key}")
            out[f"blocks.{i}.{new}"] = value
    for (i, kind), parts in qkv.items():
        if set(parts) != set(_QKV):
            raise LayoutError(f"diffusers DiT block {i}: attn1 {kind} has {sorted(parts)}, needs {list(_QKV)}")
        out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts[p] for p in _QKV])
    return out


def dit_to_dit_diffusers(sd: dict[str, Tensor]) -> dict[str, Tensor]:
    """The inverse of :func:`dit_diffusers_to_dit` (the shared embedders copied into every block)."""
    blocks = sorted({int(m[1]) for k in sd if (m := _BLOCK.match(k))})
    out: dict[str, Tensor] = {}
    for key, value in sd.items():
        match = _BLOCK.match(key)
        if match:
            rest = key[len(match[0]):]
            if rest.startswith("attn.qkv."):
                kind = rest.split(".")[-1]
                out.update({f"transformer_blocks.{match[1]}.attn1.{p}.{kind}": v for p, v in zip(_QKV, value.chunk(3))})
            else:
                old = next(o + rest[len(n):] for o, n in _IN_BLOCK.items() if rest.startswith(n))
                out[f"transformer_blocks.{match[1]}.{old}"] = value
            continue
        emb = next((o + key[len(n):] for o, n in _EMBEDDERS.items() if key.startswith(n)), None)
        if emb is not None:
            out.update({f"transformer_blocks.{i}.{emb}": value for i in blocks})
        elif key != "pos_embed":  # a non-persistent buffer in diffusers
            out[next(o + key[len(n):] for o, n in _SHARED.items() if key.startswith(n))] = value
    return {k: v.contiguous() for k, v in out.items()}


# ------------------------------------------------------------------------------------------------ walt → DiT
def walt_to_dit(model: nn.Module) -> dict[str, Tensor]:
    """The original DiT state dict of an image-mode, class-conditional LAVITA whose blocks are all spatial and
    numbered ``0..L-1`` (variants 3 and 4 built with ``temporal=False``); refused otherwise."""
    require_layout(model, "DiT", temporal_blocks=False, text_pooled=False, **DIT)
    keys = list(model.blocks)
    if keys != [str(i) for i in range(len(keys))] or model.num_classes is None:
        raise LayoutError(f"the DiT layout expresses a class-conditional image model with blocks 0..L-1; this model "
                          f"has blocks {keys[:4]}... and num_classes={model.num_classes}")
    return export_keys(model)


def dit_diffusers_config(model: nn.Module) -> dict[str, Any]:
    """``config.json`` of the diffusers ``DiTTransformer2DModel`` equal to an image-mode LAVITA (see
    :func:`walt_to_dit`)."""
    grid, p = model.input_grid, model.patch_size
    if grid.h != grid.w:
        raise LayoutError(f"diffusers DiT models are square; the model's token grid is {grid.h}×{grid.w}")
    return dict(_class_name=CLASS_NAME, num_attention_heads=model.num_heads,
                attention_head_dim=model.dim // model.num_heads, in_channels=model.in_channels,
                out_channels=model.out_channels, num_layers=len(model.blocks), attention_bias=True,
                sample_size=grid.h * p, patch_size=p, activation_fn="gelu-approximate",
                num_embeds_ada_norm=model.num_classes, norm_type="ada_norm_zero", norm_elementwise_affine=False,
                norm_eps=1e-6)
