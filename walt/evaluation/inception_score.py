"""Inception Score (Salimans et al. 2016), reported by W.A.L.T (Tables 2–3) and LAVITA (Table 1):
``IS = exp(E_x KL(p(y|x) ‖ p(y)))``, the mean over ``splits`` disjoint splits (10 in the papers' protocol)."""
from __future__ import annotations

import numpy as np


def inception_score(probs: np.ndarray, splits: int = 10) -> tuple[float, float]:
    """``(mean, std)`` of the Inception Score over ``splits`` splits of class probabilities ``(N, K)``."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 2 or probs.shape[0] < splits:
        raise ValueError(f"inception score: probabilities must be (N >= splits={splits}, K), got {probs.shape}")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) or probs.min() < 0:
        raise ValueError("inception score: each row of probs must be a probability distribution (softmax output)")
    scores = []
    for part in np.array_split(probs, splits):
        marginal = part.mean(axis=0, keepdims=True)
        kl = np.sum(part * (np.log(np.clip(part, 1e-12, None)) - np.log(np.clip(marginal, 1e-12, None))), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))
