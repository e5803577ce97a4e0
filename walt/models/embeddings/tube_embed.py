"""Compression-frame ("tube") patch embedding (LAVITA §3.3, Fig. 3b): ViT patchify extended to 3-D."""
from __future__ import annotations

from torch import Tensor, nn

from registry import PATCH_EMBEDS
from walt.models.grid import Grid


@PATCH_EMBEDS.register_module()
class TubeEmbed(nn.Module):
    """LAVITA §3.3 compression frame patch embedding: non-overlapping ``pt × p × p`` tubes with temporal stride
    ``pt`` → one token each. ``(B, C, T, H, W)`` → ``(B, T/pt · H/p · W/p, D)``; the head undoes the temporal
    compression with a 3-D transposed convolution (:class:`~walt.models.blocks.tube_final_layer.TubeFinalLayer`)."""

    def __init__(self, in_channels: int, dim: int, patch_size: int = 2, temporal_patch: int = 2):
        super().__init__()
        self.in_channels, self.patch_size, self.temporal_patch = in_channels, patch_size, temporal_patch
        kernel = (temporal_patch, patch_size, patch_size)
        self.proj = nn.Conv3d(in_channels, dim, kernel_size=kernel, stride=kernel)
        w = self.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.zeros_(self.proj.bias)

    def grid(self, t: int, h: int, w: int) -> Grid:
        return Grid(t // self.temporal_patch, h // self.patch_size, w // self.patch_size)

    def forward(self, x: Tensor) -> tuple[Tensor, Grid]:
        _, c, t, h, w = x.shape
        p, pt = self.patch_size, self.temporal_patch
        if c != self.in_channels or t % pt or h % p or w % p:
            raise ValueError(f"TubeEmbed: expected (B, {self.in_channels}, T, H, W) with T divisible by "
                             f"temporal_patch {pt} and H, W by patch_size {p}, got shape {tuple(x.shape)}")
        return self.proj(x).flatten(2).transpose(1, 2), self.grid(t, h, w)
