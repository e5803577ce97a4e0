"""Test helper: overwrite a module's parameters with seeded Gaussian values, so outputs depend on every weight (the
zero-initialized adaLN and output layers of a fresh model would hide a wrong mapping)."""
import torch
from torch import nn


def randomize(module: nn.Module, seed: int = 0, scale: float = 0.1) -> nn.Module:
    """``module`` with every parameter drawn from N(0, scale²) (seeded), in eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale)
    return module.eval()
