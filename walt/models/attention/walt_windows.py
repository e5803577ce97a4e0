"""The three self-attention layers of W.A.L.T (§4.2, Table 3b): spatial window, spatiotemporal window, full.

:class:`~walt.models.attention.window.WindowSelfAttention` with W.A.L.T's defaults: qk-norm and the Swin-style
relative position bias of §4.2 on. The parent passes ``input_grid``, the token grid ``(t, h, w)`` the model is built
for, so that windows of ``None`` (whole axis) or larger than the grid resolve to the concrete window the bias table
needs.
"""
from __future__ import annotations

from typing import Sequence

from registry import ATTENTIONS
from walt.models.attention.window import WindowSelfAttention, WindowSpec


@ATTENTIONS.register_module()
class SpatialWindowAttention(WindowSelfAttention):
    """W.A.L.T §4.2 spatial window (SW) attention: non-overlapping ``1 × h' × w'`` windows (default 1×16×16)."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (1, 16, 16), qk_norm: bool = True,
                 qkv_bias: bool = True, rel_pos_bias: bool = True, rope: bool = False,
                 input_grid: Sequence[int] | None = None):
        if tuple(window)[0] != 1:
            raise ValueError(f"SpatialWindowAttention: a spatial window spans one latent frame, got window "
                             f"{tuple(window)}")
        super().__init__(dim, num_heads, window, qk_norm, qkv_bias, rel_pos_bias, rope, input_grid)


@ATTENTIONS.register_module()
class SpatiotemporalWindowAttention(WindowSelfAttention):
    """W.A.L.T §4.2 spatiotemporal window (STW) attention: ``(1+t) × h' × w'`` windows (default 5×8×8). "For images,
    we simply use an identity attention mask ensuring that the value embeddings corresponding to the image frame
    latents are passed through the layer as is" (``image_frames="identity"``, the default; ``"own_frame"`` lets an
    image attend within its own frame instead); its spatial mixing is the SW layers' job."""

    def __init__(self, dim: int, num_heads: int, window: WindowSpec = (5, 8, 8), qk_norm: bool = True,
                 qkv_bias: bool = True, rel_pos_bias: bool = True, rope: bool = False,
                 input_grid: Sequence[int] | None = None, image_frames: str = "identity"):
        super().__init__(dim, num_heads, window, qk_norm, qkv_bias, rel_pos_bias, rope, input_grid, image_frames)


@ATTENTIONS.register_module()
class FullAttention(WindowSelfAttention):
    """W.A.L.T Table 3b "full self attn.": one window covering the whole token grid (image frames of a joint batch
    attend within their own frame only)."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = True, qkv_bias: bool = True,
                 rel_pos_bias: bool = True, rope: bool = False, input_grid: Sequence[int] | None = None):
        super().__init__(dim, num_heads, (None, None, None), qk_norm, qkv_bias, rel_pos_bias, rope, input_grid)
