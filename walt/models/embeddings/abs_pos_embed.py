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
    the first temporal entries. :meth:`interpolate` resizes both tables for a new grid (5×16×16 → 5×16×28).
    """

    def __init__(self, dim: int, grid: Sequence[int], init_std: float = 0.02):
        super().__init__()
        t, h, w = (int(g) for g in grid)
        self.dim = dim
        self.spatial = nn.Parameter(torch.zeros(h, w, dim))
        self.temporal = nn.Parameter(torch.zeros(t, dim))
        nn.init.trunc_normal_(self.spatial, std=init_std)
        nn.init.trunc_normal_(self.temporal, std=init_std)

    @property
    def grid(self) -> Grid:
        return Grid(self.temporal.shape[0], self.spatial.shape[0], self.spatial.shape[1])

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, N, D)`` tokens on ``grid`` → ``x + pos``; ``image_mask`` ``(B, t)`` bool or None."""
        table = self.grid
        if (grid.h, grid.w) != (table.h, table.w) or grid.t > table.t:
            raise ValueError(f"LearnedSpaceTimePosEmbed: token grid (t, h, w)={tuple(grid)} does not fit the "
                             f"tables built for {tuple(table)} (t may be smaller); call interpolate() for a new size")
        b = x.shape[0]
        spatial = self.spatial.reshape(1, 1, grid.spatial, self.dim)
        if image_mask is None:
            pos = (spatial + self.temporal[:grid.t, None][None]).reshape(1, grid.numel, self.dim)
        else:
            if tuple(image_mask.shape) != (b, grid.t):
                raise ValueError(f"LearnedSpaceTimePosEmbed: image_mask must have shape ({b}, {grid.t}), "
                                 f"got {tuple(image_mask.shape)}")
            frame = torch.arange(grid.t, device=x.device).expand(b, grid.t).masked_fill(image_mask, 0)
            pos = (spatial + self.temporal[frame][:, :, None]).reshape(b, grid.numel, self.dim)
        return x + pos.to(x.dtype)

    @torch.no_grad()
    def interpolate(self, grid: Sequence[int]) -> None:
        """Resize the tables to a new token grid: bicubic over (h, w), linear over t (same size = identity)."""
        t, h, w = (int(g) for g in grid)
        spatial = F.interpolate(self.spatial.data.permute(2, 0, 1)[None], size=(h, w), mode="bicubic",
                                align_corners=False)[0].permute(1, 2, 0)
        temporal = F.interpolate(self.temporal.data.t()[None], size=t, mode="linear", align_corners=False)[0].t()
        self.spatial = nn.Parameter(spatial.contiguous())
        self.temporal = nn.Parameter(temporal.contiguous())
