"""Running statistics of detector outputs: the Gaussian of FID / FVD (mean, covariance) and, for the Inception
Score, every probability row. Partial statistics of disjoint chunks merge exactly, so statistics gathered from
several processes equal the single-process ones when the chunks are merged in the same order.

Like the ``FeatureStats`` of stylegan2-ada / StyleGAN-V, outputs are cast to float32 and summed in float64
(``Σx``, ``Σxxᵀ``); the covariance is ``Σxxᵀ/N − μμᵀ`` (``ddof=0``, the StyleGAN-V protocol) or the unbiased
``np.cov`` (``ddof=1``, ADM's evaluator).
"""
from __future__ import annotations

import numpy as np


class FeatureStats:
    """Sum, sum of outer products and count of ``(N, D)`` features; optionally every row (``keep_rows``)."""

    def __init__(self, keep_rows: bool = False):
        self.keep_rows = keep_rows
        self.count = 0
        self.sum: np.ndarray | None = None
        self.outer: np.ndarray | None = None
        self.rows: list[np.ndarray] = []

    def add(self, features: np.ndarray) -> "FeatureStats":
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2:
            raise ValueError(f"FeatureStats: features must be (N, D), got shape {x.shape}")
        if self.sum is not None and x.shape[1] != self.sum.shape[0]:
            raise ValueError(f"FeatureStats: {x.shape[1]}-d features added to {self.sum.shape[0]}-d statistics")
        x64 = x.astype(np.float64)
        self.sum = x64.sum(axis=0) if self.sum is None else self.sum + x64.sum(axis=0)
        self.outer = x64.T @ x64 if self.outer is None else self.outer + x64.T @ x64
        self.count += x.shape[0]
        if self.keep_rows:
            self.rows.append(x)
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add the statistics of a disjoint chunk (in chunk order, for bit-identical totals)."""
        if other.count == 0:
            return self
        if self.sum is None:
            self.sum, self.outer = other.sum.copy(), other.outer.copy()
        else:
            self.sum, self.outer = self.sum + other.sum, self.outer + other.outer
        self.count += other.count
        self.rows += other.rows
        return self

    def mean_cov(self, ddof: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(μ (D,), Σ (D, D))`` with ``Σ = (Σxxᵀ − N μμᵀ) / (N − ddof)``."""
        if self.count <= ddof or self.sum is None:
            raise ValueError(f"FeatureStats: {self.count} feature rows cannot give a covariance (ddof={ddof})")
        mean = self.sum / self.count
        return mean, (self.outer - self.count * np.outer(mean, mean)) / (self.count - ddof)

    def all_rows(self) -> np.ndarray:
        if not self.keep_rows:
            raise ValueError("FeatureStats: rows were not kept (keep_rows=False)")
        return np.concatenate(self.rows) if self.rows else np.zeros((0, 0), np.float32)
