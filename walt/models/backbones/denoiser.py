"""The input side shared by every denoiser backbone: extra input channels and the conditioning vector ``c``.

Call contract of every backbone (what the diffusion code relies on)::

    backbone(x, t, y=None, text=None, text_mask=None, text_pooled=None,
             x_sc=None, x_fp=None, x_lr=None, t_sr=None, image_mask=None) -> (B, out_channels, T, H, W)

* ``x`` noisy latents ``(B, C, T, H, W)``; ``t`` integer timesteps ``(B,)``.
* ``y`` class labels ``(B,)`` (``num_classes`` = the null class for classifier-free guidance).
* ``text`` per-token text embeddings ``(B, L, text_dim)`` with ``text_mask`` ``(B, L)`` bool (W.A.L.T cross-attn);
  ``text_pooled`` ``(B, text_dim)`` added to ``c`` like a label (LAVITA T2V uses the pooled CLIP output).
* ``x_sc`` self-conditioning estimate of ``x_0`` ``(B, C, T, H, W)`` (W.A.L.T §4.3); zeros when omitted.
* ``x_fp`` frame-prediction conditioning ``concat(m∘z, m)`` ``(B, C+1, T, H, W)`` (W.A.L.T §4.4); zeros when omitted.
* ``x_lr`` low-resolution latent ``(B, C, T, H/2, W/2)`` (W.A.L.T §4.5), upsampled here by a learned
  depth-to-space convolution; ``t_sr`` its noise-augmentation level ``(B,)``, embedded and added to ``c``.
* ``image_mask`` ``(B, T_latent)`` bool, True where a latent frame is an independent image.

All extra inputs are concatenated to ``x`` along channels in the order ``[x, x_sc, x_fp, x_lr↑]``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from walt.models.embeddings.condition_embeds import LabelEmbedder, TimestepEmbedder


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
                 frame_prediction: bool = False, super_resolution: bool = False, learn_sigma: bool = False):
        super().__init__()
        self.in_channels, self.dim = in_channels, dim
        self.num_classes, self.text_dim, self.learn_sigma = num_classes, text_dim, learn_sigma
        self.self_condition, self.frame_prediction, self.super_resolution = (
            self_condition, frame_prediction, super_resolution)
        self.out_channels = in_channels * (2 if learn_sigma else 1)
        self.input_channels = in_channels * (1 + self_condition + super_resolution) + (in_channels + 1) * frame_prediction
        self.t_embedder = TimestepEmbedder(dim)
        self.y_embedder = LabelEmbedder(num_classes, dim, class_embed_std) if num_classes else None
        self.text_pooled_proj = nn.Linear(text_dim, dim) if (text_dim and text_pooled) else None
        self.sr_embedder = TimestepEmbedder(dim) if super_resolution else None
        self.lr_upsample = DepthToSpace(in_channels) if super_resolution else None

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
        b, c, t, h, w = x.shape
        if c != self.in_channels:
            raise ValueError(f"{type(self).__name__}: expected latents (B, {self.in_channels}, T, H, W), "
                             f"got shape {tuple(x.shape)}")
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
