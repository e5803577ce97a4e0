"""The token grid that travels with a flattened token sequence through a backbone."""
from __future__ import annotations

from typing import NamedTuple


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
