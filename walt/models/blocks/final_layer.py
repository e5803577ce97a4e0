"""Output head: adaLN-modulated LayerNorm, a linear map to ``p·p·C_out`` per token, and unpatchify (DiT)."""
from __future__ import annotations

from torch import Tensor, nn

from walt.models.conditioning.modulate import modulate
from walt.models.grid import Grid


class FinalLayer(nn.Module):
    """DiT/Latte final layer (keys ``linear``, ``adaLN_modulation.1``), zero-initialized so a fresh model predicts
    0. ``(B, N, D)`` tokens on ``grid`` → ``(B, C_out, t·pt, h·p, w·p)``."""

    def __init__(self, dim: int, patch_size: int, out_channels: int, modulated: bool = True):
        super().__init__()
        self.patch_size, self.out_channels = patch_size, out_channels
        self.norm = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.linear = nn.Linear(dim, patch_size * patch_size * out_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim)) if modulated else None
        for p in [self.linear.weight, self.linear.bias] + (
                list(self.adaLN_modulation.parameters()) if modulated else []):
            nn.init.zeros_(p)

    def forward(self, x: Tensor, grid: Grid, c: Tensor | None = None) -> Tensor:
        """``c`` ``(B, D)``, or ``(B, T, D)`` per frame (image frames of joint training)."""
        h = self.norm(x)
        if self.adaLN_modulation is not None:
            shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
            h = modulate(h, shift, scale)
        return unpatchify(self.linear(h), grid, self.patch_size, self.out_channels)


def unpatchify(x: Tensor, grid: Grid, p: int, channels: int) -> Tensor:
    """``(B, t·h·w, p·p·C)`` → ``(B, C, t, h·p, w·p)`` (patch channels ordered ``(p, p, C)`` as in DiT)."""
    b = x.shape[0]
    x = x.view(b, grid.t, grid.h, grid.w, p, p, channels)
    return x.permute(0, 6, 1, 2, 4, 3, 5).reshape(b, channels, grid.t, grid.h * p, grid.w * p)

