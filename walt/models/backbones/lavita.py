"""LAVITA: the latent video diffusion transformer with factorized spatio-temporal blocks (lavita.md §3, App. A).

Reads top to bottom: presets, the block layout of the four variants, the model, its forward pass.

* Variants (§3.2, Fig. 2), chosen by ``variant``; ``depth`` is the same for all and counts every block:
  1 — ``depth/2`` spatial blocks then ``depth/2`` temporal blocks ("late fusion");
  2 — spatial and temporal blocks interleaved, even index spatial, odd temporal (the paper's best; Latte layout);
  3 — ``depth`` blocks, each spatial MHA then temporal MHA (:class:`SpatioTemporalBlock`);
  4 — ``depth`` blocks, each one MHA with half the heads spatial and half temporal, summed.
* Attentions: ``spatial_attention`` (default ``SpatialAttention``) of spatial blocks and the first MHA of variant-3
  blocks, ``temporal_attention`` (``TemporalAttention``) of temporal blocks and the second MHA of variant-3 blocks,
  ``spatiotemporal_attention`` (``SpatioTemporalSplitHeadAttention``) of variant-4 blocks. Any registered
  self-attention fits any of them (W.A.L.T's windows included); the backbone offers ``qk_norm``, ``rope``,
  ``spatial_heads`` and ``input_grid``, and refuses a combination that cannot work when it is built
  (:mod:`walt.models.attention.needs`).
* Patch embedding (§3.3): ``PatchEmbed`` (uniform frame) or ``TubeEmbed`` (compression tube, with the 3-D
  transposed-conv head :class:`TubeFinalLayer`).
* Conditioning (§3.4): ``SAdaLN`` (default) or ``AllTokens``.
* Size: ``input_size`` is the latent ``(t, h, w)`` the model is built for (derived by the model from
  ``video_size`` and the autoencoder); the fixed sin-cos tables are built for it and recomputed for other sizes.
* Position (§3.3, §3.5): fixed 2-D sin-cos over space after the patch embedding; in time either the absolute 1-D
  sin-cos table, added to video frames right before the first block whose attention mixes time (Latte: the first
  temporal block), or RoPE on the q/k of every attention that mixes time (``temporal_position="rope"``).
* Output (§3.1): ``2C`` channels (ε and the learned variance interpolation) with ``learn_sigma=True``.
* Text (§4.4): the pooled text embedding added to ``c`` (``text_pooled``); the released Latte T2V model's token
  cross-attention (``cross_attention``) and the public code's ``latte_text`` projection (``lavita_text.py``).
* Image–video joint training (§3.6): frames with ``image_mask`` True skip every temporal block (Latte passes only
  the video frames through them) and are excluded from temporal attention; an image frame given its own class or
  pooled text (``cond.frame_y`` / ``cond.frame_text_pooled``) is modulated by it in the spatial blocks and the final
  layer, as the public Latte image-joint code does (``walt/models/conditioning/image_frames.py``); on the Latte T2V
  path (``cross_attention``) its spatial blocks cross-attend to its own caption (``cond.frame_text`` /
  ``frame_text_mask``), as ``models/latte_t2v.py`` does. ``temporal=False`` or a single latent frame builds no
  temporal block at all: an image DiT (App. A.4).

Parameter counts (App. A.1, Table 3; unconditional, learn_sigma, 4 latent channels, patch 2, fixed sin-cos tables
not trainable), pinned in ``tests/test_lavita_backbone.py``: variants 1 and 2 have 673,681,568 trainable parameters
(paper 673.68M). Variant 4 has the same 673,681,568 (paper 676.44M) — one MHA of the usual size per block, read
literally from Fig. 2d. Variant 3 reads Fig. 2c literally as ``depth`` blocks each holding two full MHAs and a
9-chunk S-AdaLN: 934,019,744 (paper 676.33M; the paper's count implies a smaller temporal MHA that it does not
describe). See docs/benchmarks/lavita.md.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from registry import BACKBONES, CONDITIONINGS, PATCH_EMBEDS
from walt.models.attention.needs import SPACE, TIME, AttentionSlotError, SlotJob, attention_takes, check_slots
from walt.models.backbones.denoiser import LatentDenoiser, resolve_preset
from walt.models.backbones.lavita_text import check_frame_text, text_inputs, text_modules
from walt.models.blocks.final_layer import FinalLayer
from walt.models.blocks.lavita_blocks import SpatioTemporalBlock
from walt.models.blocks.transformer_block import TransformerBlock
from walt.models.blocks.tube_final_layer import TubeFinalLayer
from walt.models.conditioning.conditions import Conditions
from walt.models.conditioning.image_frames import FrameText
from walt.models.embeddings.sincos_pos_embed import SinCosPosEmbed2D, SinCosTemporalEmbed
from walt.models.grid import Grid

# ---------------------------------------------------------------------------------------------- presets (DiT sizes)
_SIZES = {"S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16)}
PRESETS: dict[str, dict[str, int]] = {
    f"LAVITA-{size}/{p}": dict(depth=d, dim=w, num_heads=h, patch_size=p)
    for size, (d, w, h) in _SIZES.items() for p in (2, 4, 8)
}

SPATIAL, TEMPORAL, SPATIOTEMPORAL, SPLIT_HEAD = "spatial", "temporal", "spatiotemporal", "split_head"
# the job of each slot (config key), rule 7 of walt/models/attention/needs.py
SLOT_JOBS = {"spatial_attention": SlotJob((SPACE,), "LAVITA §3.2: spatial MHA among the tokens of one frame"),
             "temporal_attention": SlotJob((TIME,), "LAVITA §3.2: temporal MHA across frames"),
             "spatiotemporal_attention": SlotJob((SPACE, TIME), "LAVITA §3.2 variant 4: one MHA, some heads spatial "
                                                                "and the rest temporal")}


# ------------------------------------------------------------------------------------------------- block layout
def block_kinds(variant: int, depth: int) -> list[str]:
    """The kind of each of the ``depth`` blocks of a LAVITA variant (§3.2)."""
    if variant in (1, 2) and depth % 2:
        raise ValueError(f"LAVITA variant {variant}: depth={depth} must be even (spatial + temporal blocks)")
    if variant == 1:
        return [SPATIAL] * (depth // 2) + [TEMPORAL] * (depth // 2)
    if variant == 2:
        return [SPATIAL if i % 2 == 0 else TEMPORAL for i in range(depth)]
    if variant == 3:
        return [SPATIOTEMPORAL] * depth
    if variant == 4:
        return [SPLIT_HEAD] * depth
    raise ValueError(f"LAVITA: variant must be one of 1, 2, 3, 4 (lavita.md §3.2), got {variant!r}")


def _check_stated(kinds: set[str], stated: dict[str, dict | None], attentions: dict[str, dict],
                  spatial_heads: int | None, variant: int) -> None:
    """An attention config for a slot this model does not build, or ``spatial_heads`` that no built attention takes,
    would be dropped silently: refused naming the key."""
    used = {"spatial_attention": bool(kinds & {SPATIAL, SPATIOTEMPORAL}),
            "temporal_attention": bool(kinds & {TEMPORAL, SPATIOTEMPORAL}),
            "spatiotemporal_attention": SPLIT_HEAD in kinds}
    for key, cfg in stated.items():
        if cfg is not None and not used[key]:
            raise AttentionSlotError(f"LAVITA {key}: this model (variant {variant}, blocks {sorted(kinds)}) has no "
                                     f"{key} slot; remove it")
    slots = {SPATIAL: "spatial_attention", TEMPORAL: "temporal_attention", SPLIT_HEAD: "spatiotemporal_attention"}
    built = [attentions[kind] for kind, key in slots.items() if used[key]]
    if spatial_heads is not None and not any(attention_takes(cfg, "spatial_heads") for cfg in built):
        raise AttentionSlotError(f"LAVITA spatial_heads={spatial_heads}: no attention of this model takes it (it "
                                 f"splits the heads of SpatioTemporalSplitHeadAttention, variant 4); remove it")


# ------------------------------------------------------------------------------------------------------- model
@BACKBONES.register_module()
class LAVITA(LatentDenoiser):
    """lavita.md §3: latent video diffusion transformer, variants 1–4; presets ``LAVITA-{S,B,L,XL}/{2,4,8}``."""

    zero_cross_attention = True  # PixArt-α / Latte T2V: text cross-attention starts as a no-op (initialize_weights)

    def __init__(self, in_channels: int = 4, input_size: Sequence[int] = (16, 32, 32),
                 preset: str | None = "LAVITA-XL/2", depth: int | None = None, dim: int | None = None,
                 num_heads: int | None = None, patch_size: int | None = None, variant: int = 2,
                 temporal: bool = True, patch_embed: dict | None = None, conditioning: dict | None = None,
                 spatial_attention: dict | None = None, temporal_attention: dict | None = None,
                 spatiotemporal_attention: dict | None = None,
                 temporal_position: str = "abs", mlp_ratio: float = 4.0, qk_norm: bool = False,
                 spatial_heads: int | None = None, num_classes: int | None = None, class_embed_std: float = 0.02,
                 text_dim: int | None = None, text_pooled: bool = True, cross_attention: dict | None = None,
                 latte_text: str | None = None, text_length: int = 77, learn_sigma: bool = True,
                 self_condition: bool = False, frame_prediction: bool = False, super_resolution: bool = False,
                 grad_checkpointing: bool = False, compile: bool = False):
        size = resolve_preset("LAVITA", PRESETS, preset, depth=depth, dim=dim, num_heads=num_heads,
                              patch_size=patch_size)
        if temporal_position not in ("abs", "rope"):
            raise ValueError(f"LAVITA: temporal_position must be 'abs' or 'rope', got {temporal_position!r}")
        dim = size["dim"]
        super().__init__(in_channels, dim, num_classes=num_classes, class_embed_std=class_embed_std,
                         text_dim=text_dim, text_pooled=text_pooled, self_condition=self_condition,
                         frame_prediction=frame_prediction, super_resolution=super_resolution,
                         learn_sigma=learn_sigma, grad_checkpointing=grad_checkpointing)
        self.depth, self.num_heads, self.patch_size = size["depth"], size["num_heads"], size["patch_size"]
        self.input_size = tuple(int(s) for s in input_size)
        if len(self.input_size) != 3:
            raise ValueError(f"LAVITA: input_size must be the latent (t, h, w), got {tuple(input_size)}")
        self.variant, self.temporal_position = variant, temporal_position
        p = self.patch_size
        self.caption_projection, self.latte_text_embed = text_modules(
            dim, text_dim, text_pooled, cross_attention, latte_text, text_length, variant)

        self.patch_embed = PATCH_EMBEDS.build(patch_embed or dict(type="PatchEmbed"), default_args=dict(
            in_channels=self.input_channels, dim=dim, patch_size=p))
        self.input_grid = self.patch_embed.grid(*self.input_size)
        if self.input_grid.t * getattr(self.patch_embed, "temporal_patch", 1) != self.input_size[0]:
            raise ValueError(f"LAVITA: {self.input_size[0]} latent frames are not divisible by the patch "
                             f"embedding's temporal_patch={self.patch_embed.temporal_patch}")
        self.temporal = temporal and self.input_grid.t > 1
        self.pos_embed = SinCosPosEmbed2D(dim, (self.input_grid.h, self.input_grid.w))
        self.temporal_pos_embed = (SinCosTemporalEmbed(dim, self.input_grid.t)
                                   if self.temporal and temporal_position == "abs" else None)

        # Image mode (App. A.4) drops the temporal blocks; the kept blocks keep their index (checkpoint keys).
        kinds = block_kinds(variant, self.depth)
        if not self.temporal:  # variants 3 and 4 without their temporal part are spatial blocks
            kinds = [TEMPORAL if kind == TEMPORAL else SPATIAL for kind in kinds]
        self.kinds = {str(i): kind for i, kind in enumerate(kinds) if self.temporal or kind != TEMPORAL}
        num_chunks = SpatioTemporalBlock.num_chunks if SPATIOTEMPORAL in self.kinds.values() else 6
        self.conditioning = CONDITIONINGS.build(conditioning or dict(type="SAdaLN"), default_args=dict(
            dim=dim, num_layers=len(self.kinds), num_chunks=num_chunks))
        attentions = {SPATIAL: spatial_attention or dict(type="SpatialAttention"),
                      TEMPORAL: temporal_attention or dict(type="TemporalAttention"),
                      SPLIT_HEAD: spatiotemporal_attention or dict(type="SpatioTemporalSplitHeadAttention")}
        _check_stated(set(self.kinds.values()), dict(spatial_attention=spatial_attention,
                      temporal_attention=temporal_attention, spatiotemporal_attention=spatiotemporal_attention),
                      attentions, spatial_heads, variant)
        offered = dict(qk_norm=qk_norm, rope=temporal_position == "rope", spatial_heads=spatial_heads,
                       input_grid=tuple(self.input_grid))
        self.blocks = nn.ModuleDict({key: self._block(kind, mlp_ratio, attentions, offered, cross_attention)
                                     for key, kind in self.kinds.items()})
        head = dict(dim=dim, patch_size=p, out_channels=self.out_channels, modulated=self.conditioning.modulated,
                    table=self.conditioning.final_table)
        temporal_patch = getattr(self.patch_embed, "temporal_patch", 1)
        self.final_layer = (TubeFinalLayer(temporal_patch=temporal_patch, **head) if temporal_patch > 1
                            else FinalLayer(**head))
        needs = check_slots("LAVITA", self.attention_slots(), self.input_grid, self.conditioning, SLOT_JOBS,
                            refuse_time=None if temporal else "temporal=False builds an image model (App. A.4) whose "
                                                              "frames are independent",
                            rope_position=self.temporal and temporal_position == "rope")
        # Absolute temporal positions enter right before the first block that attends over time (Latte: after
        # the first spatial block in variant 2, after all spatial blocks in variant 1, at the input in 3 and 4).
        self.first_temporal = next((key for (key, _, _), need in zip(self._attentions(), needs)
                                    if need.mixes_time(self.input_grid)), None)
        self.initialize_weights()
        if compile:
            self.compile_blocks(self.blocks.values())

    def _block(self, kind: str, mlp_ratio: float, attentions: dict[str, dict], offered: dict,
               cross_attention: dict | None) -> nn.Module:
        common = dict(dim=self.dim, num_heads=self.num_heads, mlp_ratio=mlp_ratio,
                      modulated=self.conditioning.modulated, attention_args=offered)
        if kind == SPATIOTEMPORAL:
            return SpatioTemporalBlock(spatial_attention=attentions[SPATIAL], temporal_attention=attentions[TEMPORAL],
                                       **common)
        cross = cross_attention if kind == SPATIAL else None  # PixArt-α / Latte T2V: text in spatial blocks only
        if kind in (SPATIAL, SPLIT_HEAD):  # a slot that mixes a frame's tokens mixes an image's own (needs.py, rule 4)
            common["attention_args"] = dict(offered, image_frames="own_frame")
        return TransformerBlock(attention=attentions[kind], cross_attention=cross, **common)

    def _attentions(self) -> list[tuple[str, str, nn.Module]]:
        """``(block key, config key, self-attention)`` of every block in order."""
        keys = {SPATIAL: ["spatial_attention"], TEMPORAL: ["temporal_attention"],
                SPATIOTEMPORAL: ["spatial_attention", "temporal_attention"], SPLIT_HEAD: ["spatiotemporal_attention"]}
        return [(key, name, attn) for key, block in self.blocks.items()
                for name, attn in zip(keys[self.kinds[key]], (block.attn, getattr(block, "attn_temporal", None)))]

    def attention_slots(self) -> list[tuple[str, str, nn.Module]]:
        """``(slot, config key, self-attention)`` of every block."""
        return [(f"block {key} ({name})", name, attn) for key, name, attn in self._attentions()]

    def own_text_inputs(self) -> tuple[str, ...]:
        return text_inputs(self.caption_projection, self.latte_text_embed)

    # ----------------------------------------------------------------------------------------------- forward
    def forward(self, x: Tensor, t: Tensor, cond: Conditions | None = None) -> Tensor:
        """Noise (and variance) prediction ``(B, out_channels, T, H, W)``; see ``denoiser.py`` for ``cond``."""
        cond = Conditions() if cond is None else cond
        text, text_mask, text_pooled = cond.text, cond.text_mask, cond.text_pooled
        if (text is None) == ("tokens" in self.text_inputs):
            raise ValueError("LAVITA: per-token text (cond.text) is read exactly when the model has cross_attention "
                             f"or latte_text='tokens'; this model reads {self.text_inputs or 'no text'}")
        tokens, grid = self.patch_embed(self.concat_inputs(x, cond.x_sc, cond.x_fp, cond.x_lr))
        image_mask = self._check_image_mask(cond.image_mask, x, grid)
        tokens = self.pos_embed(tokens, grid)
        c = self.condition(t, cond.y, text_pooled, cond.t_sr)
        # Latte's text_embedding_projection conditions the blocks only; its output layer sees the timestep alone
        c_blocks = c if self.latte_text_embed is None else c + self.latte_text_embed(text, text_pooled)
        context = None if self.caption_projection is None else self.caption_projection(text.to(tokens.dtype))
        mods = self.conditioning(c_blocks)
        # §3.6 as Latte: image frames with their own class / text take it in the spatial blocks and the final layer,
        # temporal blocks keep the clip's condition (conditioning/image_frames.py).
        frames = cond.image_frames(self, t)
        frame_mods, c_tokens, c_final, own_text = mods, c_blocks, c, None
        if frames is not None:
            check_frame_text(frames, self.latte_text_embed)  # c_blocks is c below
            frame_mods, c_final = frames.modulations(self.conditioning, mods), frames.condition(c)
            c_tokens = c_final
            if self.caption_projection is not None:  # Latte T2V: an image's spatial blocks attend to its caption
                own_text = frames.cross_attention_text(self.caption_projection, tokens.dtype)
        tokens, run_grid = self.conditioning.add_tokens(tokens, grid, c_tokens)
        tokens = self.run_blocks(tokens, run_grid, mods, frame_mods, image_mask, context, text_mask, own_text)
        return self.final_layer(self.conditioning.remove_tokens(tokens, grid), grid, c_final)

    def run_blocks(self, tokens: Tensor, grid: Grid, mods: Tensor, frame_mods: Tensor,
                   image_mask: Tensor | None = None, context: Tensor | None = None,
                   text_mask: Tensor | None = None, own_text: FrameText | None = None) -> Tensor:
        """The spatial and temporal blocks on ``tokens`` ``(B, N, D)``; ``mods`` ``(depth, B, chunks, D)`` (the
        loop a step cache wraps at sampling, ``walt/models/generative/step_cache.py``)."""
        for (key, block), mod, frame_mod in zip(self.blocks.items(), mods, frame_mods):
            if key == self.first_temporal and self.temporal_pos_embed is not None:
                tokens = self.temporal_pos_embed(tokens, grid, image_mask)
            mod = mod if self.kinds[key] == TEMPORAL else frame_mod
            tokens = self.checkpointed(self._run_block, key, tokens, grid, mod, image_mask, context, text_mask,
                                       own_text)
        return tokens

    def _run_block(self, key: str, tokens: Tensor, grid: Grid, mod: Tensor, image_mask: Tensor | None,
                   context: Tensor | None = None, context_mask: Tensor | None = None,
                   frame_text: FrameText | None = None) -> Tensor:
        text = (context, context_mask, frame_text) if context is not None and self.kinds[key] == SPATIAL else ()
        out = self.blocks[key](tokens, grid, mod, image_mask, *text)
        if self.kinds[key] == TEMPORAL and image_mask is not None:
            # §3.6: image frames bypass temporal blocks entirely (residual, norm and MLP included).
            out = torch.where(grid.token_mask(image_mask)[:, :, None], tokens, out)
        return out

    def _check_image_mask(self, image_mask: Tensor | None, x: Tensor, grid: Grid) -> Tensor | None:
        if image_mask is None:
            return None
        if image_mask.shape != (x.shape[0], x.shape[2]) or image_mask.dtype != torch.bool:
            raise ValueError(f"LAVITA: image_mask must be a bool (B, T)=({x.shape[0]}, {x.shape[2]}) tensor, got "
                             f"{image_mask.dtype} {tuple(image_mask.shape)}")
        if grid.t != x.shape[2]:
            raise ValueError("LAVITA: image-video joint training (image_mask) needs the per-frame PatchEmbed; a tube "
                             f"embedding merges {x.shape[2] // grid.t} frames into one token frame")
        return image_mask if bool(image_mask.any()) else None
