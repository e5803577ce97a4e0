"""Per-frame ("uniform frame") patch embedding: ViT patchify of each latent frame (W.A.L.T §4.2, LAVITA §3.3)."""
from __future__ import annotations

from torch import Tensor, nn

from registry import PATCH_EMBEDS
from walt.models.grid import Grid


@PATCH_EMBEDS.register_module()
class PatchEmbed(nn.Module):
    """W.A.L.T §4.2 / LAVITA §3.3 uniform frame patch embedding: each latent frame is cut into ``p × p`` patches
    independently, so an image (``T = 1``) and a video share it. ``(B, C, T, H, W)`` → ``(B, T·H/p·W/p, D)``."""

    temporal_patch = 1

    def __init__(self, in_channels: int, dim: int, patch_size: int = 1):
        super().__init__()
        self.in_channels, self.patch_size = in_channels, patch_size
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)
        w = self.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.proj.bias)

    def grid(self, t: int, h: int, w: int) -> Grid:
        return Grid(t, h // self.patch_size, w // self.patch_size)

    def forward(self, x: Tensor) -> tuple[Tensor, Grid]:
        b, c, t, h, w = x.shape
        p = self.patch_size
        if c != self.in_channels or h % p or w % p:
            raise ValueError(f"PatchEmbed: expected (B, {self.in_channels}, T, H, W) with H, W divisible by patch "
                             f"size {p}, got shape {tuple(x.shape)}")
        y = self.proj(x.transpose(1, 2).reshape(b * t, c, h, w))  # (B·T, D, h, w)
        y = y.flatten(2).transpose(1, 2).reshape(b, t * (h // p) * (w // p), -1)
        return y, self.grid(t, h, w)
