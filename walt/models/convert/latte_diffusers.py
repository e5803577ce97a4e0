"""The released Latte text-to-video model in the diffusers layout (``LatteTransformer3DModel``; Latte-1 and the
first release ``t2v.pt``, whose ``LatteT2V`` keys are the same) ↔ walt's LAVITA, both ways.

diffusers keeps spatial and temporal blocks in two lists: ``transformer_blocks.{i}`` is walt's block ``2i``,
``temporal_transformer_blocks.{i}`` walt's block ``2i+1`` (variant 2). Per block: ``attn1.to_{q,k,v}`` → the fused
``attn.qkv``, ``attn1.to_out.0`` → ``attn.proj``, ``attn2.to_q`` / ``to_{k,v}`` / ``to_out.0`` → the text
cross-attention's ``q`` / fused ``kv`` / ``proj``, ``ff.net.0.proj`` / ``ff.net.2`` → ``mlp.fc1`` / ``fc2``,
``scale_shift_table (6, D)`` → that block's row of adaLN-single's ``conditioning.table``. Shared:
``adaln_single.emb.timestep_embedder.linear_{1,2}`` → ``t_embedder.mlp.{0,2}``, ``adaln_single.linear`` →
``conditioning.linear``, ``caption_projection.linear_{1,2}`` → ``caption_projection.fc{1,2}``,
``pos_embed.proj`` → ``patch_embed.proj``, ``scale_shift_table (2, D)`` / ``proj_out`` → ``final_layer``.

What the keys cannot say, ``config.json`` does (checked when present): the norms must be non-affine with eps 1e-6,
the feed-forward GELU-tanh, and the sin-cos positions unscaled (``sample_size < 128``; diffusers divides positions
by ``sample_size // 64``).
"""
from __future__ import annotations

import re
from typing import Any

import torch
from torch import Tensor, nn

from walt.models.convert.common import Converted, LayoutError, row, shape
from walt.models.convert.latte import fixed_table
from walt.models.convert.layout import LATTE_ATTENTION, require_layout

LATTE_T2V = dict(variant=2, conditioning="AdaLNSingle", patch_embed="PatchEmbed", temporal_position="abs",
                 cross_attention="TextCrossAttention", latte_text=None, text_pooled=False, extra_inputs=False,
                 attention=LATTE_ATTENTION)
CLASS_NAME = "LatteTransformer3DModel"
_BLOCK = re.compile(r"^(transformer_blocks|temporal_transformer_blocks)\.(\d+)\.(.+)$")
_SHARED = {"pos_embed.proj.": "patch_embed.proj.", "adaln_single.emb.timestep_embedder.linear_1.": "t_embedder.mlp.0.",
           "adaln_single.emb.timestep_embedder.linear_2.": "t_embedder.mlp.2.", "adaln_single.linear.":
           "conditioning.linear.", "caption_projection.linear_1.": "caption_projection.fc1.",
           "caption_projection.linear_2.": "caption_projection.fc2.", "proj_out.": "final_layer.linear.",
           "scale_shift_table": "final_layer.scale_shift_table"}
_IN_BLOCK = {"attn1.to_out.0.": "attn.proj.", "attn2.to_q.": "cross_attn.q.", "attn2.to_out.0.": "cross_attn.proj.",
             "ff.net.0.proj.": "mlp.fc1.", "ff.net.2.": "mlp.fc2."}
_FUSED = {"attn1": ("attn.qkv", ("to_q", "to_k", "to_v")), "attn2": ("cross_attn.kv", ("to_k", "to_v"))}
# config.json values walt's blocks hard-code
_FIXED_CONFIG = dict(norm_type="ada_norm_single", norm_elementwise_affine=False, norm_eps=1e-6,
                     activation_fn="gelu-approximate")


