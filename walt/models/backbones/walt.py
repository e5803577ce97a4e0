"""The W.A.L.T denoiser (W.A.L.T §4.2–4.5, App. A): a window-attention transformer on latent videos.

Per-frame patchify → learned space + time position embedding → ``depth`` transformer layers alternating spatial
window (SW, even layers ``2i``) and spatiotemporal window (STW, odd layers ``2i+1``) self-attention, each with a
relative position bias, qk-norm and an MLP of ratio 4, modulated by AdaLN-LoRA (or separate AdaLN) from
``c + t`` → optional windowed cross-attention to text → adaLN final layer predicting ``out_channels`` (the v target;
twice the channels with ``learn_sigma``). Extra input channels (self-conditioning, frame prediction, SR low-res
latent) and the conditioning vector come from :class:`~walt.models.backbones.denoiser.LatentDenoiser`.

Switching attention from the command line (one ``--cfg-options`` key, no file edit):

* window size: ``model.backbone.spatiotemporal_window=[5,16,16]`` (or ``spatial_window``) — the one place for the
  window of each slot (``None``: the paper's 1×16×16 / 5×8×8); ``spatiotemporal_attention.window`` is refused, and so
  is a stated window for an attention that takes none (``FullAttention``, LAVITA's);
* attention kind: ``model.backbone.spatiotemporal_attention.type=FullAttention`` (any registered self-attention,
  LAVITA's included; a combination that cannot work is refused when the model is built, see
  :mod:`walt.models.attention.needs`);
* ``model.backbone.qk_norm=False``, ``model.backbone.rel_pos_bias=False``;
* ``model.backbone.compile=True``: ``torch.compile`` per transformer block (off by default; see
  ``docs/benchmarks/walt.md`` for when it pays off).

The backbone offers ``window``, ``qk_norm``, ``rel_pos_bias`` and ``input_grid`` to each attention it builds; an
attention class takes those it has a keyword for, unless its config sets them itself. Slot jobs (rule 7 of
:mod:`walt.models.attention.needs`, §4.2): the spatial slot mixes the tokens of a frame, the spatiotemporal slot
mixes frames.

Presets (:data:`WALT_PRESETS`, DiT style; ``preset=`` expands to depth/dim/heads/patch, explicit kwargs override;
``preset=None`` needs all four).
Table 8 is illegible in our copies (``shared/papers/walt-hyperparameters.md``); the presets are chosen so that the
parameter counts match the text: L and XL reproduce Table 3d / Table 4 (313M–357M, 458M, 460M) exactly to the
reported digits; WALT-SR-419M (24 × 1024, p = 2) and WALT-SR-1.3B (40 × 1408, p = 2) follow the SR rows of the
recovered table. The T2V base has 52 layers (recovered) and "3B parameters" (text); its width is illegible
("9216" reads as an MLP width, i.e. d = 2304, but that gives 4.4B with cross-attention), so we take d = 1920,
16 heads, which gives ≈ 3.1B with cross-attention to 4096-d (T5-XXL-sized) text tokens.

Default conditioning ``AdaLNLoRA(rank=2, lora_every_layer=True)``: Table 3d grows by 44M from r = 2 to r = 256,
i.e. ``L · 7d`` per unit of rank (24 LoRA pairs for L); Eq. 3's ``i ≠ 1`` (23 pairs) gives 355.1M for r = 256
(0.5% off) and 323M for r = 64, so the paper's counts imply a low-rank correction on every layer. Class labels
enter through ``c + t`` (§4.3); text through the cross-attention (tokens projected to ``d``) and, with
``text_pooled``, also through ``c``. In joint image–video training an image frame given its own class / caption
(``cond.frame_y``, ``cond.frame_text`` ...) is modulated by its own ``c + t`` in every layer and the output layer and
cross-attends to its own caption (``walt/models/conditioning/image_frames.py``).
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from registry import BACKBONES, CONDITIONINGS, PATCH_EMBEDS, POS_EMBEDS
from walt.models.attention.needs import (SPACE, TIME, AttentionSlotError, SlotJob, attention_takes, check_slots,
                                         type_name)
from walt.models.backbones.denoiser import LatentDenoiser, resolve_preset
from walt.models.blocks.final_layer import FinalLayer
from walt.models.blocks.transformer_block import TransformerBlock
from walt.models.conditioning.conditions import Conditions
from walt.models.conditioning.image_frames import FrameText
from walt.models.grid import Grid

WALT_PRESETS: dict[str, dict] = {
    "WALT-L": dict(depth=24, dim=1024, num_heads=16, patch_size=1),
    "WALT-XL": dict(depth=28, dim=1152, num_heads=16, patch_size=1),
    "WALT-T2V-3B": dict(depth=52, dim=1920, num_heads=16, patch_size=1),
    "WALT-SR-1.3B": dict(depth=40, dim=1408, num_heads=16, patch_size=2),
    "WALT-SR-419M": dict(depth=24, dim=1024, num_heads=16, patch_size=2),
}
# slot (config key) → its backbone window key, the paper's window, its job (W.A.L.T §4.2)
SLOTS = {"spatial_attention": ("spatial_window", (1, 16, 16),
                               SlotJob((SPACE,), "W.A.L.T §4.2: SW attention models the spatial relations in images "
                                                 "and videos")),
         "spatiotemporal_attention": ("spatiotemporal_window", (5, 8, 8),
                                      SlotJob((TIME,), "W.A.L.T §4.2: STW attention models the temporal "
                                                       "relationships among video latent frames"))}

# what a slot offers an attention for image frames of joint training (needs.py, rule 4): the SW slot must mix an
# image's own tokens; the STW slot keeps its attention's default (STW: §4.2's identity mask, images pass through)
SLOT_IMAGE_FRAMES = ({"image_frames": "own_frame"}, {})

def _slot_window(slot: str, attention: dict, window: Sequence[int | None] | None) -> tuple:
    """The window the backbone offers to the attention of ``slot``: ``model.backbone.<slot window key>`` is its one
    place (``None``: the paper's); a stated window must be taken by the attention."""
    key, default, _ = SLOTS[slot]
    if "window" in attention:
        raise AttentionSlotError(f"WALT {slot}.window={tuple(attention['window'])}: the window of this slot is "
                                 f"model.backbone.{key}; set it there")
    if window is not None and not attention_takes(attention, "window"):
        raise AttentionSlotError(f"WALT {key}={tuple(window)}: {type_name(attention)} in {slot} takes no window; "
                                 f"remove {key} (or set it to None)")
    return default if window is None else tuple(window)


@BACKBONES.register_module()
class WALT(LatentDenoiser):
    """W.A.L.T §4.2–4.5 denoiser: alternating SW/STW window transformer with AdaLN-LoRA (see module docstring)."""

    def __init__(self, in_channels: int = 8, input_size: Sequence[int] = (5, 16, 16), preset: str | None = "WALT-L",
                 depth: int | None = None, dim: int | None = None, num_heads: int | None = None,
                 patch_size: int | None = None, mlp_ratio: float = 4.0,
                 spatial_window: Sequence[int | None] | None = None,
                 spatiotemporal_window: Sequence[int | None] | None = None,
                 spatial_attention: dict | None = None, spatiotemporal_attention: dict | None = None,
                 qk_norm: bool = True, rel_pos_bias: bool = True,
                 conditioning: dict | None = None, pos_embed: dict | None = None, patch_embed: dict | None = None,
                 num_classes: int | None = None, class_embed_std: float = 0.02, text_dim: int | None = None,
                 text_pooled: bool = False, cross_attention: dict | None = None,
                 cross_attention_window: str = "spatial",
                 self_condition: bool = False, frame_prediction: bool = False, super_resolution: bool = False,
                 learn_sigma: bool = False, grad_checkpointing: bool = False, compile: bool = False):
        arch = resolve_preset("WALT", WALT_PRESETS, preset, depth=depth, dim=dim, num_heads=num_heads,
                              patch_size=patch_size)
        super().__init__(in_channels, arch["dim"], num_classes=num_classes, class_embed_std=class_embed_std,
                         text_dim=text_dim, text_pooled=text_pooled, self_condition=self_condition,
                         frame_prediction=frame_prediction, super_resolution=super_resolution, learn_sigma=learn_sigma,
                         grad_checkpointing=grad_checkpointing)
        if cross_attention is not None and not text_dim:  # would be dropped silently
            raise ValueError("WALT: cross_attention attends to text tokens, but the model has no text width (text_dim, "
                             "derived from the model's text encoder); remove cross_attention or add a text encoder")
        if cross_attention_window not in ("spatial", "block"):
            raise ValueError(f"WALT: cross_attention_window must be 'spatial' (joint image-video training) or "
                             f"'block' (the block's own SW/STW window), got {cross_attention_window!r}")
        self.depth, self.num_heads, self.patch_size = arch["depth"], arch["num_heads"], arch["patch_size"]
        self.input_size = tuple(int(s) for s in input_size)
        if len(self.input_size) != 3:
            raise ValueError(f"WALT: input_size must be the latent (t, h, w), got {tuple(input_size)}")

        # --- embeddings -------------------------------------------------------------------------------------
        self.patch_embed = PATCH_EMBEDS.build(
            patch_embed or dict(type="PatchEmbed"),
            default_args=dict(in_channels=self.input_channels, dim=self.dim, patch_size=self.patch_size))
        self.input_grid = self.patch_embed.grid(*self.input_size)
        self.pos_embed = POS_EMBEDS.build(pos_embed or dict(type="LearnedSpaceTimePosEmbed"),
                                          default_args=dict(dim=self.dim, grid=tuple(self.input_grid)))
        self.text_proj = nn.Linear(text_dim, self.dim) if text_dim else None  # text tokens → D for cross-attn

        # --- transformer layers: 2i spatial window, 2i+1 spatiotemporal window ------------------------------
        self.conditioning = CONDITIONINGS.build(
            conditioning or dict(type="AdaLNLoRA"),  # r = 2 on every layer: the class defaults
            default_args=dict(dim=self.dim, num_layers=self.depth))
        shared = dict(qk_norm=qk_norm, rel_pos_bias=rel_pos_bias, input_grid=tuple(self.input_grid))
        attentions = [dict(spatial_attention or dict(type="SpatialWindowAttention")),
                      dict(spatiotemporal_attention or dict(type="SpatiotemporalWindowAttention"))]
        windows = [_slot_window(slot, attention, window) for slot, attention, window in
                   zip(SLOTS, attentions, (spatial_window, spatiotemporal_window))]
        kinds = list(zip(attentions, windows))
        cross = None
        if self.text_proj is not None:  # §4.3: SW cross-attention for joint training, else the block's window
            cross = dict(cross_attention or dict(type="WindowCrossAttention"))
            if cross_attention_window == "spatial":
                cross.setdefault("window", windows[0])
        self.blocks = nn.ModuleList(
            TransformerBlock(self.dim, self.num_heads, attention=kinds[i % 2][0], mlp_ratio=mlp_ratio,
                             cross_attention=cross, modulated=self.conditioning.modulated,
                             attention_args=dict(shared, window=kinds[i % 2][1], **SLOT_IMAGE_FRAMES[i % 2]))
            for i in range(self.depth))
        self.final_layer = FinalLayer(self.dim, self.patch_size, self.out_channels,
                                      modulated=self.conditioning.modulated)
        check_slots("WALT", self.attention_slots(), self.input_grid, self.conditioning,
                    {slot: job for slot, (_, _, job) in SLOTS.items()})
        self.initialize_weights()
        if compile:
            self.compile_blocks(self.blocks)

    def own_text_inputs(self) -> tuple[str, ...]:
        return ("tokens",) if self.text_proj is not None else ()

    def attention_slots(self) -> list[tuple[str, str, nn.Module]]:
        """``(slot, config key, self-attention)`` of every layer."""
        keys = list(SLOTS)
        return [(f"layer {i} ({keys[i % 2]})", keys[i % 2], block.attn) for i, block in enumerate(self.blocks)]

    def _windowed_modules(self) -> list[tuple[str, nn.Module]]:
        mods = []
        for i, block in enumerate(self.blocks):
            mods.append((f"blocks.{i}.attn", block.attn))
            if block.cross_attn is not None:
                mods.append((f"blocks.{i}.cross_attn", block.cross_attn))
        return mods

    def _check_inputs(self, x: Tensor, image_mask: Tensor | None, text: Tensor | None,
                      text_mask: Tensor | None) -> None:
        """ValueErrors naming the expected and actual shapes, before any work is done."""
        if x.dim() != 5:
            raise ValueError(f"WALT: expected latents (B, {self.in_channels}, T, H, W), got shape {tuple(x.shape)}")
        b, _, t, h, w = x.shape
        p = self.patch_size
        if h % p or w % p:
            raise ValueError(f"WALT: latent (H, W)=({h}, {w}) of shape {tuple(x.shape)} is not divisible by the "
                             f"patch size {p}")
        grid = self.patch_embed.grid(t, h, w)
        for name, module in self._windowed_modules():
            window = module.window_on(grid)
            if any(g % wi for g, wi in zip(grid, window)):
                expected = tuple(wi * s for wi, s in zip(window, (1, p, p)))
                raise ValueError(f"WALT: latent shape {tuple(x.shape)} gives token grid (t, h, w)={tuple(grid)}, "
                                 f"not divisible by the {name} window {window}; expected latent (T, H, W) to be "
                                 f"multiples of {expected}")
        if image_mask is not None and tuple(image_mask.shape) != (b, t):
            raise ValueError(f"WALT: image_mask must have shape ({b}, {t}) (one flag per latent frame), "
                             f"got {tuple(image_mask.shape)}")
        if self.text_proj is not None:
            if text is None or text.dim() != 3 or text.shape[0] != b or text.shape[2] != self.text_dim:
                got = None if text is None else tuple(text.shape)
                raise ValueError(f"WALT: text cross-attention needs text tokens of shape ({b}, L, {self.text_dim}), "
                                 f"got {got}")
            if text_mask is not None and tuple(text_mask.shape) != tuple(text.shape[:2]):
                raise ValueError(f"WALT: text_mask must have shape {tuple(text.shape[:2])}, "
                                 f"got {tuple(text_mask.shape)}")

    def forward(self, x: Tensor, t: Tensor, cond: Conditions | None = None) -> Tensor:
        """Denoiser prediction ``(B, out_channels, T, H, W)``; ``cond`` as in :mod:`...backbones.denoiser`."""
        cond = Conditions() if cond is None else cond
        self._check_inputs(x, cond.image_mask, cond.text, cond.text_mask)
        tokens, grid = self.patch_embed(self.concat_inputs(x, cond.x_sc, cond.x_fp, cond.x_lr))
        tokens = self.pos_embed(tokens, grid, cond.image_mask)
        c = self.condition(t, cond.y, cond.text_pooled, cond.t_sr)
        mods = self.conditioning(c)
        context = self.text_proj(cond.text.to(tokens.dtype)) if self.text_proj is not None else None
        # Joint training: image frames with their own class / caption modulate and cross-attend with their own.
        frames = cond.image_frames(self, t)
        own_text = None
        if frames is not None:
            c, mods = frames.condition(c), frames.modulations(self.conditioning, mods)
            own_text = frames.cross_attention_text(self.text_proj, tokens.dtype)
        tokens, run_grid = self.conditioning.add_tokens(tokens, grid, c)
        tokens = self.run_blocks(tokens, run_grid, mods, cond.image_mask, context, cond.text_mask, own_text)
        return self.final_layer(self.conditioning.remove_tokens(tokens, grid), grid, c)

    def run_blocks(self, tokens: Tensor, grid: Grid, mods: Tensor, image_mask: Tensor | None = None,
                   context: Tensor | None = None, text_mask: Tensor | None = None,
                   own_text: FrameText | None = None) -> Tensor:
        """The transformer blocks on ``tokens`` ``(B, N, D)``; ``mods`` ``(depth, B, chunks, D)`` (the loop a step
        cache wraps at sampling, ``walt/models/generative/step_cache.py``)."""
        for block, mod in zip(self.blocks, mods):
            tokens = self.checkpointed(block, tokens, grid, mod, image_mask, context, text_mask, own_text)
        return tokens

    def interpolate_pos_embed(self, input_size: Sequence[int]) -> None:
        """Aspect-ratio finetuning (W.A.L.T App. A): move to a new latent size (e.g. 5×16×16 → 5×16×28), scaling
        every window with the grid and interpolating the absolute and relative position embeddings."""
        new_grid = self.patch_embed.grid(*input_size)
        for name, module in self._windowed_modules():
            module.set_grid(new_grid, name)
        self.pos_embed.interpolate(new_grid)
        self.input_size, self.input_grid = tuple(int(s) for s in input_size), new_grid
