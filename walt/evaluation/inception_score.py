"""Inception Score (Salimans et al. 2016), reported by W.A.L.T (Tables 2, 3, 5) and LAVITA (Table 1):
``IS = exp(E_x KL(p(y|x) ‖ p(y)))``, mean and std over ``splits`` disjoint splits.

Splits follow the public metric code: split ``i`` holds rows ``[i·N // splits, (i+1)·N // splits)`` (stylegan2-ada /
StyleGAN-V ``inception_score.py``); ADM's evaluator takes consecutive splits of 5,000 (``split_size``, the same
splits at N = 50,000); TGAN-v2 adds ``eps=1e-20`` to the probabilities. The video IS of
StyleGAN-V (C3D on UCF-101) first shuffles the rows with ``np.random.RandomState(42)``: ``shuffle_seed=42``.
"""
from __future__ import annotations

import numpy as np


def inception_score(probs: np.ndarray, splits: int = 10, shuffle_seed: int | None = None,
                    split_size: int | None = None, eps: float = 0.0) -> tuple[float, float]:
    """``(mean, std)`` of the Inception Score over ``splits`` splits of class probabilities ``(N, K)``; the rows
    are shuffled first with ``np.random.RandomState(shuffle_seed)`` when a seed is given. ``split_size``: ADM's
    consecutive splits of that many rows instead (the last one shorter); ``eps``: added to every probability
    first (TGAN-v2's ``eps=1e-20``)."""
    probs = np.array(probs, dtype=np.float64)
    least = splits if split_size is None else 1
    if probs.ndim != 2 or probs.shape[0] < least:
        raise ValueError(f"inception score: probabilities must be (N >= {least}, K), got {probs.shape}")
    if not np.allclose(probs.sum(axis=1), 1.0, atol=1e-4) or probs.min() < 0:
        raise ValueError("inception score: each row of probs must be a probability distribution (softmax output)")
    if shuffle_seed is not None:
        np.random.RandomState(shuffle_seed).shuffle(probs)
    probs = probs + eps
    n, scores = probs.shape[0], []
    bounds = [(i * n // splits, (i + 1) * n // splits) for i in range(splits)] if split_size is None else \
        [(lo, min(lo + split_size, n)) for lo in range(0, n, split_size)]
    # log(0) is clipped: the reference code would return NaN for a probability that underflowed to exactly 0
    log_probs = np.log(np.clip(probs, 1e-30, None))
    for lo, hi in bounds:
        part, logs = probs[lo:hi], log_probs[lo:hi]
        marginal = np.log(np.clip(part.mean(axis=0, keepdims=True), 1e-30, None))
        scores.append(np.exp(np.mean(np.sum(part * (logs - marginal), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))
