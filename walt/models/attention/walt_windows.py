"""The three self-attention layers of W.A.L.T (§4.2, Table 3b): spatial window, spatiotemporal window, full.

Thin subclasses of :class:`~walt.models.attention.window.WindowSelfAttention` (the math lives there): each fixes a
default window and adds the Swin-style relative position bias of §4.2 through the ``.rel_pos`` hook. The parent
passes ``input_grid``, the token grid ``(t, h, w)`` the model is built for, so that windows of ``None`` (whole axis)
or larger than the grid resolve to the concrete window the bias table needs.
"""
from __future__ import annotations

from typing import Sequence

from registry import ATTENTIONS
from walt.models.attention.window import WindowSelfAttention, WindowSpec, resolve_window
from walt.models.embeddings.rel_pos_bias import RelativePositionBias
from walt.models.grid import Grid


class _WALTSelfAttention(WindowSelfAttention):
    """Window self-attention with an optional relative position bias table sized for the resolved window."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec, qk_norm: bool, qkv_bias: bool,
                 rel_pos_bias: bool, input_grid: Sequence[int] | None):
        super().__init__(dim, num_heads, window=window, qk_norm=qk_norm, qkv_bias=qkv_bias)
        if rel_pos_bias:
            if input_grid is None and any(w is None for w in self.window):
                raise ValueError(f"{type(self).__name__}: window {self.window} has whole-axis (None) entries; "
                                 f"rel_pos_bias=True needs input_grid=(t, h, w) to size its table")
            concrete = self.window if input_grid is None else resolve_window(self.window, Grid(*input_grid))
            self.rel_pos = RelativePositionBias(concrete, num_heads)

    def set_window(self, window: Sequence[int]) -> None:
        """Scale the window (aspect-ratio finetuning, W.A.L.T App. A), interpolating the relative bias table."""
        self.window = tuple(int(w) for w in window)
        if self.rel_pos is not None:
            self.rel_pos.interpolate(self.window)


@ATTENTIONS.register_module()
class SpatialWindowAttention(_WALTSelfAttention):
    """W.A.L.T §4.2 spatial window (SW) attention: non-overlapping ``1 × h' × w'`` windows (default 1×16×16)."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (1, 16, 16), qk_norm: bool = True,
                 qkv_bias: bool = True, rel_pos_bias: bool = True, input_grid: Sequence[int] | None = None):
        if tuple(window)[0] != 1:
            raise ValueError(f"SpatialWindowAttention: a spatial window spans one latent frame, got window {window}")
        super().__init__(dim, num_heads, window, qk_norm, qkv_bias, rel_pos_bias, input_grid)


@ATTENTIONS.register_module()
class SpatiotemporalWindowAttention(_WALTSelfAttention):
    """W.A.L.T §4.2 spatiotemporal window (STW) attention: ``(1+t) × h' × w'`` windows (default 5×8×8); image
    frames pass through with the identity mask."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (5, 8, 8), qk_norm: bool = True,
                 qkv_bias: bool = True, rel_pos_bias: bool = True, input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, window, qk_norm, qkv_bias, rel_pos_bias, input_grid)


@ATTENTIONS.register_module()
class FullAttention(_WALTSelfAttention):
    """W.A.L.T Table 3b "full self attn.": one window covering the whole token grid (image frames still pass
    through with the identity mask)."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, qkv_bias: bool = True,
                 rel_pos_bias: bool = True, input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, (None, None, None), qk_norm, qkv_bias, rel_pos_bias, input_grid)

    def set_window(self, window: Sequence[int]) -> None:
        """Full attention keeps covering the whole grid; only the bias table follows the new grid."""
        if self.rel_pos is not None:
            self.rel_pos.interpolate(window)
