"""Window-restricted cross-attention to text (W.A.L.T §4.3 "Cross-attention").

Each window's queries attend to keys/values built from ``concat(the window's own tokens, the text tokens)`` — the
paper concatenates the query signal to the conditioning signal, which its early experiments found better than
text-only keys. The window is a config choice: SW cross-attention in every block for image–video joint training,
or the block's own SW/STW window for video-only training. Windows are folded into the batch (one SDPA call). In
joint training the windows of an image frame attend to that image's own caption (``frame_text``), which is why the
windows must then hold one frame.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.attention.heads import MultiHeadAttention
from walt.models.attention.kernel import WindowSpec, attention, check_window, window_merge, window_partition
from walt.models.conditioning.image_frames import FrameText
from walt.models.grid import Grid


@ATTENTIONS.register_module()
class WindowCrossAttention(MultiHeadAttention):
    """W.A.L.T §4.3 cross-attention inside ``(wt, wh, ww)`` windows (default spatial 1×16×16) with key/value
    ``concat(window tokens, text tokens)``; text padding (``context_mask`` False) is never attended."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (1, 16, 16), qk_norm: bool = True,
                 qkv_bias: bool = True, input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, window, input_grid)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.add_qk_norm_and_proj(qk_norm)

    def forward(self, x: Tensor, grid: Grid, context: Tensor, context_mask: Tensor | None = None,
                frame_text: FrameText | None = None) -> Tensor:
        """``x`` ``(B, N, D)`` on ``grid``; ``context`` ``(B, L, D)`` text tokens already projected to ``D``;
        ``context_mask`` ``(B, L)`` bool, True = real token; ``frame_text``: the image frames' own text (joint
        training, ``walt/models/conditioning/image_frames.py``), which needs windows of one frame."""
        b, n, d = x.shape
        if context.shape[0] != b or context.shape[2] != d:
            raise ValueError(f"WindowCrossAttention: context must have shape ({b}, L, {d}), got {tuple(context.shape)}")
        num_text = context.shape[1]
        if context_mask is not None and tuple(context_mask.shape) != (b, num_text):
            raise ValueError(f"WindowCrossAttention: context_mask must have shape ({b}, {num_text}), "
                             f"got {tuple(context_mask.shape)}")
        window = self.window_on(grid)
        check_window(tuple(grid), window, "WindowCrossAttention")
        if frame_text is not None and window[0] != 1:
            raise ValueError(f"WindowCrossAttention: image frames with their own text need windows of one frame "
                             f"(W.A.L.T §4.3: cross_attention_window='spatial'), got window {window}")
        xw = window_partition(x, tuple(grid), window)  # (B·nW, Lw, D)
        bw, length, _ = xw.shape
        num_windows = bw // b
        # project the text once per sample (and per image frame), then share it across that sample's (frame's) windows
        kv_text = self.kv(context)
        text_ok = None if context_mask is None else context_mask.bool()
        frames = None
        if frame_text is not None:
            frames = grid.t
            kv_text = frame_text.per_frame(kv_text, self.kv(frame_text.tokens))  # (B, T, L, 2D)
            own = text_ok if text_ok is not None else context.new_ones(b, num_text, dtype=torch.bool)
            text_ok = frame_text.per_frame(own, frame_text.mask)
        kv_text = _per_window(kv_text, num_windows, frames)
        kv = torch.cat([self.kv(xw), kv_text], dim=1).view(bw, length + num_text, 2, self.num_heads, self.head_dim)
        k, v = kv.permute(2, 0, 3, 1, 4)
        q = self.q(xw).view(bw, length, self.num_heads, self.head_dim).transpose(1, 2)
        q, k = self.q_norm(q), self.k_norm(k)
        mask = None
        if text_ok is not None:
            text_ok = _per_window(text_ok, num_windows, frames)
            mask = torch.cat([text_ok.new_ones(bw, length), text_ok], dim=1)[:, None, None]  # (B', 1, 1, Lk)
        out = attention(q, k, v, mask).transpose(1, 2).reshape(bw, length, d)
        return self.proj(window_merge(out, tuple(grid), window))


def _per_window(text: Tensor, num_windows: int, frames: int | None) -> Tensor:
    """Per-sample ``(B, L, ...)`` (``frames=None``) or per-frame ``(B, frames, L, ...)`` text → one copy per window,
    ``(B·num_windows, L, ...)`` (windows are frame-major, so a frame's windows are consecutive)."""
    b = text.shape[0]
    if frames is None:
        return text[:, None].expand(b, num_windows, *text.shape[1:]).reshape(b * num_windows, *text.shape[1:])
    rest = text.shape[2:]
    return text[:, :, None].expand(b, frames, num_windows // frames, *rest).reshape(b * num_windows, *rest)
