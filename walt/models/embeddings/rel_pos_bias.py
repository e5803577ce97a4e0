"""Relative position bias inside a 3-D attention window (W.A.L.T §4.2 "relative position embeddings", Swin).

A learned table holds one scalar per head for every 3-D offset ``(Δt, Δh, Δw)`` a window can contain, i.e.
``(2wt-1)(2wh-1)(2ww-1)`` rows; the bias between tokens ``i`` and ``j`` of a window is the row of their offset.
It plugs into :class:`~walt.models.attention.window.WindowSelfAttention` through its ``.rel_pos`` hook. A window
smaller than the table's (an image, ``t = 1``, passing a spatiotemporal layer) uses the subset of offsets it has;
for a window on another grid, the table is resampled to that grid's window: once and for good by
:meth:`RelativePositionBias.interpolate` (aspect-ratio finetuning, App. A), or on the fly, differentiably, by
``forward(window, table_window)`` (run-time shape buckets); both give the same numbers.
A window that spans more frames than the table only because image frames of joint training were appended
(LAVITA+IMG: 16 video + 8 image frames under a whole-time window) needs no more rows: image frames never
attend across frames, so the table must cover the offsets between video frames only, which is checked; the
rows of the other pairs are masked out.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def relative_offsets(window: Sequence[int]) -> Tensor:
    """``(L, L, 3)`` long tensor of offsets ``pos_i - pos_j`` between the ``L = wt·wh·ww`` tokens of a window
    (tokens in (t, h, w) row-major order)."""
    coords = torch.stack(torch.meshgrid(*[torch.arange(n) for n in window], indexing="ij")).flatten(1)  # (3, L)
    return (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)


def video_span(image_mask: Tensor | None, frames: int) -> int:
    """The most frames any row of ``image_mask`` ``(B, T)`` spans from its first to its last video frame
    (``frames`` without a mask)."""
    if image_mask is None:
        return frames
    frames = image_mask.shape[1]
    index = torch.arange(frames, device=image_mask.device)
    first = torch.where(image_mask, frames, index).amin(1)
    last = torch.where(image_mask, -1, index).amax(1)
    return int((last - first + 1).clamp(min=0).max())


class RelativePositionBias(nn.Module):
    """W.A.L.T §4.2 (Swin-style) learned relative position bias per head for a ``(wt, wh, ww)`` window.

    ``forward(window)`` returns the additive attention bias ``(heads, L, L)`` for a concrete window no larger than
    the one the table was built for.
    """

    def __init__(self, window: Sequence[int], num_heads: int, init_std: float = 0.02):
        super().__init__()
        self.window = tuple(int(w) for w in window)
        if len(self.window) != 3 or min(self.window) < 1:
            raise ValueError(f"RelativePositionBias: window must be 3 positive sizes (t, h, w), got {tuple(window)}")
        self.num_heads, self.init_std = num_heads, init_std
        self.table = nn.Parameter(torch.zeros(num_heads, *(2 * w - 1 for w in self.window)))
        nn.init.trunc_normal_(self.table, std=init_std)
        self._index: dict[tuple, Tensor] = {}  # (window, device) → flat table index (L·L,), built once

    def _flat_index(self, window: tuple[int, int, int], table_window: tuple[int, int, int]) -> Tensor:
        key = (window, table_window, self.table.device)
        if key not in self._index:
            # Offset 0 of an axis sits at index (table_w - 1); a smaller window reads the central rows of the table.
            off = relative_offsets(window) + torch.tensor(table_window) - 1
            sizes = [2 * w - 1 for w in table_window]
            off[..., 0].clamp_(0, sizes[0] - 1)  # Δt beyond the table: pairs with an image frame, masked (forward)
            flat = (off[..., 0] * sizes[1] + off[..., 1]) * sizes[2] + off[..., 2]
            self._index[key] = flat.flatten().to(self.table.device)
        return self._index[key]

    def forward(self, window: Sequence[int], table_window: Sequence[int] | None = None,
                image_mask: Tensor | None = None) -> Tensor:
        """The bias of a concrete ``window``, read from the table resampled to ``table_window`` (default: the
        table's own window; the resampling is :meth:`interpolate`'s, differentiable, for run-time shape buckets).
        ``image_mask`` ``(B, T)`` (True = image frame) lets the window span more frames than the table when its
        video frames are no further apart than the table's."""
        window = tuple(window)
        table_window = self.window if table_window is None else tuple(int(w) for w in table_window)
        if any(w > tw for w, tw in zip(window[1:], table_window[1:])):
            raise ValueError(f"RelativePositionBias: window {window} is larger than the table's window "
                             f"{table_window}; call interpolate({window}) first (aspect-ratio finetuning)")
        if window[0] > table_window[0]:
            span = video_span(image_mask, window[0])
            if span > table_window[0]:
                raise ValueError(f"RelativePositionBias: a window of {window[0]} frames holds video frames {span} "
                                 f"frames apart, but the table was sized for windows of {table_window[0]} frames "
                                 f"(window {table_window}, the token grid the model was built for); build the model "
                                 f"for {span} frames (input_size / video_size)")
        table = self.table if table_window == self.window else resample_table(self.table, table_window)
        length = window[0] * window[1] * window[2]
        return table.flatten(1)[:, self._flat_index(window, table_window)].view(self.num_heads, length, length)

    @torch.no_grad()
    def interpolate(self, window: Sequence[int]) -> None:
        """Resize the table to a new window (:func:`resample_table`) — W.A.L.T App. A aspect-ratio finetuning."""
        window = tuple(int(w) for w in window)
        self.table = nn.Parameter(resample_table(self.table.data, window).contiguous())
        self.window = window
        self._index.clear()


def resample_table(table: Tensor, window: Sequence[int]) -> Tensor:
    """A ``(heads, 2wt-1, 2wh-1, 2ww-1)`` bias table resized to ``window`` by trilinear interpolation over offsets
    (align_corners: the extreme offsets map onto each other; the same window is the identity)."""
    size = tuple(2 * int(w) - 1 for w in window)
    return F.interpolate(table[None], size=size, mode="trilinear", align_corners=True)[0]
