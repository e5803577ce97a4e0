"""Output head for compression-frame (tube) patch embedding (LAVITA §3.2 last paragraph, §3.3)."""
from __future__ import annotations

from torch import Tensor, nn

from walt.models.blocks.final_layer import FinalLayer
from walt.models.grid import Grid


class TubeFinalLayer(nn.Module):
    """LAVITA §3.2: the standard linear decoder + reshape (:class:`FinalLayer`) on the ``T/pt`` token frames, then a
    3-D transposed convolution (kernel = stride = ``pt × 1 × 1``) that upsamples time back to ``T`` frames."""

    def __init__(self, dim: int, patch_size: int, out_channels: int, temporal_patch: int = 2,
                 modulated: bool = True, table: bool = False):
        super().__init__()
        self.temporal_patch = temporal_patch
        self.decoder = FinalLayer(dim, patch_size, out_channels, modulated=modulated, table=table)
        kernel = (temporal_patch, 1, 1)
        # Weights keep PyTorch's default init: with the zero-initialized decoder a zero kernel would block gradients.
        self.temporal_upsample = nn.ConvTranspose3d(out_channels, out_channels, kernel_size=kernel, stride=kernel)
        nn.init.zeros_(self.temporal_upsample.bias)

    def forward(self, x: Tensor, grid: Grid, c: Tensor | None = None) -> Tensor:
        """``(B, N, D)`` tokens on ``grid`` → ``(B, C_out, grid.t · pt, grid.h · p, grid.w · p)``."""
        return self.temporal_upsample(self.decoder(x, grid, c))
