"""Inflated 3-D Inception (I3D, Carreira & Zisserman 2017), the Kinetics-400 network of FVD (Unterthiner et al.
2018) used by W.A.L.T §5.1 and LAVITA §4.1 (StyleGAN-V protocol). TF "SAME" padding; module names follow the
common PyTorch port (``Conv3d_1a_7x7.conv3d``, ``Mixed_3b.b1b`` ...) so converted weights load with strict keys.
``width`` scales every channel count (1.0 = the real network); ``forward`` returns the 400 logits (FVD features)
or, with ``features="pool"``, the 1024-d globally pooled activations."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (branch0, (branch1 reduce, branch1), (branch2 reduce, branch2), pool projection) of each Inception module
_MIXED = {
    "Mixed_3b": (64, (96, 128), (16, 32), 32), "Mixed_3c": (128, (128, 192), (32, 96), 64),
    "Mixed_4b": (192, (96, 208), (16, 48), 64), "Mixed_4c": (160, (112, 224), (24, 64), 64),
    "Mixed_4d": (128, (128, 256), (24, 64), 64), "Mixed_4e": (112, (144, 288), (32, 64), 64),
    "Mixed_4f": (256, (160, 320), (32, 128), 128), "Mixed_5b": (256, (160, 320), (32, 128), 128),
    "Mixed_5c": (384, (192, 384), (48, 128), 128),
}
_POOLS = {"MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)), "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
          "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)), "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2))}


def _same_pad(x: Tensor, kernel: tuple[int, ...], stride: tuple[int, ...]) -> Tensor:
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        total = max(k - s if size % s == 0 else k - size % s, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class Unit3D(nn.Module):
    """Conv3d (TF SAME padding) + BatchNorm (eps 1e-3) + ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple = 1, stride: int | tuple = 1, bn_act: bool = True):
        super().__init__()
        self.kernel = (kernel,) * 3 if isinstance(kernel, int) else tuple(kernel)
        self.stride = (stride,) * 3 if isinstance(stride, int) else tuple(stride)
        self.conv3d = nn.Conv3d(cin, cout, self.kernel, self.stride, bias=not bn_act)
        self.bn = nn.BatchNorm3d(cout, eps=1e-3, momentum=0.01) if bn_act else None

    def forward(self, x: Tensor) -> Tensor:
        x = self.conv3d(_same_pad(x, self.kernel, self.stride))
        return F.relu(self.bn(x)) if self.bn is not None else x


class InceptionModule(nn.Module):
    """Four branches (1×1; 1×1→3×3; 1×1→3×3; 3×3 max pool→1×1) concatenated along channels."""

    def __init__(self, cin: int, spec: tuple):
        super().__init__()
        c0, (c1a, c1b), (c2a, c2b), c3 = spec
        self.b0, self.b1a, self.b1b = Unit3D(cin, c0), Unit3D(cin, c1a), Unit3D(c1a, c1b, 3)
        self.b2a, self.b2b, self.b3b = Unit3D(cin, c2a), Unit3D(c2a, c2b, 3), Unit3D(cin, c3)
        self.out_channels = c0 + c1b + c2b + c3

    def forward(self, x: Tensor) -> Tensor:
        pooled = F.max_pool3d(_same_pad(x, (3, 3, 3), (1, 1, 1)), 3, 1)
        return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(pooled)], dim=1)


class InceptionI3d(nn.Module):
    """I3D on ``(B, 3, T, H, W)`` clips in ``[-1, 1]`` (224×224 and 16 frames in the FVD protocol)."""

    def __init__(self, num_classes: int = 400, width: float = 1.0, features: str = "logits"):
        super().__init__()
        if features not in ("logits", "pool"):
            raise ValueError(f"InceptionI3d: features must be 'logits' or 'pool', got {features!r}")
        self.width, self.num_classes, self.features = width, num_classes, features
        c = lambda n: max(1, int(round(n * width)))  # noqa: E731
        self.Conv3d_1a_7x7 = Unit3D(3, c(64), 7, 2)
        self.Conv3d_2b_1x1 = Unit3D(c(64), c(64))
        self.Conv3d_2c_3x3 = Unit3D(c(64), c(192), 3)
        cin = c(192)
        for name, spec in _MIXED.items():  # attributes Mixed_3b ... Mixed_5c (the checkpoint key names)
            scaled = (c(spec[0]), (c(spec[1][0]), c(spec[1][1])), (c(spec[2][0]), c(spec[2][1])), c(spec[3]))
            setattr(self, name, InceptionModule(cin, scaled))
            cin = getattr(self, name).out_channels
        self.feature_dim = cin
        self.logits = Unit3D(cin, num_classes, 1, bn_act=False)

    def _pool(self, x: Tensor, name: str) -> Tensor:
        kernel, stride = _POOLS[name]
        return F.max_pool3d(_same_pad(x, kernel, stride), kernel, stride)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 5 or x.shape[1] != 3:
            raise ValueError(f"InceptionI3d: expected (B, 3, T, H, W) clips in [-1, 1], got {tuple(x.shape)}")
        x = self._pool(self.Conv3d_1a_7x7(x), "MaxPool3d_2a_3x3")
        x = self._pool(self.Conv3d_2c_3x3(self.Conv3d_2b_1x1(x)), "MaxPool3d_3a_3x3")
        for name in _MIXED:
            module = getattr(self, name)
            if name == "Mixed_4b":
                x = self._pool(x, "MaxPool3d_4a_3x3")
            elif name == "Mixed_5b":
                x = self._pool(x, "MaxPool3d_5a_2x2")
            x = module(x)
        pooled = x.mean(dim=(2, 3, 4), keepdim=True)  # = the (2, 7, 7) average pool at 16×224×224
        if self.features == "pool":
            return pooled.flatten(1)
        return self.logits(pooled).flatten(1)


__all__ = ["InceptionI3d"]
