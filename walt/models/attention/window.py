"""Multi-head self-attention inside non-overlapping 3-D windows of the token grid (W.A.L.T §4.2, LAVITA §3.2).

:class:`WindowSelfAttention` is the one self-attention module of walt; the registered attentions (W.A.L.T's
``SpatialWindowAttention`` / ``SpatiotemporalWindowAttention`` / ``FullAttention``, LAVITA's ``SpatialAttention`` /
``TemporalAttention``) are it with a default window and the paper's defaults. Every one takes the same keywords:

* ``window`` ``(wt, wh, ww)`` (``None`` = whole axis), see :func:`~walt.models.attention.kernel.windowed_attention`;
* ``qk_norm``: LayerNorm on queries and keys per head (W.A.L.T §4.2);
* ``rel_pos_bias``: a learned Swin-style relative position bias per window (W.A.L.T §4.2), sized for the window
  resolved on ``input_grid`` (the token grid the model is built for; the parent passes it);
* ``rope``: temporal rotary position embedding on queries and keys (LAVITA §3.5), kept only where the window can
  span frames: inside one frame every query and key share the frame index and RoPE is the identity.

Each declares what it needs from the slot that holds it through :meth:`WindowSelfAttention.needs` (see
:mod:`~walt.models.attention.needs`). The q/k/v projections are computed on the unpartitioned tokens (a linear layer
commutes with the partition).
"""
from __future__ import annotations

from typing import Sequence

from torch import Tensor, nn

from walt.models.attention.heads import MultiHeadAttention
from walt.models.attention.kernel import (IMAGE_FRAME_MASKS, WindowSpec, check_window, fold_windows, resolve_window, stretch_window,
                                         window_merge, windowed_attention, windows_are_runs)
from walt.models.attention.needs import AttentionNeeds, has_spatial_extent
from walt.models.cpu_inference import qkv_projection
from walt.models.embeddings.rel_pos_bias import RelativePositionBias, video_span
from walt.models.embeddings.rope import TemporalRoPE
from walt.models.grid import Grid


class WindowSelfAttention(MultiHeadAttention):
    """Multi-head self-attention inside ``(wt, wh, ww)`` windows with optional qk-norm, relative position bias and
    temporal RoPE (see the module docstring)."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (None, None, None), qk_norm: bool = True,
                 qkv_bias: bool = True, rel_pos_bias: bool = False, rope: bool = False,
                 input_grid: Sequence[int] | None = None, image_frames: str = "own_frame"):
        super().__init__(dim, num_heads, window, input_grid)
        if image_frames not in IMAGE_FRAME_MASKS:
            raise ValueError(f"{type(self).__name__}: image_frames must be one of {IMAGE_FRAME_MASKS}, "
                             f"got {image_frames!r}")
        self.image_frames = image_frames
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.add_qk_norm_and_proj(qk_norm)
        self.rope = TemporalRoPE(self.head_dim) if rope and self.window[0] != 1 else None
        self.rel_pos = None
        if rel_pos_bias:
            if input_grid is None and any(w is None for w in self.window):
                raise ValueError(f"{type(self).__name__}: window {self.window} has whole-axis (None) entries; rel_pos_bias=True "
                                 f"needs input_grid=(t, h, w) to size its table")
            table = self.window if input_grid is None else resolve_window(self.window, self.input_grid)
            self.rel_pos = RelativePositionBias(table, num_heads)

    def needs(self) -> AttentionNeeds:
        """Its window; the per-frame grid where the window or the bias table has a spatial extent; RoPE; image frames
        keep to their own frame, or to themselves (``image_frames``: the kernel's image-frame mask)."""
        table = self.rel_pos.window if self.rel_pos is not None else (1, 1, 1)
        return AttentionNeeds(windows=(self.window,),
                              frame_layout=has_spatial_extent(self.window) or has_spatial_extent(table),
                              temporal_rope=self.rope is not None, image_frames=self.image_frames)

    def qk(self, q: Tensor, k: Tensor, grid: Grid) -> tuple[Tensor, Tensor]:
        """qk-norm and RoPE on ``(B, N, heads, d)`` queries and keys."""
        q, k = self.q_norm(q), self.k_norm(k)
        return self.rope(q, k, grid) if self.rope is not None else (q, k)

    def forward(self, x: Tensor, grid: Grid, image_mask: Tensor | None = None) -> Tensor:
        """``x``: ``(B, N, D)`` tokens on ``grid``; ``image_mask``: optional ``(B, t)`` bool, True = image frame."""
        window = self.window_on(grid)
        check_window(tuple(grid), window, type(self).__name__)
        bias = self.bias_on(self.rel_pos, window, grid, image_mask)  # the kernel casts it to q's dtype
        # RoPE angles follow the frame index, which folding restarts per window unless a window spans all frames.
        if windows_are_runs(grid, window) or (self.rope is not None and window[0] != grid.t):
            return self.attend(x, grid, window, image_mask, bias)
        # Windows that are not runs of tokens: partition the tokens once (D channels) before the projections, rather
        # than q, k, v (3D) after them and the heads (D) again; the linears commute with the partition.
        xw, window_grid, window_mask = fold_windows(x, grid, window, image_mask)
        return window_merge(self.attend(xw, window_grid, window, window_mask, bias), tuple(grid), window)

    def attend(self, x: Tensor, grid: Grid, window: tuple[int, int, int], image_mask: Tensor | None,
               bias: Tensor | None) -> Tensor:
        """Projections and windowed attention on ``x`` ``(B, N, D)`` laid out on ``grid``, with the window's
        relative position ``bias``."""
        b, n, _ = x.shape
        q, k, v = qkv_projection(self.qkv, x).view(b, n, 3, self.num_heads, self.head_dim).unbind(2)
        q, k = self.qk(q, k, grid)
        return self.proj(windowed_attention(q, k, v, grid, window, image_mask, bias, self.image_frames))

    def bias_on(self, table: RelativePositionBias | None, window: tuple[int, int, int], grid: Grid,
                image_mask: Tensor | None = None) -> Tensor | None:
        """The relative position bias of ``window`` on ``grid`` from ``table``: on another grid than the built one
        the table is resampled to the window it would have there, as :meth:`set_grid` resamples it (a shorter
        clip reads a subset of the built table's offsets in time). Image frames appended for joint training
        (``image_mask``) never attend across frames, so they lengthen no table: time follows the video frames."""
        if table is None:
            return None
        if self.input_grid is None:
            return table(window, image_mask=image_mask)
        span = Grid(max(video_span(image_mask, grid.t), self.input_grid.t), grid.h, grid.w)
        return table(window, stretch_window(table.window, self.input_grid, span, type(self).__name__), image_mask)

    def set_window(self, window: Sequence[int]) -> None:
        """Scale the window to the concrete ``window`` (aspect-ratio finetuning, W.A.L.T App. A), interpolating the
        relative bias table; whole-axis (``None``) entries stay whole-axis."""
        super().set_window(window)
        if self.rel_pos is not None:
            self.rel_pos.interpolate(tuple(int(w) for w in window))
