"""LAVITA: the latent video diffusion transformer with factorized spatio-temporal blocks (lavita.md §3, App. A).

Reads top to bottom: presets, the block layout of the four variants, the model, its forward pass.

* Variants (§3.2, Fig. 2), chosen by ``variant``; ``depth`` is the same for all and counts every block:
  1 — ``depth/2`` spatial blocks then ``depth/2`` temporal blocks ("late fusion");
  2 — spatial and temporal blocks interleaved, even index spatial, odd temporal (the paper's best; Latte layout);
  3 — ``depth`` blocks, each spatial MHA then temporal MHA (:class:`SpatioTemporalBlock`);
  4 — ``depth`` blocks, each one MHA with half the heads spatial and half temporal, summed.
* Patch embedding (§3.3): ``PatchEmbed`` (uniform frame) or ``TubeEmbed`` (compression tube, with the 3-D
  transposed-conv head :class:`TubeFinalLayer`).
* Conditioning (§3.4): ``SAdaLN`` (default) or ``AllTokens``.
* Position (§3.3, §3.5): fixed 2-D sin-cos over space after the patch embedding; in time either the absolute 1-D
  sin-cos table, added to video frames right before the first temporal attention (as Latte does), or RoPE on the
  temporal attention's q/k (``temporal_position="rope"``).
* Output (§3.1): ``2C`` channels (ε and the learned variance interpolation) with ``learn_sigma=True``.
* Image–video joint training (§3.6): frames with ``image_mask`` True skip every temporal block (Latte passes only
  the video frames through them) and are excluded from temporal attention. ``temporal=False`` or a single latent
  frame builds no temporal block at all: an image DiT (App. A.4).

Parameter counts (App. A.1, Table 3; unconditional, learn_sigma, 4 latent channels, patch 2, fixed sin-cos tables
not trainable), pinned in ``tests/test_lavita_backbone.py``: variants 1 and 2 have 673,681,568 trainable parameters
(paper 673.68M). Variant 4 has the same 673,681,568 (paper 676.44M) — one MHA of the usual size per block, read
literally from Fig. 2d. Variant 3 reads Fig. 2c literally as ``depth`` blocks each holding two full MHAs and a
9-chunk S-AdaLN: 934,019,744 (paper 676.33M; the paper's count implies a smaller temporal MHA that it does not
describe). See docs/benchmarks/lavita.md.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from registry import BACKBONES, BLOCKS, CONDITIONINGS, PATCH_EMBEDS, POS_EMBEDS
from walt.models.backbones.denoiser import LatentDenoiser
from walt.models.blocks.final_layer import FinalLayer
from walt.models.blocks.lavita_blocks import SpatioTemporalBlock
from walt.models.blocks.tube_final_layer import TubeFinalLayer
from walt.models.grid import Grid

# ---------------------------------------------------------------------------------------------- presets (DiT sizes)
_SIZES = {"S": (12, 384, 6), "B": (12, 768, 12), "L": (24, 1024, 16), "XL": (28, 1152, 16)}
PRESETS: dict[str, dict[str, int]] = {
    f"LAVITA-{size}/{p}": dict(depth=d, dim=w, num_heads=h, patch_size=p)
    for size, (d, w, h) in _SIZES.items() for p in (2, 4, 8)
}

SPATIAL, TEMPORAL, SPATIOTEMPORAL, SPLIT_HEAD = "spatial", "temporal", "spatiotemporal", "split_head"


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


# ------------------------------------------------------------------------------------------------------- model
@BACKBONES.register_module()
class LAVITA(LatentDenoiser):
    """lavita.md §3: latent video diffusion transformer, variants 1–4; presets ``LAVITA-{S,B,L,XL}/{2,4,8}``."""

    def __init__(self, in_channels: int = 4, preset: str | None = "LAVITA-XL/2", depth: int | None = None,
                 dim: int | None = None, num_heads: int | None = None, patch_size: int | None = None,
                 variant: int = 2, num_frames: int = 16, input_size: int = 32, temporal: bool = True,
                 patch_embed: dict | None = None, conditioning: dict | None = None,
                 temporal_position: str = "abs", mlp_ratio: float = 4.0, qk_norm: bool = False,
                 spatial_heads: int | None = None, num_classes: int | None = None, text_dim: int | None = None,
                 text_pooled: bool = False, learn_sigma: bool = True, grad_checkpointing: bool = False,
                 **denoiser_kwargs):
        if preset is not None and preset not in PRESETS:
            raise KeyError(f"LAVITA: unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
        size = dict(PRESETS[preset]) if preset is not None else {}
        for key, value in dict(depth=depth, dim=dim, num_heads=num_heads, patch_size=patch_size).items():
            if value is not None:
                size[key] = value
            elif key not in size:
                raise ValueError(f"LAVITA: pass preset= or {key}=")
        if temporal_position not in ("abs", "rope"):
            raise ValueError(f"LAVITA: temporal_position must be 'abs' or 'rope', got {temporal_position!r}")
        dim = size["dim"]
        super().__init__(in_channels, dim, num_classes=num_classes, text_dim=text_dim, text_pooled=text_pooled,
                         learn_sigma=learn_sigma, **denoiser_kwargs)
        self.depth, self.num_heads, self.patch_size = size["depth"], size["num_heads"], size["patch_size"]
        self.variant, self.num_frames, self.input_size = variant, num_frames, input_size
        self.temporal_position, self.grad_checkpointing = temporal_position, grad_checkpointing
        p = self.patch_size

        self.patch_embed = PATCH_EMBEDS.build(patch_embed or dict(type="PatchEmbed"), default_args=dict(
            in_channels=self.input_channels, dim=dim, patch_size=p))
        temporal_patch = getattr(self.patch_embed, "temporal_patch", 1)
        if num_frames % temporal_patch:
            raise ValueError(f"LAVITA: num_frames={num_frames} is not divisible by temporal_patch={temporal_patch}")
        self.temporal = temporal and num_frames // temporal_patch > 1
        self.pos_embed = POS_EMBEDS.build(dict(type="SinCosPosEmbed2D"), default_args=dict(
            dim=dim, grid_size=(input_size // p, input_size // p)))
        self.temporal_pos_embed = POS_EMBEDS.build(dict(type="SinCosTemporalEmbed"), default_args=dict(
            dim=dim, num_frames=num_frames // temporal_patch)) if self.temporal and temporal_position == "abs" else None

        # Image mode (App. A.4) drops the temporal blocks; the kept blocks keep their index (checkpoint keys).
        kinds = block_kinds(variant, self.depth)
        if not self.temporal:  # variants 3 and 4 without their temporal part are spatial blocks
            kinds = [TEMPORAL if kind == TEMPORAL else SPATIAL for kind in kinds]
        self.kinds = {str(i): kind for i, kind in enumerate(kinds) if self.temporal or kind != TEMPORAL}
        num_chunks = SpatioTemporalBlock.num_chunks if SPATIOTEMPORAL in self.kinds.values() else 6
        self.conditioning = CONDITIONINGS.build(conditioning or dict(type="SAdaLN"), default_args=dict(
            dim=dim, num_layers=len(self.kinds), num_chunks=num_chunks))
        modulated = self.conditioning.modulated
        rope = temporal_position == "rope"
        spatial = dict(type="SpatialAttention", qk_norm=qk_norm)
        temporal_attn = dict(type="TemporalAttention", qk_norm=qk_norm, rope=rope)
        split = dict(type="SpatioTemporalSplitHeadAttention", qk_norm=qk_norm, rope=rope, spatial_heads=spatial_heads)
        cfgs = {
            SPATIAL: dict(type="TransformerBlock", attention=spatial, mlp_ratio=mlp_ratio, modulated=modulated),
            TEMPORAL: dict(type="TransformerBlock", attention=temporal_attn, mlp_ratio=mlp_ratio, modulated=modulated),
            SPATIOTEMPORAL: dict(type="SpatioTemporalBlock", spatial_attention=spatial,
                                 temporal_attention=temporal_attn, mlp_ratio=mlp_ratio, modulated=modulated),
            SPLIT_HEAD: dict(type="TransformerBlock", attention=split, mlp_ratio=mlp_ratio, modulated=modulated),
        }
        self.blocks = nn.ModuleDict({key: BLOCKS.build(cfgs[kind], default_args=dict(dim=dim, num_heads=self.num_heads))
                                     for key, kind in self.kinds.items()})
        head = dict(dim=dim, patch_size=p, out_channels=self.out_channels, modulated=modulated)
        self.final_layer = (TubeFinalLayer(temporal_patch=temporal_patch, **head) if temporal_patch > 1
                            else FinalLayer(**head))
        # Absolute temporal positions enter right before the first block that attends over time (Latte: after
        # the first spatial block in variant 2, after all spatial blocks in variant 1, at the input in 3 and 4).
        self.first_temporal = next((k for k, kind in self.kinds.items() if kind != SPATIAL), None)

    # ----------------------------------------------------------------------------------------------- forward
    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None, text: Tensor | None = None,
                text_mask: Tensor | None = None, text_pooled: Tensor | None = None, x_sc: Tensor | None = None,
                x_fp: Tensor | None = None, x_lr: Tensor | None = None, t_sr: Tensor | None = None,
                image_mask: Tensor | None = None) -> Tensor:
        """Noise (and variance) prediction ``(B, out_channels, T, H, W)``; see ``denoiser.py`` for the inputs."""
        if text is not None:
            raise ValueError("LAVITA conditions on the pooled text embedding (text_pooled, §4.4); per-token text "
                             "(text=) is a W.A.L.T cross-attention input")
        tokens, grid = self.patch_embed(self.concat_inputs(x, x_sc, x_fp, x_lr))
        image_mask = self._check_image_mask(image_mask, x, grid)
        tokens = self.pos_embed(tokens, grid)
        c = self.condition(t, y, text_pooled, t_sr)
        mods, run_grid = self.conditioning(c), grid
        if not self.conditioning.modulated:
            tokens, run_grid = self.conditioning.append(tokens, grid, c)
        for layer, (key, block) in enumerate(self.blocks.items()):
            if key == self.first_temporal and self.temporal_pos_embed is not None:
                tokens = self.temporal_pos_embed(tokens, run_grid, image_mask)
            mod = None if mods is None else mods[layer]
            if self.grad_checkpointing and torch.is_grad_enabled():
                tokens = checkpoint(self._run_block, key, tokens, run_grid, mod, image_mask, use_reentrant=False)
            else:
                tokens = self._run_block(key, tokens, run_grid, mod, image_mask)
        if not self.conditioning.modulated:
            tokens = self.conditioning.remove(tokens, grid)
        return self.final_layer(tokens, grid, c)

    def _run_block(self, key: str, tokens: Tensor, grid: Grid, mod: Tensor | None,
                   image_mask: Tensor | None) -> Tensor:
        out = self.blocks[key](tokens, grid, mod, image_mask)
        if self.kinds[key] == TEMPORAL and image_mask is not None:
            # §3.6: image frames bypass temporal blocks entirely (residual, norm and MLP included).
            is_image = image_mask[:, :, None].expand(-1, grid.t, grid.spatial).reshape(tokens.shape[0], -1, 1)
            out = torch.where(is_image, tokens, out)
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
