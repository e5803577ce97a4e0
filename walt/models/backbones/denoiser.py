"""What every denoiser backbone shares: presets, the input side (extra input channels and the conditioning vector
``c``), the checkpointed block call, ``torch.compile`` of blocks, and the weight initialization of both backbones
(:meth:`LatentDenoiser.initialize_weights`, DiT's, every initial value in one method).

Call contract of every backbone (what the diffusion code relies on)::

    backbone(x, t, cond) -> (B, out_channels, T, H, W)

* ``x`` noisy latents ``(B, C, T, H, W)``; ``t`` timesteps ``(B,)`` (integers of a 1000-step schedule, or the
  continuous time of rectified flow scaled to [0, 1000]).
* ``cond``: one :class:`~walt.models.conditioning.conditions.Conditions` value (``None`` = ``Conditions()``, an
  unconditional call) holding every other input, each ``None`` when not given:

  - ``y`` class labels ``(B,)`` (``num_classes`` = the null class for classifier-free guidance);
  - ``text`` per-token text embeddings ``(B, L, text_dim)`` with ``text_mask`` ``(B, L)`` bool (W.A.L.T cross-attn,
    Latte T2V); ``text_pooled`` ``(B, text_dim)`` added to ``c`` like a label (LAVITA T2V: the pooled CLIP output);
  - ``x_sc`` self-conditioning estimate of ``x_0`` ``(B, C, T, H, W)`` (W.A.L.T §4.3); zeros when omitted;
  - ``x_fp`` frame-prediction conditioning ``concat(m∘z, m)`` ``(B, C+1, T, H, W)`` (W.A.L.T §4.4); zeros when
    omitted;
  - ``x_lr`` low-resolution latent ``(B, C, T, H/2, W/2)`` (W.A.L.T §4.5), upsampled here by a learned
    depth-to-space convolution; ``t_sr`` its noise-augmentation level ``(B,)``, embedded and added to ``c``;
  - ``image_mask`` ``(B, T_latent)`` bool, True where a latent frame is an independent image;
  - per-frame conditions of joint image–video training, each image frame's own (read where ``image_mask`` is True;
    a video frame always takes its sample's ``y`` / text): ``frame_y`` ``(B, T_latent)`` class labels,
    ``frame_text`` ``(B, T_latent, L, text_dim)`` with ``frame_text_mask`` ``(B, T_latent, L)`` bool, and
    ``frame_text_pooled`` ``(B, T_latent, text_dim)``. W.A.L.T modulates an image frame with its own ``c + t`` and
    cross-attends it to its own tokens; LAVITA modulates its spatial blocks and final layer with it (temporal
    blocks keep the sample's) and, on the Latte T2V path, cross-attends it to its own caption. Without them (or
    without image frames) the per-sample path runs unchanged (``cond.image_frames(backbone, t)``,
    ``walt/models/conditioning/image_frames.py``).

Classifier-free guidance builds the null condition with ``cond.dropped(...)`` and runs both halves in one batch
with ``cond.concat(null)`` (``walt/diffusion/guidance.py``).

All extra inputs are concatenated to ``x`` along channels in the order ``[x, x_sc, x_fp, x_lr↑]``. What a backbone
is built for (``in_channels``, ``input_size``, ``learn_sigma``, which extra inputs, ``text_dim``) is derived by the
model that owns it (``LatentDiffusion``) and never stated in a config.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from walt.models.blocks.tube_final_layer import TubeFinalLayer
from walt.models.conditioning.adaln import AdaLN
from walt.models.conditioning.adaln_lora import AdaLNLoRA
from walt.models.conditioning.adaln_single import AdaLNSingle
from walt.models.embeddings.abs_pos_embed import LearnedSpaceTimePosEmbed
from walt.models.embeddings.condition_embeds import LabelEmbedder, TimestepEmbedder
from walt.models.embeddings.rel_pos_bias import RelativePositionBias
from walt.utils.compile_cache import use_isa_cache_dir


def resolve_preset(owner: str, presets: dict[str, dict], preset: str | None, **overrides: Any) -> dict:
    """``presets[preset]`` with the non-``None`` ``overrides`` on top; with ``preset=None`` every size must be given
    (a ``ValueError`` names the missing ones)."""
    if preset is not None and preset not in presets:
        raise KeyError(f"{owner}: unknown preset {preset!r}; presets are {', '.join(presets)}")
    size = dict(presets[preset]) if preset is not None else {}
    size.update({k: v for k, v in overrides.items() if v is not None})
    missing = [k for k in overrides if k not in size]
    if missing:
        raise ValueError(f"{owner}: preset=None needs {', '.join(missing)} (or name a preset: {', '.join(presets)})")
    return size


class DepthToSpace(nn.Module):
    """W.A.L.T §4.5: spatial ×``factor`` upsampling of a latent by a convolution to ``factor²·C`` channels followed
    by depth-to-space (pixel shuffle), applied per frame."""

    def __init__(self, channels: int, factor: int = 2):
        super().__init__()
        self.factor = factor
        self.conv = nn.Conv2d(channels, channels * factor * factor, kernel_size=3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        b, c, t, h, w = x.shape
        y = F.pixel_shuffle(self.conv(x.transpose(1, 2).reshape(b * t, c, h, w)), self.factor)
        return y.view(b, t, c, h * self.factor, w * self.factor).transpose(1, 2)


class LatentDenoiser(nn.Module):
    """Base class of the W.A.L.T and LAVITA backbones: builds the conditioning vector ``c`` and the
    channel-concatenated input. Subclasses implement ``forward`` with the signature in the module docstring."""

    def __init__(self, in_channels: int, dim: int, num_classes: int | None = None, class_embed_std: float = 0.02,
                 text_dim: int | None = None, text_pooled: bool = False, self_condition: bool = False,
                 frame_prediction: bool = False, super_resolution: bool = False, learn_sigma: bool = False,
                 grad_checkpointing: bool = False):
        super().__init__()
        self.in_channels, self.dim = in_channels, dim
        self.num_classes, self.text_dim, self.learn_sigma = num_classes, text_dim, learn_sigma
        self.self_condition, self.frame_prediction, self.super_resolution = (
            self_condition, frame_prediction, super_resolution)
        self.grad_checkpointing = grad_checkpointing
        self.out_channels = in_channels * (2 if learn_sigma else 1)
        self.input_channels = in_channels * (1 + self_condition + super_resolution) + (in_channels + 1) * frame_prediction
        self.t_embedder = TimestepEmbedder(dim)
        self.y_embedder = LabelEmbedder(num_classes, dim, class_embed_std) if num_classes else None
        self.text_pooled_proj = nn.Linear(text_dim, dim) if (text_dim and text_pooled) else None
        self.sr_embedder = TimestepEmbedder(dim) if super_resolution else None
        self.lr_upsample = DepthToSpace(in_channels) if super_resolution else None

    @property
    def text_inputs(self) -> tuple[str, ...]:
        """Which text inputs ``forward`` reads: ``"tokens"`` (``text``/``text_mask``) and/or ``"pooled"``."""
        return self.own_text_inputs() + (("pooled",) if self.text_pooled_proj is not None else ())

    def own_text_inputs(self) -> tuple[str, ...]:
        """The text inputs read by a backbone's own text modules (a method, not ``super()`` in a property, which
        ``torch.compile`` cannot trace: the inference compile would fall back to eager for the whole forward)."""
        return ()

    # ----------------------------------------------------------------------------------------------- inputs
    def condition(self, t: Tensor, y: Tensor | None = None, text_pooled: Tensor | None = None,
                  t_sr: Tensor | None = None) -> Tensor:
        """``c + t`` of W.A.L.T Eq. 3: timestep embedding plus every configured condition embedding, ``(B, D)``."""
        c = self.t_embedder(t)
        if self.y_embedder is not None:
            if y is None:
                raise ValueError(f"{type(self).__name__} is class-conditional (num_classes={self.num_classes}): "
                                 f"pass labels y of shape ({t.shape[0]},), or the null class {self.num_classes}")
            c = c + self.y_embedder(y)
        if self.text_pooled_proj is not None:
            if text_pooled is None:
                raise ValueError(f"{type(self).__name__} needs text_pooled of shape ({t.shape[0]}, {self.text_dim})")
            c = c + self.text_pooled_proj(text_pooled.to(c.dtype))
        if self.sr_embedder is not None:
            c = c + self.sr_embedder(t_sr if t_sr is not None else torch.zeros_like(t))
        return c

    def concat_inputs(self, x: Tensor, x_sc: Tensor | None = None, x_fp: Tensor | None = None,
                      x_lr: Tensor | None = None) -> Tensor:
        """``[x, x_sc, x_fp, upsample(x_lr)]`` along channels, zeros for omitted optional inputs."""
        if x.dim() != 5 or x.shape[1] != self.in_channels:
            raise ValueError(f"{type(self).__name__}: expected latents (B, {self.in_channels}, T, H, W), "
                             f"got shape {tuple(x.shape)}")
        b, c, t, h, w = x.shape
        extras = []
        if self.self_condition:
            extras.append(("x_sc", x_sc if x_sc is not None else torch.zeros_like(x)))
        if self.frame_prediction:
            extras.append(("x_fp", x_fp if x_fp is not None else x.new_zeros(b, c + 1, t, h, w)))
        if self.super_resolution:
            if x_lr is None:
                raise ValueError(f"{type(self).__name__} is a super-resolution stage: pass x_lr of shape "
                                 f"({b}, {c}, {t}, {h // 2}, {w // 2})")
            extras.append(("x_lr (upsampled)", self.lr_upsample(x_lr.to(x.dtype))))
        for name, p in extras:
            if p.shape[0] != b or p.shape[2:] != x.shape[2:]:
                raise ValueError(f"{type(self).__name__}: {name} has shape {tuple(p.shape)}, "
                                 f"expected batch {b} and (T, H, W)={tuple(x.shape[2:])}")
        return torch.cat([x] + [p.to(x.dtype) for _, p in extras], dim=1) if extras else x

    # ------------------------------------------------------------------------------------------ initialization
    #: PixArt-α / the released Latte T2V model: text cross-attention output projections start at zero (a no-op).
    zero_cross_attention = False

    @torch.no_grad()
    def initialize_weights(self) -> None:
        """Every initial value of the model, set in this order (DiT's ``initialize_weights``; Latte's is DiT's;
        W.A.L.T has no public code and builds on DiT). Each module also has a default of its own when built alone;
        a backbone overwrites every parameter here, so these lines are the model's initialization:

        1. DiT's ``_basic_init`` over the whole model: every ``nn.Linear`` xavier-uniform with zero bias (the
           text projections, caption MLP, ``latte_text`` projection, attention, cross-attention and MLP layers keep
           it); every affine LayerNorm (qk-norm, ``AllTokens`` blocks) weight 1, bias 0.
        2. Patch / tube embedding like an ``nn.Linear``: xavier-uniform over the flattened kernel, zero bias.
        3. Learned space and time position tables (W.A.L.T): trunc-normal(``init_std`` = 0.02); LAVITA's sin-cos
           tables are fixed buffers.
        4. Relative position bias tables (W.A.L.T §4.2, wherever a window attention sits): trunc-normal(0.02).
        5. Class table: normal(``class_embed_std``, DiT's 0.02 by default).
        6. Timestep and SR noise-level MLPs: weights normal(0.02) (biases zero from step 1).
        7. SR upsampling convolution (W.A.L.T §4.5): PyTorch's ``Conv2d`` default (kaiming-uniform(√5)).
        8. Conditioning: ``AdaLN`` / ``SAdaLN`` zeros (adaLN-Zero); ``AdaLNLoRA`` zero shared regression and
           ``W_b``, ``W_a ~ N(0, 1/d)`` (a fresh block is the identity either way); ``AdaLNSingle`` (PixArt-α)
           regression normal(0.02) with zero bias, per-block tables N(0, 1/d); ``AllTokens`` has no weights.
        9. With ``zero_cross_attention`` (LAVITA, PixArt-α): each cross-attention's output projection zeros.
        10. Output layer: zero linear and adaLN regression (a fresh model predicts 0), PixArt-α's ``(2, D)`` table
            N(0, 1/d); the tube head's temporal transposed convolution PyTorch's default weight (a zero kernel
            behind the zero decoder would block its gradient) and zero bias."""
        basic_init(self)  # 1
        conv = self.patch_embed.proj  # 2
        nn.init.xavier_uniform_(conv.weight.view(conv.weight.shape[0], -1))
        nn.init.zeros_(conv.bias)
        pos = getattr(self, "pos_embed", None)  # 3
        if isinstance(pos, LearnedSpaceTimePosEmbed):
            nn.init.trunc_normal_(pos.spatial, std=pos.init_std)
            nn.init.trunc_normal_(pos.temporal, std=pos.init_std)
        elif pos is not None and any(True for _ in pos.parameters()):
            raise TypeError(f"{type(self).__name__}.initialize_weights: no initial values listed for the position "
                            f"embedding {type(pos).__name__}; add them to LatentDenoiser.initialize_weights")
        for module in self.modules():  # 4
            if isinstance(module, RelativePositionBias):
                nn.init.trunc_normal_(module.table, std=module.init_std)
        if self.y_embedder is not None:  # 5
            nn.init.normal_(self.y_embedder.embedding_table.weight, std=self.y_embedder.init_std)
        for embedder in (self.t_embedder, self.sr_embedder):  # 6
            if embedder is not None:
                nn.init.normal_(embedder.mlp[0].weight, std=0.02)
                nn.init.normal_(embedder.mlp[2].weight, std=0.02)
        if self.lr_upsample is not None:  # 7
            self.lr_upsample.conv.reset_parameters()
        cond, dim = self.conditioning, self.dim  # 8
        if isinstance(cond, AdaLNLoRA):  # W.A.L.T Eq. 3: A^i = MLP(c + t) + W_b W_a (c + t), all zero at start
            nn.init.zeros_(cond.shared[1].weight)
            nn.init.zeros_(cond.shared[1].bias)
            nn.init.normal_(cond.lora_a, std=dim**-0.5)
            nn.init.zeros_(cond.lora_b)
        elif isinstance(cond, AdaLN):  # DiT's adaLN-Zero, one regression per block
            nn.init.zeros_(cond.weight)
            nn.init.zeros_(cond.bias)
        elif isinstance(cond, AdaLNSingle):  # PixArt-α
            nn.init.normal_(cond.linear.weight, std=0.02)
            nn.init.zeros_(cond.linear.bias)
            nn.init.normal_(cond.table, std=dim**-0.5)
        elif any(True for _ in cond.parameters()):
            raise TypeError(f"{type(self).__name__}.initialize_weights: no initial values listed for the conditioning "
                            f"{type(cond).__name__}; add them to LatentDenoiser.initialize_weights")
        if self.zero_cross_attention:  # 9
            for block in (self.blocks.values() if isinstance(self.blocks, nn.ModuleDict) else self.blocks):
                if getattr(block, "cross_attn", None) is not None:
                    nn.init.zeros_(block.cross_attn.proj.weight)
                    nn.init.zeros_(block.cross_attn.proj.bias)
        head = self.final_layer.decoder if isinstance(self.final_layer, TubeFinalLayer) else self.final_layer  # 10
        nn.init.zeros_(head.linear.weight)
        nn.init.zeros_(head.linear.bias)
        if head.adaLN_modulation is not None:
            nn.init.zeros_(head.adaLN_modulation[1].weight)
            nn.init.zeros_(head.adaLN_modulation[1].bias)
        if head.scale_shift_table is not None:
            nn.init.normal_(head.scale_shift_table, std=self.dim**-0.5)
        if isinstance(self.final_layer, TubeFinalLayer):
            self.final_layer.temporal_upsample.reset_parameters()
            nn.init.zeros_(self.final_layer.temporal_upsample.bias)

    # ----------------------------------------------------------------------------------------------- blocks
    def checkpointed(self, block: Callable[..., Tensor], *args: Any) -> Tensor:
        """``block(*args)``, through activation checkpointing when ``grad_checkpointing`` is on and training."""
        if self.grad_checkpointing and torch.is_grad_enabled():
            return checkpoint(block, *args, use_reentrant=False)
        return block(*args)

    def compile_blocks(self, blocks: Iterable[nn.Module]) -> None:
        """``torch.compile`` each block in place (state-dict keys unchanged): fuses its element-wise ops. The
        compile cache is kept per CPU ISA (``walt/utils/compile_cache.py``)."""
        use_isa_cache_dir()
        for block in blocks:
            block.compile()


def basic_init(*modules: nn.Module | None) -> None:
    """DiT's ``_basic_init`` on every ``nn.Linear`` inside ``modules`` (``None`` skipped): xavier-uniform weight, zero
    bias; and every affine ``nn.LayerNorm``: weight 1, bias 0."""
    for module in (m for root in modules if root is not None for m in root.modules()):
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm) and module.elementwise_affine:
            nn.init.ones_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)

