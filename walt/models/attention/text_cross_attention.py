"""Cross-attention to text tokens only (PixArt-α §2.3; the spatial blocks of the released Latte T2V model).

Every video token attends to the text tokens alone — keys and values come from the text, unlike W.A.L.T §4.3, whose
windows attend to ``concat(window, text)`` (:class:`~walt.models.attention.cross_attention.WindowCrossAttention`).
With text-only keys the window does not matter (each query sees the same text), so all tokens of a sample are one
query set and the call is one :func:`~walt.models.attention.kernel.attention` on ``(B, heads, N, d)`` queries. It
reads the un-normalized tokens (``pre_norm = False``: PixArt-α applies no LayerNorm before it).
"""
from __future__ import annotations

from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.attention.heads import MultiHeadAttention
from walt.models.attention.kernel import attention
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

    def forward(self, x: Tensor, grid: Grid, context: Tensor, context_mask: Tensor | None = None) -> Tensor:
        """``x`` ``(B, N, D)``; ``context`` ``(B, L, D)`` text tokens already projected to ``D``; ``context_mask``
        ``(B, L)`` bool, True = real token."""
        b, n, d = x.shape
        if context.dim() != 3 or context.shape[0] != b or context.shape[2] != d:
            raise ValueError(f"TextCrossAttention: context must have shape ({b}, L, {d}), got {tuple(context.shape)}")
        length = context.shape[1]
        q = self.q_norm(self.q(x).view(b, n, self.num_heads, self.head_dim).transpose(1, 2))
        k, v = self.kv(context).view(b, length, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        k = self.k_norm(k)
        if context_mask is None:
            return self.proj(attention(q, k, v).transpose(1, 2).reshape(b, n, d))
        if tuple(context_mask.shape) != (b, length):
            raise ValueError(f"TextCrossAttention: context_mask must have shape ({b}, {length}), "
                             f"got {tuple(context_mask.shape)}")
        has_text = context_mask.bool().any(dim=1)
        # a textless row attends to everything (finite, no NaN in forward or backward) and is then zeroed
        mask = (context_mask.bool() | ~has_text[:, None])[:, None, None]
        out = self.proj(attention(q, k, v, mask).transpose(1, 2).reshape(b, n, d))
        return out * has_text[:, None, None].to(out.dtype)
