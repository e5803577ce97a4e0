"""Learned absolute space-time position embedding (W.A.L.T §4.2 "Patchify", App. A aspect-ratio finetuning)."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry import POS_EMBEDS
from walt.models.grid import Grid


@POS_EMBEDS.register_module()
class LearnedSpaceTimePosEmbed(nn.Module):
    """W.A.L.T §4.2: learnable position embedding = spatial table ``(h, w, D)`` + temporal table ``(t, D)``.

    Image frames (``image_mask`` True) get the temporal entry of the first latent frame, as the paper does for
    images. ``grid`` is the token grid ``(t, h, w)`` after patchify the tables are built for; a shorter clip uses
    the first temporal entries. :meth:`interpolate` resizes both tables for a new grid (5×16×16 → 5×16×28); a
    token grid of another size at run time (shape buckets) reads the tables resized the same way.
    """

    def __init__(self, dim: int, grid: Sequence[int], init_std: float = 0.02):
        super().__init__()
        t, h, w = (int(g) for g in grid)
        self.dim, self.init_std = dim, init_std
        self.spatial = nn.Parameter(torch.zeros(h, w, dim))
        self.temporal = nn.Parameter(torch.zeros(t, dim))
        nn.init.trunc_normal_(self.spatial, std=init_std)
        nn.init.trunc_normal_(self.temporal, std=init_std)

    @property
    def grid(self) -> Grid:
        return Grid(self.temporal.shape[0], self.spatial.shape[0], self.spatial.shape[1])

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, N, D)`` tokens on ``grid`` → ``x + pos``; ``image_mask`` ``(B, t)`` bool or None. On another
        spatial size, or more frames than the tables hold, the tables are resampled to ``grid`` as :meth:`interpolate`
        resizes them (differentiably: run-time shape buckets train the built tables); fewer frames use the first
        temporal entries (a shorter clip is a prefix of the frames, an image frame 0)."""
        spatial, temporal = self.tables(grid)
        b = x.shape[0]
        spatial = spatial.reshape(1, 1, grid.spatial, self.dim)
        if image_mask is None:
            pos = (spatial + temporal[:grid.t, None][None]).reshape(1, grid.numel, self.dim)
        else:
            if tuple(image_mask.shape) != (b, grid.t):
                raise ValueError(f"LearnedSpaceTimePosEmbed: image_mask must have shape ({b}, {grid.t}), "
                                 f"got {tuple(image_mask.shape)}")
            frame = torch.arange(grid.t, device=x.device).expand(b, grid.t).masked_fill(image_mask, 0)
            pos = (spatial + temporal[frame][:, :, None]).reshape(b, grid.numel, self.dim)
        return x + pos.to(x.dtype)

    def tables(self, grid: Grid) -> tuple[Tensor, Tensor]:
        """The spatial ``(h, w, D)`` and temporal ``(≥ t, D)`` tables for ``grid``."""
        table = self.grid
        spatial = self.spatial if (grid.h, grid.w) == (table.h, table.w) else resample_spatial(self.spatial, grid)
        temporal = self.temporal if grid.t <= table.t else resample_temporal(self.temporal, grid.t)
        return spatial, temporal

    @torch.no_grad()
    def interpolate(self, grid: Sequence[int]) -> None:
        """Resize the tables to a new token grid: bicubic over (h, w), linear over t (same size = identity)."""
        grid = Grid(*(int(g) for g in grid))
        self.spatial = nn.Parameter(resample_spatial(self.spatial.data, grid).contiguous())
        self.temporal = nn.Parameter(resample_temporal(self.temporal.data, grid.t).contiguous())


def resample_spatial(table: Tensor, grid: Grid) -> Tensor:
    """An ``(h, w, D)`` table resized to ``(grid.h, grid.w)`` by bicubic interpolation (W.A.L.T App. A)."""
    return F.interpolate(table.permute(2, 0, 1)[None], size=(grid.h, grid.w), mode="bicubic",
                         align_corners=False)[0].permute(1, 2, 0)


def resample_temporal(table: Tensor, frames: int) -> Tensor:
    """A ``(t, D)`` table resized to ``frames`` entries by linear interpolation."""
    return F.interpolate(table.t()[None], size=frames, mode="linear", align_corners=False)[0].t()
