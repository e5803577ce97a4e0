"""What every denoiser backbone shares: presets, the input side (extra input channels and the conditioning vector
``c``), the checkpointed block call, ``torch.compile`` of blocks, and DiT's weight initialization.

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

from walt.models.embeddings.condition_embeds import LabelEmbedder, TimestepEmbedder
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
        return ("pooled",) if self.text_pooled_proj is not None else ()

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
    """DiT's ``_basic_init`` on every ``nn.Linear`` inside ``modules`` (in module order; ``None`` skipped):
    xavier-uniform weight, zero bias."""
    linears = [m for module in modules if module is not None for m in module.modules() if isinstance(m, nn.Linear)]
    for linear in linears:
        nn.init.xavier_uniform_(linear.weight)
        if linear.bias is not None:
            nn.init.zeros_(linear.bias)
