"""What every attention module of walt shares: ``num_heads`` heads of ``dim / num_heads`` channels over a window of
the token grid, LayerNorm qk-norm per head (W.A.L.T §4.2) and an output projection, and the window it uses on a token
grid other than the one the model is built for (``input_grid``; run-time shape buckets, W.A.L.T App. A)."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from walt.models.attention.kernel import WindowSpec, resolve_window, stretch_window
from walt.models.grid import Grid


class MultiHeadAttention(nn.Module):
    """Base of the self- and cross-attentions: checks the head split and the window; subclasses register their
    q/k/v projections, then call :meth:`add_qk_norm_and_proj` (registration order = checkpoint key order)."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec, input_grid: Sequence[int] | None = None):
        super().__init__()
        name = type(self).__name__
        if dim % num_heads:
            raise ValueError(f"{name}: dim={dim} is not divisible by num_heads={num_heads}")
        self.dim, self.num_heads, self.head_dim = dim, num_heads, dim // num_heads
        self.window = tuple(window)
        if len(self.window) != 3:
            raise ValueError(f"{name}: window must have 3 entries (t, h, w), got {self.window}")
        self.input_grid = None if input_grid is None else Grid(*(int(g) for g in input_grid))

    def window_on(self, grid: Grid) -> tuple[int, int, int]:
        """The concrete window on ``grid``: the configured one resolved on the grid when no ``input_grid`` is
        known, else the window on ``input_grid`` following the grid (:func:`~...kernel.stretch_window`)."""
        if self.input_grid is None:
            return resolve_window(self.window, grid)
        return stretch_window(self.window, self.input_grid, grid, type(self).__name__)

    def set_grid(self, grid: Sequence[int], where: str) -> None:
        """Move to the new built token grid ``grid`` (aspect-ratio finetuning, W.A.L.T App. A): every window
        follows the grid as :func:`~...kernel.stretch_window` with ``prefix_time=False`` says, and
        :meth:`set_window` resizes what depends on it (relative position tables)."""
        grid = Grid(*(int(g) for g in grid))
        if self.input_grid is not None:
            self.set_window(stretch_window(self.window, self.input_grid, grid, where, prefix_time=False))
        self.input_grid = grid

    def set_window(self, window: Sequence[int]) -> None:
        """The concrete ``window`` replaces the configured one; whole-axis (``None``) entries stay whole-axis."""
        self.window = tuple(None if old is None else int(new) for old, new in zip(self.window, window))

    def add_qk_norm_and_proj(self, qk_norm: bool) -> None:
        self.q_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.k_norm = nn.LayerNorm(self.head_dim, eps=1e-6) if qk_norm else nn.Identity()
        self.proj = nn.Linear(self.dim, self.dim)
