"""The token grid that travels with a flattened token sequence through a backbone."""
from __future__ import annotations

from typing import NamedTuple

from torch import Tensor


class Grid(NamedTuple):
    """Token grid of a latent video after patchify: ``t`` latent frames of ``h × w`` tokens each."""

    t: int
    h: int
    w: int

    @property
    def spatial(self) -> int:
        return self.h * self.w

    @property
    def numel(self) -> int:
        return self.t * self.h * self.w

    def token_mask(self, frame_mask: Tensor) -> Tensor:
        """Per-frame flags ``(B, t)`` (e.g. ``image_mask``) → the same flag on every token, ``(B, t*h*w)``."""
        b = frame_mask.shape[0]
        if tuple(frame_mask.shape) != (b, self.t):
            raise ValueError(f"Grid{tuple(self)}.token_mask: expected a (B, {self.t}) frame mask, got "
                             f"{tuple(frame_mask.shape)}")
        return frame_mask[:, :, None].expand(b, self.t, self.spatial).reshape(b, self.numel)
