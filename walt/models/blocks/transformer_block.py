"""The pre-norm transformer block shared by both backbones (W.A.L.T §4.2–4.3, LAVITA App. A.2).

``x ← x + α₁ · Attn(AdaLN(x; γ₁, β₁))``, optionally ``x ← x + CrossAttn(LN(x), text)``
(``x ← x + CrossAttn(x, text)`` when the cross-attention's ``pre_norm`` is False, as in PixArt-α / the released
Latte T2V), then
``x ← x + α₂ · MLP(AdaLN(x; γ₂, β₂))``. Which attention (full, SW, STW, LAVITA spatial/temporal/variant 4) is a
config choice; the parent passes ``dim`` and ``num_heads``. Without modulation (LAVITA "all tokens") the norms are
plain affine LayerNorms and there are no gates.
"""
from __future__ import annotations

from torch import Tensor, nn

from registry import ATTENTIONS
from walt.models.blocks.mlp import Mlp
from walt.models.conditioning.image_frames import FrameText
from walt.models.conditioning.modulate import gated_residual, modulate
from walt.models.grid import Grid


class TransformerBlock(nn.Module):
    """W.A.L.T / LAVITA transformer block: self-attention (any registered factorization), optional windowed
    cross-attention to text, MLP; modulated by a ``(B, 6, D)`` adaLN tensor when ``modulated``."""

    def __init__(self, dim: int, num_heads: int, attention: dict, mlp_ratio: float = 4.0,
                 cross_attention: dict | None = None, modulated: bool = True, attention_args: dict | None = None):
        super().__init__()
        self.modulated = modulated
        known = dict(attention_args or {}, dim=dim, num_heads=num_heads)  # what the backbone knows, offered
        self.norm1 = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.attn = ATTENTIONS.build(attention, default_args=known)
        self.cross_attn = None
        if cross_attention is not None:
            self.norm_cross = nn.Identity()  # registered first: parameter order (optimizer state) as before
            # the window of the block's own self-attention, unless the config names one (W.A.L.T §4.3)
            own_window = getattr(self.attn, "window", None)
            self.cross_attn = ATTENTIONS.build(cross_attention, default_args=dict(known, window=own_window))
            if getattr(self.cross_attn, "pre_norm", True):
                self.norm_cross = nn.LayerNorm(dim, eps=1e-6)
        self.norm2 = nn.LayerNorm(dim, elementwise_affine=not modulated, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x: Tensor, grid: Grid, mod: Tensor | None = None, image_mask: Tensor | None = None,
                context: Tensor | None = None, context_mask: Tensor | None = None,
                frame_text: FrameText | None = None) -> Tensor:
        """``x`` ``(B, N, D)``; ``mod`` ``(B, 6, D)``, or ``(B, T, 6, D)`` per frame, in
        :data:`~walt.models.conditioning.modulate.CHUNKS` order (unused without modulation); ``context`` ``(B, L, D)``
        text tokens with ``context_mask`` ``(B, L)`` bool (True = real token); ``frame_text`` the image frames' own
        text (``walt/models/conditioning/image_frames.py``)."""
        if self.modulated:
            shift1, scale1, gate1, shift2, scale2, gate2 = mod.unbind(-2)
            x = gated_residual(x, self.attn(modulate(self.norm1(x), shift1, scale1), grid, image_mask), gate1)
        else:
            x = x + self.attn(self.norm1(x), grid, image_mask)
        if self.cross_attn is not None:
            if context is None:
                raise ValueError("TransformerBlock: this block has cross-attention but no text context was given")
            own_text = {} if frame_text is None else dict(frame_text=frame_text)
            x = x + self.cross_attn(self.norm_cross(x), grid, context, context_mask, **own_text)
        if self.modulated:
            return gated_residual(x, self.mlp(modulate(self.norm2(x), shift2, scale2)), gate2)
        return x + self.mlp(self.norm2(x))
