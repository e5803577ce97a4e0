"""The text condition of the public Latte code's text-to-video models (``extras=78``; LAVITA §4.4 "texts play the
same role as the timesteps or labels").

``Linear(SiLU(e))`` is added to the conditioning vector of the transformer blocks — not to the output layer's, which
sees the timestep alone in that code. ``e`` is either the pooled text embedding (``source="pooled"``,
``latte_img.py``: 1024-d) or all ``num_tokens`` per-token embeddings flattened (``source="tokens"``, ``latte.py``:
77 × 768 CLIP tokens). Key ``linear`` = Latte's ``text_embedding_projection.1``.
"""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

SOURCES = ("pooled", "tokens")


class LatteTextEmbed(nn.Module):
    """Latte's ``text_embedding_projection``: ``(B, text_dim)`` pooled or ``(B, num_tokens, text_dim)`` tokens →
    ``(B, dim)``."""

    def __init__(self, text_dim: int, dim: int, source: str = "pooled", num_tokens: int = 77):
        super().__init__()
        if source not in SOURCES:
            raise ValueError(f"LatteTextEmbed: source must be one of {SOURCES}, got {source!r}")
        self.source, self.text_dim, self.num_tokens = source, text_dim, num_tokens
        self.linear = nn.Linear(text_dim * (num_tokens if source == "tokens" else 1), dim)

    def forward(self, text: Tensor | None = None, text_pooled: Tensor | None = None) -> Tensor:
        e = text_pooled if self.source == "pooled" else text
        want = (self.text_dim,) if self.source == "pooled" else (self.num_tokens, self.text_dim)
        if e is None or tuple(e.shape[1:]) != want:
            name = "text_pooled" if self.source == "pooled" else "text"
            got = None if e is None else tuple(e.shape)
            raise ValueError(f"LatteTextEmbed(source={self.source!r}) needs {name} of shape (B, "
                             f"{', '.join(map(str, want))}), got {got}")
        return self.linear(F.silu(e.flatten(1).to(self.linear.weight.dtype)))
