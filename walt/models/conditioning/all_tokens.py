"""LAVITA "all tokens" conditioning (§3.4): the condition embedding enters as a token instead of modulating norms.

The conditioning vector ``c`` (timestep + label/text embeddings, ``(B, D)``) is appended as one extra token to the
tokens of every frame, so it takes part in spatial attention of each frame and in temporal attention across
frames (the per-frame copies), and is removed again before the output head. Nothing is regressed per block
(``num_chunks = 0``: the blocks use plain affine LayerNorms).
"""
from __future__ import annotations

import torch
from torch import Tensor

from registry import CONDITIONINGS
from walt.models.conditioning.base import Conditioning
from walt.models.grid import Grid


@CONDITIONINGS.register_module()
class AllTokens(Conditioning):
    """LAVITA §3.4 *all tokens*: conditions as input tokens (``num_tokens`` copies of ``c`` per frame)."""

    def __init__(self, dim: int, num_layers: int, num_tokens: int = 1):
        super().__init__(dim, num_layers, num_chunks=0)
        self.num_tokens = num_tokens

    def forward(self, c: Tensor) -> Tensor:
        """No modulation: ``(num_layers, B, 0, D)`` (the condition travels as tokens, :meth:`add_tokens`)."""
        return c.new_empty(self.num_layers, c.shape[0], 0, self.dim)

    def token_grid(self, grid: Grid) -> Grid:
        """``(t, 1, h·w + K)``: each frame's tokens and its ``K`` condition tokens in one row."""
        return Grid(grid.t, 1, grid.spatial + self.num_tokens)

    def add_tokens(self, x: Tensor, grid: Grid, c: Tensor) -> tuple[Tensor, Grid]:
        """``x`` ``(B, t·h·w, D)`` and ``c`` ``(B, D)`` (or per frame ``(B, t, D)``) → ``(B, t·(h·w + K), D)`` on the
        grid ``(t, 1, h·w + K)``: each frame's tokens followed by ``K`` copies of its condition (spatial/temporal
        windows keep working per frame)."""
        b = x.shape[0]
        if tuple(c.shape) not in ((b, self.dim), (b, grid.t, self.dim)):
            raise ValueError(f"AllTokens: condition must be (B, D)=({b}, {self.dim}) or per frame (B, t, D)="
                             f"({b}, {grid.t}, {self.dim}), got {tuple(c.shape)}")
        per_frame = c[:, :, None, :] if c.dim() == 3 else c[:, None, None, :]
        cond = per_frame.expand(b, grid.t, self.num_tokens, self.dim).to(x.dtype)
        frames = x.view(b, grid.t, grid.spatial, self.dim)
        run_grid = self.token_grid(grid)
        return torch.cat([frames, cond], dim=2).view(b, run_grid.numel, self.dim), run_grid

    def remove_tokens(self, x: Tensor, grid: Grid) -> Tensor:
        """Inverse of :meth:`add_tokens` for the original ``grid``: drop the condition tokens of every frame."""
        b = x.shape[0]
        frames = x.view(b, grid.t, grid.spatial + self.num_tokens, self.dim)
        return frames[:, :, : grid.spatial].reshape(b, grid.numel, self.dim)