def diffusers_latte_to_walt(sd: dict[str, Tensor], model: nn.Module, config: dict[str, Any] | None = None) -> Converted:
    """A diffusers ``LatteTransformer3DModel`` state dict (and its ``config.json``, if known) as walt tensors."""
    require_layout(model, "diffusers Latte", **LATTE_T2V)
    out = Converted()
    if config is None:
        out.notes.append("no config.json: norm type/eps, activation and position scaling assumed to be Latte-1's")
    else:
        _check_config(config, model)
    fused: dict[tuple[str, str], dict[str, Tensor]] = {}
    for key, value in sd.items():
        match = _BLOCK.match(key)
        if match is None:
            _shared(key, value, model, out)
            continue
        block = str(2 * int(match[2]) + (match[1] == "temporal_transformer_blocks"))
        rest = match[3]
        attn, _, proj = rest.partition(".")
        if rest == "scale_shift_table":
            out.put(row("conditioning.table", block), value, key)
        elif attn in _FUSED and proj.split(".")[0] in _FUSED[attn][1]:
            fused.setdefault((block, attn), {})[proj] = value
        else:
            new = next((n + rest[len(o):] for o, n in _IN_BLOCK.items() if rest.startswith(o)), None)
            if new is None:
                out.unused[key] = "no counterpart in walt's blocks"
            else:
                out.put(f"blocks.{block}.{new}", value, key)
    for (block, attn), parts in fused.items():
        name, projections = _FUSED[attn]
        for kind in ("weight", "bias"):
            keys = [f"{p}.{kind}" for p in projections]
            have = [k for k in keys if k in parts]
            if have and len(have) < len(keys):
                raise LayoutError(f"diffusers Latte block {block} {attn}: has {have} but not all of {keys}")
            if have:
                out.put(f"blocks.{block}.{name}.{kind}", torch.cat([parts[k] for k in keys]),
                        f"{_source_block(block)}.{attn}.{{{','.join(projections)}}}.{kind}")
    return out


def _source_block(block: str) -> str:
    i = int(block)
    return f"{'temporal_transformer_blocks' if i % 2 else 'transformer_blocks'}.{i // 2}"


def diffusers_module_names(name: str) -> list[str]:
    """The ``LatteTransformer3DModel`` module(s) of the walt LAVITA module ``name``: several for a fused projection
    (``attn.qkv`` → ``attn1.to_q``, ``to_k``, ``to_v``, in the order of its output rows); a :class:`LayoutError`
    for a module diffusers does not have."""
    shared = {new.rstrip("."): old.rstrip(".") for old, new in _SHARED.items() if old.endswith(".")}
    if name in shared:
        return [shared[name]]
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", name)
    if match:
        prefix, rest = _source_block(match[1]), match[2]
        for old, new in _IN_BLOCK.items():
            if rest == new.rstrip("."):
                return [f"{prefix}.{old.rstrip('.')}"]
        for attn, (fused, projections) in _FUSED.items():
            if rest == fused:
                return [f"{prefix}.{attn}.{p}" for p in projections]
    raise LayoutError(f"walt module {name} has no counterpart in diffusers' {CLASS_NAME}")


def _shared(key: str, value: Tensor, model: nn.Module, out: Converted) -> None:
    if key == "pos_embed.pos_embed":  # a persistent buffer in some diffusers versions: the fixed table
        ours = fixed_table(model, "pos_embed")
        if value.shape != ours.shape or not torch.allclose(value.float(), ours, atol=1e-4):
            raise LayoutError(f"pos_embed.pos_embed {shape(value)} is not the model's fixed sin-cos table "
                              f"{shape(ours)} (another resolution?)")
        out.notes.append("pos_embed.pos_embed equals the model's fixed sin-cos table")
        return
    if key == "caption_projection.y_embedding":  # stored by the first release (t2v.pt)
        out.notes.append(f"{key} {shape(value)} not loaded: PixArt-α's null-caption buffer, which the Latte T2V "
                         f"forward never reads")
        return
    new = next((n + key[len(o):] for o, n in _SHARED.items() if key.startswith(o)), None)
    if new is None:
        out.unused[key] = "no counterpart in walt's LAVITA"
    else:
        out.put(new, value, key)


