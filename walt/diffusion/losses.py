"""Diffusion losses: ``L_simple`` weighting and the terms of ``L_vlb`` (LAVITA §3.1; Nichol & Dhariwal 2021 §3.1).

``L_vlb = L_0 + Σ_t L_{t−1}`` with ``L_{t−1} = KL(q(x_{t−1}|x_t, x_0) ‖ p_θ(x_{t−1}|x_t))`` (Gaussian KL) and
``L_0 = −log p_θ(x_0|x_1)`` (discretized Gaussian decoder over 256 bins of ``[−1, 1]``), both in bits per dim.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

LOSS_WEIGHTINGS = ("none", "min_snr")


def mean_flat(x: Tensor) -> Tensor:
    """Mean over every dimension but the batch: ``(B, ...) -> (B,)``."""
    return x.flatten(1).mean(dim=1)


def normal_kl(mean1: Tensor, logvar1: Tensor, mean2: Tensor, logvar2: Tensor) -> Tensor:
    """Elementwise ``KL(N(mean1, e^logvar1) ‖ N(mean2, e^logvar2))`` in nats."""
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2) ** 2 * torch.exp(-logvar2))


def approx_standard_normal_cdf(x: Tensor) -> Tensor:
    """Φ(x) by the tanh approximation of Page (1977), as in the DDPM/ADM code bases."""
    return 0.5 * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor) -> Tensor:
    """Elementwise ``log P(x)`` in nats of data ``x ∈ [−1, 1]`` quantized to 256 bins under
    ``N(mean, e^{2·log_scale})``; the outermost bins extend to ±∞ (DDPM §3.3)."""
    centered = x - mean
    inv_std = torch.exp(-log_scale)
    cdf_plus = approx_standard_normal_cdf(inv_std * (centered + 1.0 / 255.0))
    cdf_min = approx_standard_normal_cdf(inv_std * (centered - 1.0 / 255.0))
    log_cdf_plus = torch.log(cdf_plus.clamp(min=1e-12))
    log_one_minus_cdf_min = torch.log((1.0 - cdf_min).clamp(min=1e-12))
    log_mid = torch.log((cdf_plus - cdf_min).clamp(min=1e-12))
    return torch.where(x < -0.999, log_cdf_plus, torch.where(x > 0.999, log_one_minus_cdf_min, log_mid))


def loss_weight(weighting: str, prediction: str, snr: Tensor, gamma: float = 5.0) -> Tensor:
    """Per-sample weight of the target MSE. ``none``: 1. ``min_snr``: Min-SNR-γ (Hang et al. 2023) — the x0-space
    weight ``min(SNR, γ)`` expressed for the chosen target: ``/SNR`` for eps, ``/(SNR + 1)`` for v; at SNR = 0
    (zero terminal SNR) the eps weight is its limit 1."""
    if weighting == "none":
        return torch.ones_like(snr)
    if weighting != "min_snr":
        raise ValueError(f"unknown loss_weighting {weighting!r}; valid weightings are: {', '.join(LOSS_WEIGHTINGS)}")
    if prediction == "eps":
        return (gamma / snr).clamp(max=1.0)
    if prediction == "v":
        return snr.clamp(max=gamma) / (snr + 1)
    return snr.clamp(max=gamma)
