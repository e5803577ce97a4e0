"""Fixed sine-cosine position embeddings of LAVITA (§3.3 spatial, §3.5 absolute temporal; Vaswani et al. 2017).

Spatial: a 2-D table over the ``h × w`` token grid of one frame, the first half of the channels encoding the column
index and the second half the row index (the layout of the DiT/Latte ``pos_embed`` tables, so public checkpoints
match). Temporal: a 1-D table over the latent frames. Both are fixed: non-persistent buffers, never parameters.
LAVITA adds them at different depths (:class:`SinCosPosEmbed2D` at the input, :class:`SinCosTemporalEmbed` before
the first temporal block); :class:`SinCosSpaceTimePosEmbed` adds both at the input, the fixed counterpart of W.A.L.T's
learned embedding (a ``pos_embed`` choice of the W.A.L.T backbone).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from registry import POS_EMBEDS
from walt.models.grid import Grid


def sincos_1d(dim: int, positions: Tensor) -> Tensor:
    """``(L,)`` positions → ``(L, dim)`` features ``[sin(p·ω), cos(p·ω)]`` with ``ω_i = 10000^(-i / (dim/2))``."""
    if dim % 2:
        raise ValueError(f"sincos_1d: dim must be even, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 2, dtype=torch.float64, device=positions.device) / (dim // 2))
    args = positions.to(torch.float64)[:, None] * omega[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1).float()


def sincos_2d(dim: int, h: int, w: int, device: torch.device | None = None) -> Tensor:
    """``(h·w, dim)`` table in row-major token order: channels ``[:dim/2]`` encode the column, ``[dim/2:]`` the row."""
    if dim % 4:
        raise ValueError(f"sincos_2d: dim must be divisible by 4, got {dim}")
    rows = torch.arange(h, device=device).repeat_interleave(w)
    cols = torch.arange(w, device=device).repeat(h)
    return torch.cat([sincos_1d(dim // 2, cols), sincos_1d(dim // 2, rows)], dim=1)


def _table_for(module: nn.Module, shape: tuple[int, ...], make) -> Tensor:
    """The cached buffer when its shape fits, otherwise a table built for this grid (other resolutions/lengths)."""
    return module.table if tuple(module.table.shape) == shape else make().to(module.table.device)


class SinCosPosEmbed2D(nn.Module):
    """LAVITA §3.3 / DiT: fixed 2-D sin-cos spatial embedding added to every frame's ``h × w`` tokens."""

    def __init__(self, dim: int, grid_size: tuple[int, int] = (16, 16)):
        super().__init__()
        self.dim = dim
        self.register_buffer("table", sincos_2d(dim, *grid_size), persistent=False)

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        table = _table_for(self, (grid.spatial, self.dim), lambda: sincos_2d(self.dim, grid.h, grid.w))
        b = x.shape[0]
        return (x.view(b, grid.t, grid.spatial, self.dim) + table.to(x.dtype)).view(b, grid.numel, self.dim)


class SinCosTemporalEmbed(nn.Module):
    """LAVITA §3.5 absolute temporal position: fixed 1-D sin-cos of the frame index, added to video frames only
    (image frames of joint training, ``image_mask`` True, get none, as in Latte)."""

    def __init__(self, dim: int, num_frames: int = 16):
        super().__init__()
        self.dim = dim
        self.register_buffer("table", sincos_1d(dim, torch.arange(num_frames)), persistent=False)

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        table = _table_for(self, (grid.t, self.dim), lambda: sincos_1d(self.dim, torch.arange(grid.t)))
        b = x.shape[0]
        pos = table.to(x.dtype)[None, :, None, :]  # (1, t, 1, D)
        if image_mask is not None:
            pos = pos * (~image_mask).to(x.dtype)[:, :, None, None]
        return (x.view(b, grid.t, grid.spatial, self.dim) + pos).view(b, grid.numel, self.dim)


@POS_EMBEDS.register_module()
class SinCosSpaceTimePosEmbed(nn.Module):
    """Fixed 2-D sin-cos over space plus 1-D sin-cos over time, both added at the input; image frames
    (``image_mask`` True) get the temporal entry of frame 0, as W.A.L.T does for images. Any grid works (the tables
    are recomputed for a new size), so :meth:`interpolate` has nothing to do."""

    def __init__(self, dim: int, grid: tuple[int, int, int] = (5, 16, 16)):
        super().__init__()
        self.spatial = SinCosPosEmbed2D(dim, tuple(grid[1:]))
        self.temporal = SinCosTemporalEmbed(dim, grid[0])

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        x = self.spatial(x, grid)
        if image_mask is None:
            return self.temporal(x, grid)
        frame = torch.arange(grid.t, device=x.device).expand(image_mask.shape[0], grid.t).masked_fill(image_mask, 0)
        pos = sincos_1d(self.temporal.dim, frame.flatten()).view(*frame.shape, 1, -1).to(x)
        return (x.view(*frame.shape, grid.spatial, -1) + pos).view_as(x)

    def interpolate(self, grid: tuple[int, int, int]) -> None:
        """Nothing to resize: the fixed tables are recomputed for whatever grid comes in."""
