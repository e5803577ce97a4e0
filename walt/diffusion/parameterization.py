"""Prediction targets of the denoiser and exact conversions between them (W.A.L.T §3 Eq. 2; Salimans & Ho 2022).

With ``x_t = α_t x_0 + σ_t ε`` (``α_t = sqrt(ᾱ_t)``, ``σ_t = sqrt(1 − ᾱ_t)``) the targets are ``ε``, ``x_0`` and
``v = α_t ε − σ_t x_0``. W.A.L.T §3 prints ``v = sqrt(1−γ) ε − sqrt(γ) x_0`` with the two coefficients swapped; we
use the definition of the works it cites [35, 65] (Salimans & Ho), under which ``x_0 = α_t x_t − σ_t v`` stays
well defined at zero terminal SNR (``α_T = 0``, ``v = −x_0``).
"""
from __future__ import annotations

from torch import Tensor

PREDICTIONS = ("eps", "v", "x0")


def check_prediction(prediction: str) -> str:
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction target {prediction!r}; valid targets are: {', '.join(PREDICTIONS)}")
    return prediction


def v_from_x0_eps(x0: Tensor, eps: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    return alpha * eps - sigma * x0


def x0_from_eps(x_t: Tensor, eps: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    return (x_t - sigma * eps) / alpha


def eps_from_x0(x_t: Tensor, x0: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    return (x_t - alpha * x0) / sigma


def x0_from_v(x_t: Tensor, v: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    return alpha * x_t - sigma * v


def eps_from_v(x_t: Tensor, v: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    return sigma * x_t + alpha * v


def target(prediction: str, x0: Tensor, eps: Tensor, alpha: Tensor | float, sigma: Tensor | float) -> Tensor:
    """The regression target ``y`` of W.A.L.T Eq. 2 for ``prediction`` ∈ {eps, v, x0}."""
    if check_prediction(prediction) == "eps":
        return eps
    if prediction == "x0":
        return x0
    return v_from_x0_eps(x0, eps, alpha, sigma)


def x0_eps_from_prediction(prediction: str, x_t: Tensor, pred: Tensor, alpha: Tensor | float,
                           sigma: Tensor | float) -> tuple[Tensor, Tensor]:
    """``(x̂_0, ε̂)`` implied by a model output ``pred`` of kind ``prediction`` at noisy input ``x_t``."""
    if check_prediction(prediction) == "eps":
        return x0_from_eps(x_t, pred, alpha, sigma), pred
    if prediction == "x0":
        return pred, eps_from_x0(x_t, pred, alpha, sigma)
    return x0_from_v(x_t, pred, alpha, sigma), eps_from_v(x_t, pred, alpha, sigma)


def x0_eps_coefficients(prediction: str, alpha: float, sigma: float) -> tuple[float, float, float, float]:
    """``(p, q, r, u)`` with ``x̂_0 = p·x_t + q·pred`` and ``ε̂ = r·x_t + u·pred`` at scalar ``α_t, σ_t`` — the
    conversions above as coefficients, so that a sampler step is two fused tensor operations."""
    if check_prediction(prediction) == "eps":
        return 1 / alpha, -sigma / alpha, 0.0, 1.0
    if prediction == "x0":
        return 0.0, 1.0, 1 / sigma, -alpha / sigma
    return alpha, -sigma, sigma, alpha
