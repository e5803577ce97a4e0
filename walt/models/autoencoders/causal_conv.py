"""Causal 3-D convolution building blocks of the W.A.L.T autoencoder (W.A.L.T §4.1, after MAGVIT-v2).

A causal convolution sees only the current frame and the ``k_t - 1`` frames before it: the time axis is padded on
the left only, so output frame ``j`` depends on input frames ``<= j`` and the first frame is encoded on its own
(an image is a one-frame video). Normalisation is per frame (GroupNorm over ``C, H, W`` of each frame): a GroupNorm
over ``C, T, H, W`` would pool statistics over future frames and break causality.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

_PAD_MODES = ("replicate", "zeros")


class CausalConv3d(nn.Module):
    """3-D convolution padded ``k_t - 1`` frames on the past side only (replicated first frame or zeros); spatial
    padding is symmetric ("same"). A temporal stride ``s_t`` maps ``1 + T`` frames to ``1 + T / s_t``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int, int] = 3,
                 stride: int | tuple[int, int, int] = 1, pad_mode: str = "replicate"):
        super().__init__()
        kt, kh, kw = (kernel_size,) * 3 if isinstance(kernel_size, int) else kernel_size
        self.stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        if pad_mode not in _PAD_MODES:
            raise ValueError(f"CausalConv3d: pad_mode must be one of {_PAD_MODES}, got {pad_mode!r}")
        self.pad_mode = pad_mode
        self.time_pad = kt - 1
        # (W_left, W_right, H_top, H_bottom): "same" padding; a stride-2 conv then halves even sizes exactly.
        self.space_pad = (kw // 2, (kw - 1) // 2, kh // 2, (kh - 1) // 2)
        self.conv = nn.Conv3d(in_channels, out_channels, (kt, kh, kw), stride=self.stride)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W)
        if self.time_pad:
            first = x[:, :, :1] if self.pad_mode == "replicate" else torch.zeros_like(x[:, :, :1])
            x = torch.cat([first.expand(-1, -1, self.time_pad, -1, -1), x], dim=2)
        x = F.pad(x, self.space_pad)
        return self.conv(x)


class FrameGroupNorm(nn.GroupNorm):
    """GroupNorm applied to every frame separately, so that normalisation statistics never cross time."""

    def forward(self, x: Tensor) -> Tensor:  # (B, C, T, H, W)
        b = x.shape[0]
        y = super().forward(rearrange(x, "b c t h w -> (b t) c h w"))
        return rearrange(y, "(b t) c h w -> b c t h w", b=b)


class CausalResBlock3d(nn.Module):
    """Pre-activation residual block: (norm, SiLU, causal 3×3×3 conv) × 2, with a 1×1×1 shortcut when the width
    changes (MAGVIT-v2 / VQGAN residual unit)."""

    def __init__(self, in_channels: int, out_channels: int, num_groups: int = 32, pad_mode: str = "replicate"):
        super().__init__()
        self.norm1 = FrameGroupNorm(min(num_groups, in_channels), in_channels)
        self.conv1 = CausalConv3d(in_channels, out_channels, 3, pad_mode=pad_mode)
        self.norm2 = FrameGroupNorm(min(num_groups, out_channels), out_channels)
        self.conv2 = CausalConv3d(out_channels, out_channels, 3, pad_mode=pad_mode)
        self.shortcut = nn.Conv3d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return self.shortcut(x) + h


class CausalDownsample3d(nn.Module):
    """Strided causal 3×3×3 convolution: halves H and W, and maps ``1 + T`` frames to ``1 + T/2`` when
    ``temporal`` (the first output frame sees only the first input frame)."""

    def __init__(self, channels: int, out_channels: int, temporal: bool, pad_mode: str = "replicate"):
        super().__init__()
        self.conv = CausalConv3d(channels, out_channels, 3, stride=(2 if temporal else 1, 2, 2), pad_mode=pad_mode)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(x)


class CausalUpsample3d(nn.Module):
    """Depth-to-space upsampling (MAGVIT-v2 decoder): a causal conv makes ``s_t·2·2`` times the channels, which are
    rearranged into time and space; for temporal upsampling the first ``s_t - 1`` output frames are dropped, so
    ``1 + t`` latent frames become ``1 + s_t·t`` and the first frame still decodes alone."""

    def __init__(self, channels: int, out_channels: int, temporal: bool, pad_mode: str = "replicate"):
        super().__init__()
        self.st = 2 if temporal else 1
        self.conv = CausalConv3d(channels, out_channels * self.st * 4, 3, pad_mode=pad_mode)

    def forward(self, x: Tensor) -> Tensor:
        x = rearrange(self.conv(x), "b (c st sh sw) t h w -> b c (t st) (h sh) (w sw)", st=self.st, sh=2, sw=2)
        return x[:, :, self.st - 1:]
