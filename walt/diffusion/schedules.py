"""Discrete noise schedules ``β_1..β_T`` (DDPM; improved DDPM cosine) and the zero-terminal-SNR rescale.

* ``linear``: β from ``beta_start`` to ``beta_end`` (1e-4 → 0.02 over T = 1000; W.A.L.T App. A, LAVITA §3.1).
* ``cosine``: ᾱ(t) = cos²((t/T + s)/(1 + s) · π/2) with β clipped at 0.999 (Nichol & Dhariwal 2021, Eq. 17).
* :func:`rescale_zero_terminal_snr`: Lin et al. 2024, Alg. 1 — shift and scale ``sqrt(ᾱ)`` so that ``ᾱ_T = 0``
  exactly while ``ᾱ_1`` is unchanged (W.A.L.T §5.3 "noise schedule", Table 3e).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

SCHEDULES = ("linear", "cosine")


def linear_betas(num_timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """DDPM linear schedule, float64 ``(T,)``."""
    return torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)


def cosine_betas(num_timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> Tensor:
    """Improved-DDPM cosine schedule, float64 ``(T,)``: ``β_t = 1 − ᾱ(t)/ᾱ(t−1)``, clipped at ``max_beta``."""
    steps = torch.arange(num_timesteps + 1, dtype=torch.float64) / num_timesteps
    alpha_bar = torch.cos((steps + s) / (1 + s) * math.pi / 2) ** 2
    return (1 - alpha_bar[1:] / alpha_bar[:-1]).clamp(max=max_beta)


def rescale_zero_terminal_snr(betas: Tensor) -> Tensor:
    """Lin et al. Alg. 1: ``sqrt(ᾱ) ← (sqrt(ᾱ) − sqrt(ᾱ_T)) · sqrt(ᾱ_1) / (sqrt(ᾱ_1) − sqrt(ᾱ_T))``.

    The last β becomes exactly 1 (``ᾱ_T = 0``), the first ``ᾱ`` is unchanged."""
    sqrt_ab = torch.cumprod(1 - betas.double(), dim=0).sqrt()
    first, last = sqrt_ab[0].clone(), sqrt_ab[-1].clone()
    sqrt_ab = (sqrt_ab - last) * first / (first - last)
    alpha_bar = sqrt_ab ** 2
    alphas = torch.cat([alpha_bar[:1], alpha_bar[1:] / alpha_bar[:-1]])
    alphas[-1] = 0.0  # exact: the division above gives 0/ᾱ_{T-1} = 0 already; pin it against rounding
    return 1 - alphas


def make_betas(schedule: str, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
               zero_terminal_snr: bool = False) -> Tensor:
    """β_1..β_T of the named schedule (``linear`` | ``cosine``), optionally rescaled to zero terminal SNR."""
    if schedule == "linear":
        betas = linear_betas(num_timesteps, beta_start, beta_end)
    elif schedule == "cosine":
        betas = cosine_betas(num_timesteps)
    else:
        raise ValueError(f"unknown noise schedule {schedule!r}; valid schedules are: {', '.join(SCHEDULES)}")
    return rescale_zero_terminal_snr(betas) if zero_terminal_snr else betas
