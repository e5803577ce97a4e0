"""The frozen text-encoder contract shared by every member of ``TEXT_ENCODERS`` (W.A.L.T §4.5, LAVITA §4.4).

``encoder(prompts: list[str]) -> dict(tokens (B, L, dim), mask (B, L) bool, pooled (B, dim))``. Every encoder pads
to a fixed ``max_length`` so that an embedding does not depend on the other prompts of its batch (cached embeddings,
``walt/data/text_cache.py``, then equal on-the-fly ones). The weights are frozen and the module stays in eval mode.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence

import torch
from torch import Tensor, nn


class FrozenTextEncoder(nn.Module, ABC):
    """Base class: subclasses set ``self.dim`` and implement ``encode(prompts) -> dict``; call ``self.freeze()``
    at the end of ``__init__``."""

    dim: int

    def freeze(self) -> None:
        """No gradients, eval mode forever (dropout off): the text encoder is never trained in either paper."""
        self.requires_grad_(False)
        super().train(False)

    def train(self, mode: bool = True) -> "FrozenTextEncoder":
        # The trainer calls model.train() on the whole LatentDiffusion; a frozen encoder ignores it.
        return super().train(False)

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def tokenize(self, prompts: list[str]) -> dict[str, Tensor]:
        """A Hugging Face tokenizer's ids and attention mask, padded to ``max_length`` (T5, MiniLM)."""
        return self.tokenizer(prompts, padding="max_length", truncation=True, max_length=self.max_length,
                              return_tensors="pt").to(self.device)

    @abstractmethod
    def encode(self, prompts: list[str]) -> dict[str, Tensor]:
        """``dict(tokens, mask, pooled)`` for a non-empty list of prompts (no gradient)."""

    @torch.no_grad()
    def forward(self, prompts: Sequence[str]) -> dict[str, Tensor]:
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise TypeError(f"{type(self).__name__}: expected a list of prompt strings, got {type(prompts).__name__}")
        if len(prompts) == 0:
            raise ValueError(f"{type(self).__name__}: got an empty list of prompts")
        out = self.encode(list(prompts))
        b, length = out["tokens"].shape[:2]
        if out["tokens"].shape != (b, length, self.dim) or out["mask"].shape != (b, length) or \
                out["pooled"].shape != (b, self.dim):
            raise ValueError(f"{type(self).__name__}: inconsistent outputs tokens {tuple(out['tokens'].shape)}, "
                             f"mask {tuple(out['mask'].shape)}, pooled {tuple(out['pooled'].shape)} for dim {self.dim}")
        return {"tokens": out["tokens"].float(), "mask": out["mask"].bool(), "pooled": out["pooled"].float()}


def masked_mean(tokens: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``tokens`` ``(B, L, D)`` over the valid positions of ``mask`` ``(B, L)``: ``(B, D)``."""
    return (tokens * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1)
