"""Which of the T training timesteps a sampler with fewer steps visits (DDIM §4.2; improved DDPM §4).

``trailing`` (default) always starts at the last timestep ``T − 1``, so that at zero terminal SNR sampling starts
from pure noise (Lin et al. 2024 §3.3, Table 2); ``linspace`` spreads the steps evenly over ``[0, T − 1]`` (improved
DDPM's respacing, which the public Latte/DiT samplers use); ``leading`` takes every ``T // num_steps``-th step from 0
(diffusers' DDIM default, the released Latte T2V pipeline's).
"""
from __future__ import annotations

import torch
from torch import Tensor

SPACINGS = ("trailing", "linspace", "leading")


def space_timesteps(num_timesteps: int, num_steps: int, spacing: str = "trailing") -> Tensor:
    """Increasing original timesteps ``(num_steps,)`` to sample with; all of them when ``num_steps == T``."""
    if not 1 <= num_steps <= num_timesteps:
        raise ValueError(f"num_steps must be in [1, {num_timesteps}], got {num_steps}")
    if spacing == "trailing":
        i = torch.arange(num_steps, dtype=torch.float64)
        return (torch.round(num_timesteps - i * num_timesteps / num_steps).long() - 1).flip(0)
    if spacing == "linspace":
        return torch.linspace(0, num_timesteps - 1, num_steps, dtype=torch.float64).round().long()
    if spacing == "leading":
        return torch.arange(num_steps) * (num_timesteps // num_steps)
    raise ValueError(f"unknown timestep spacing {spacing!r}; valid spacings are: {', '.join(SPACINGS)}")
