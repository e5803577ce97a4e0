"""What every member of ``CONDITIONINGS`` is (W.A.L.T §4.3, LAVITA §3.4): how the condition ``c`` (timestep +
class / text / noise-level embeddings, ``(B, D)``) reaches the transformer blocks.

``forward(c)`` returns the per-layer modulations ``(num_layers, B, num_chunks, D)`` (chunks in the order of
:data:`~walt.models.conditioning.modulate.CHUNKS`); ``add_tokens`` / ``remove_tokens`` put the condition into the
token sequence and take it out again. A modulating conditioning (AdaLN, AdaLN-LoRA) leaves the tokens alone; a token
conditioning (LAVITA "all tokens") has ``num_chunks = 0`` and its blocks use plain affine LayerNorms.
"""
from __future__ import annotations

from torch import Tensor, nn

from walt.models.grid import Grid


class Conditioning(nn.Module):
    """Base of the conditionings: ``num_layers`` blocks of width ``dim``, ``num_chunks`` modulations per block."""

    def __init__(self, dim: int, num_layers: int, num_chunks: int = 6):
        super().__init__()
        self.dim, self.num_layers, self.num_chunks = dim, num_layers, num_chunks

    @property
    def modulated(self) -> bool:
        """Whether the blocks are adaLN-modulated (otherwise the condition travels as tokens)."""
        return self.num_chunks > 0

    def token_grid(self, grid: Grid) -> Grid:
        """The grid the blocks run on for tokens on ``grid``, i.e. the grid :meth:`add_tokens` returns (default:
        unchanged); backbones check their attention windows against it when they are built."""
        return grid

    def add_tokens(self, x: Tensor, grid: Grid, c: Tensor) -> tuple[Tensor, Grid]:
        """Tokens ``(B, N, D)`` on ``grid`` with the condition's tokens added, and their grid (default: unchanged)."""
        return x, grid

    def remove_tokens(self, x: Tensor, grid: Grid) -> Tensor:
        """Inverse of :meth:`add_tokens` for the original ``grid``."""
        return x
