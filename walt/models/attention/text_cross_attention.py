"""Cross-attention to text tokens only (PixArt-α §2.3; the spatial blocks of the released Latte T2V model).

Every video token attends to the text tokens alone — keys and values come from the text, unlike W.A.L.T §4.3, whose
windows attend to ``concat(window, text)`` (:class:`~walt.models.attention.cross_attention.WindowCrossAttention`).
With text-only keys the window does not matter (each query sees the same text), so all tokens of a sample are one
query set and the call is one :func:`~walt.models.attention.kernel.attention` on ``(B, heads, N, d)`` queries. It
reads the un-normalized tokens (``pre_norm = False``: PixArt-α applies no LayerNorm before it). In image–video joint
training an appended image frame attends to its own caption, as the public Latte T2V code does (``models/latte_t2v.py``:
per-image caption tokens beside the clip's and a 3-D mask): each frame is then its own query set.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.attention.heads import MultiHeadAttention
from walt.models.attention.kernel import attention
from walt.models.conditioning.image_frames import FrameText
from walt.models.grid import Grid


@ATTENTIONS.register_module()
class TextCrossAttention(MultiHeadAttention):
    """PixArt-α / Latte T2V cross-attention: queries from the video tokens, keys and values from the text tokens.
    Text padding (``context_mask`` False) is never attended; a sample with no text token at all (a dropped
    condition) gets no update, where softmax over nothing would be undefined."""

    pre_norm = False

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, qkv_bias: bool = True):
        super().__init__(dim, num_heads, window=(None, None, None))  # text-only keys: the whole grid is one window
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.add_qk_norm_and_proj(qk_norm)

    def forward(self, x: Tensor, grid: Grid, context: Tensor, context_mask: Tensor | None = None,
                frame_text: FrameText | None = None) -> Tensor:
        """``x`` ``(B, N, D)``; ``context`` ``(B, L, D)`` text tokens already projected to ``D``; ``context_mask``
        ``(B, L)`` bool, True = real token; ``frame_text``: the image frames' own captions (joint training), each
        image frame's tokens then attend to its own caption, every other frame to its sample's."""
        b, n, d = x.shape
        if context.dim() != 3 or context.shape[0] != b or context.shape[2] != d:
            raise ValueError(f"TextCrossAttention: context must have shape ({b}, L, {d}), got {tuple(context.shape)}")
        length = context.shape[1]
        if context_mask is not None and tuple(context_mask.shape) != (b, length):
            raise ValueError(f"TextCrossAttention: context_mask must have shape ({b}, {length}), "
                             f"got {tuple(context_mask.shape)}")
        kv = self.kv(context)
        if frame_text is None:
            return self._attend(x, kv, context_mask)
        # Latte T2V image-joint training: one query set per frame, with its own caption (a video frame its clip's)
        own = context_mask if context_mask is not None else context.new_ones(b, length, dtype=torch.bool)
        kv = frame_text.per_frame(kv, self.kv(frame_text.tokens)).flatten(0, 1)  # (B·T, L, 2D)
        mask = frame_text.per_frame(own.bool(), frame_text.mask).flatten(0, 1)
        return self._attend(x.reshape(b * grid.t, n // grid.t, d), kv, mask).view(b, n, d)

    def _attend(self, x: Tensor, kv: Tensor, context_mask: Tensor | None) -> Tensor:
        """Queries ``x`` ``(B', N', D)`` over keys/values ``kv`` ``(B', L, 2D)`` with ``context_mask`` ``(B', L)``."""
        b, n, d = x.shape
        length = kv.shape[1]
        q = self.q_norm(self.q(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2))
        k, v = kv.view(b, length, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k = self.k_norm(k)
        if context_mask is None:
            return self.proj(attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        has_text = context_mask.bool().any(dim=1)
        # a textless row attends to everything (finite, no NaN in forward or backward) and is then zeroed
        mask = (context_mask.bool() | ~has_text[:, None])[:, None, None]
        out = self.proj(attention(q, k, v, mask).transpose(1, 2).reshape(b, n, d))
        return out * has_text[:, None, None].to(out.dtype)