def _check_config(config: dict[str, Any], model: nn.Module) -> None:
    for key, value in _FIXED_CONFIG.items():
        if key in config and config[key] != value:
            raise LayoutError(f"diffusers Latte config {key}={config[key]!r}: walt's LAVITA blocks have {value!r}")
    grid, p = model.input_grid, model.patch_size
    expected = dict(patch_size=p, sample_size=grid.h * p, video_length=grid.t, in_channels=model.in_channels)
    for key, value in expected.items():
        if key in config and config[key] != value:
            raise LayoutError(f"diffusers Latte config {key}={config[key]}, but the model has {key}={value} "
                              f"(latent input {tuple(model.input_size)}, patch size {p})")
    if grid.h != grid.w:
        raise LayoutError(f"diffusers Latte models are square (sample_size); the model's token grid is "
                          f"{grid.h}×{grid.w}")
    if config.get("sample_size", 0) >= 128:
        raise LayoutError(f"diffusers Latte config sample_size={config['sample_size']} scales its sin-cos positions by "
                          f"1/{config['sample_size'] // 64}; walt's table uses integer positions")


def walt_to_diffusers_latte(model: nn.Module) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state dict, config.json)`` of a diffusers ``LatteTransformer3DModel`` equal to the walt LAVITA ``model``
    (the released Latte T2V layout; refused otherwise)."""
    require_layout(model, "diffusers Latte", temporal_blocks=True, **LATTE_T2V)
    if model.num_classes is not None:
        raise LayoutError(f"the diffusers Latte layout has no class labels; the model has "
                          f"num_classes={model.num_classes}")
    grid, p = model.input_grid, model.patch_size
    if grid.h != grid.w or grid.h * p >= 128:
        raise LayoutError(f"the diffusers Latte layout needs a square latent of side < 128; the model's is "
                          f"{grid.h * p}×{grid.w * p}")
    sd = model.state_dict()
    out: dict[str, Tensor] = {}
    inverse = {v: k for k, v in _SHARED.items()}
    for key, value in sd.items():
        old = next((o + key[len(n):] for n, o in inverse.items() if key.startswith(n)), None)
        if old is not None:
            out[old] = value
    layers = list(model.blocks)
    for i, block in enumerate(layers):
        prefix = _source_block(block)
        out[f"{prefix}.scale_shift_table"] = sd["conditioning.table"][i]
        for old, new in _IN_BLOCK.items():
            for kind in ("weight", "bias"):
                if f"blocks.{block}.{new}{kind}" in sd:
                    out[f"{prefix}.{old}{kind}"] = sd[f"blocks.{block}.{new}{kind}"]
        for attn, (name, projections) in _FUSED.items():
            for kind in ("weight", "bias"):
                if f"blocks.{block}.{name}.{kind}" in sd:
                    parts = sd[f"blocks.{block}.{name}.{kind}"].chunk(len(projections))
                    out.update({f"{prefix}.{attn}.{p}.{kind}": v for p, v in zip(projections, parts)})
    bias = model.blocks["0"].attn.qkv.bias is not None
    if model.blocks["0"].mlp.fc1.out_features != 4 * model.dim:
        raise LayoutError("the diffusers Latte layout has mlp_ratio 4")
    config = dict(_class_name=CLASS_NAME, num_attention_heads=model.num_heads,
                  attention_head_dim=model.dim // model.num_heads, in_channels=model.in_channels,
                  out_channels=model.out_channels, num_layers=len(layers) // 2, cross_attention_dim=model.dim,
                  attention_bias=bias, sample_size=grid.h * p, patch_size=p, num_embeds_ada_norm=1000,
                  caption_channels=model.text_dim, video_length=grid.t, **_FIXED_CONFIG)
    return {k: v.contiguous() for k, v in out.items()}, config
