"""Text conditioning of LAVITA beyond §4.4's pooled vector: the released Latte text-to-video model and the public
Latte code's text projection.

* ``cross_attention`` (e.g. ``dict(type="TextCrossAttention")``): PixArt-α-style conditioning of the released
  Latte T2V model — the text tokens pass a caption projection (``text_dim → D → D``, GELU-tanh) and every spatial
  block cross-attends to them (temporal blocks do not), with adaLN-single (``conditioning=dict(type="AdaLNSingle")``)
  modulating the blocks from the timestep alone (``configs/lavita_t2v_latte1.py``). In image–video joint training an
  appended image's spatial blocks cross-attend to its own caption (``frame_text``), as ``models/latte_t2v.py`` does.
* ``latte_text="pooled"`` / ``"tokens"``: the public Latte code's ``text_embedding_projection`` (``extras=78``),
  ``Linear(SiLU(e))`` added to the blocks' conditioning vector (:mod:`walt.models.embeddings.latte_text_embed`).
"""
from __future__ import annotations

from torch import nn

from walt.models.blocks.mlp import Mlp
from walt.models.conditioning.image_frames import ImageFrames
from walt.models.embeddings.latte_text_embed import LatteTextEmbed


def text_modules(dim: int, text_dim: int | None, text_pooled: bool, cross_attention: dict | None,
                 latte_text: str | None, text_length: int, variant: int) -> tuple[nn.Module | None, nn.Module | None]:
    """``(caption_projection, latte_text_embed)`` of a LAVITA backbone (``None`` where not configured)."""
    if (cross_attention is not None or latte_text) and not text_dim:
        raise ValueError("LAVITA: cross_attention / latte_text condition on text, but the model has no text width "
                         "(give the model a text_encoder, or text_dim for cached embeddings)")
    if cross_attention is not None and variant not in (1, 2):
        raise ValueError(f"LAVITA: cross_attention goes into the spatial blocks of variants 1 and 2, got variant "
                         f"{variant}")
    if latte_text and text_pooled:
        raise ValueError("LAVITA: latte_text replaces the pooled-text projection; set text_pooled=False")
    caption_projection = Mlp(text_dim, dim, dim) if cross_attention is not None else None
    latte_text_embed = LatteTextEmbed(text_dim, dim, latte_text, text_length) if latte_text else None
    return caption_projection, latte_text_embed


def text_inputs(caption_projection: nn.Module | None, latte_text_embed: LatteTextEmbed | None) -> tuple[str, ...]:
    """Which text inputs these modules read (``"tokens"`` and/or ``"pooled"``)."""
    tokens = caption_projection is not None or (latte_text_embed is not None and latte_text_embed.source == "tokens")
    pooled = latte_text_embed is not None and latte_text_embed.source == "pooled"
    return ("tokens",) * tokens + ("pooled",) * pooled


def check_frame_text(frames: ImageFrames, latte_text_embed: LatteTextEmbed | None) -> None:
    """Per-frame conditions of joint training (``image_frames.py``) reach the class, §4.4's pooled text and the
    Latte T2V cross-attention (per-image captions, ``models/latte_t2v.py``); the ``latte_text`` projection takes
    one caption per sample."""
    if latte_text_embed is not None:
        raise ValueError("LAVITA: per-frame conditions (frame_y / frame_text / frame_text_pooled) are not read by "
                         "the latte_text projection; give image frames their sample's caption")
