"""Gaussian noise for the diffusions and samplers: drawn on the generator's device, so that a CPU-seeded generator
gives the same numbers on any device."""
from __future__ import annotations

import torch
from torch import Tensor


def gaussian_noise(shape: tuple[int, ...], generator: torch.Generator | None,
                   device: torch.device | str) -> Tensor:
    """Standard normal noise drawn on the generator's device, then moved to ``device``."""
    return torch.randn(shape, generator=generator,
                       device=generator.device if generator is not None else device).to(device)
