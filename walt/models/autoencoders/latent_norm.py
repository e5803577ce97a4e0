"""Latent normalisation (W.A.L.T §5.3, Table 3e "w/o latent norm": "we also normalize the latents before
processing them via transformer").

Per-channel mean and standard deviation of the autoencoder latents, measured over a dataset by
``tools/encode_latents.py`` / ``tools/latent_stats.py`` and stored as JSON beside the cached latents::

    {"mean": [...c floats], "std": [...c floats], "count": elements per channel, "latent_channels": c}

``LatentNorm.from_file(path)`` loads it; ``normalize`` maps latents to zero mean / unit variance per channel before
the diffusion model sees them, ``denormalize`` undoes it before decoding.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Sequence

import torch
from torch import Tensor, nn

from walt.models.meta import building_on_meta


class LatentNorm(nn.Module):
    """Per-channel affine normalisation of ``(B, c, t, h, w)`` latents: ``(z - mean) / std``."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"LatentNorm: mean has {len(mean)} channels but std has {len(std)}")
        if any(s <= 0 for s in std):
            raise ValueError(f"LatentNorm: every std must be positive, got {list(std)}")
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32), persistent=False)

    @classmethod
    def from_config(cls, cfg: dict, channels: int) -> "LatentNorm":
        """``dict(stats="latent_stats.json")`` or ``dict(mean=[...], std=[...])`` for latents of ``channels``
        channels (a structure-only build on the meta device reads no file)."""
        cfg = dict(cfg)
        if "stats" in cfg:
            norm = cls([0.0] * channels, [1.0] * channels) if building_on_meta() else cls.from_file(cfg["stats"])
        elif "mean" in cfg and "std" in cfg:
            norm = cls(cfg["mean"], cfg["std"])
        else:
            raise KeyError(f"latent_norm {cfg} needs 'stats' (a JSON file) or 'mean' and 'std'")
        if norm.latent_channels != channels:
            raise ValueError(f"latent_norm {cfg} has {norm.latent_channels} channels, the autoencoder {channels}")
        return norm

    @classmethod
    def from_file(cls, path: str | os.PathLike) -> "LatentNorm":
        """Load the statistics JSON written by ``tools/encode_latents.py`` (keys ``mean`` and ``std``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"LatentNorm: statistics file {path} does not exist "
                                    f"(write it with tools/encode_latents.py or tools/latent_stats.py)")
        stats = json.loads(path.read_text())
        for key in ("mean", "std"):
            if key not in stats:
                raise KeyError(f"LatentNorm: {path} has no {key!r} key")
        return cls(stats["mean"], stats["std"])

    @property
    def latent_channels(self) -> int:
        return self.mean.numel()

    def _view(self, v: Tensor, z: Tensor) -> Tensor:
        if z.ndim < 2 or z.shape[1] != v.numel():
            raise ValueError(f"LatentNorm: latents of shape {tuple(z.shape)} do not have {v.numel()} channels in dim 1")
        return v.to(z.dtype).view(1, -1, *([1] * (z.ndim - 2)))

    def normalize(self, z: Tensor) -> Tensor:
        return (z - self._view(self.mean, z)) / self._view(self.std, z)

    def denormalize(self, z: Tensor) -> Tensor:
        return z * self._view(self.std, z) + self._view(self.mean, z)

    def forward(self, z: Tensor) -> Tensor:
        return self.normalize(z)


class LatentStats:
    """Streaming per-channel mean/std over latents ``(B, c, ...)``, accumulated in float64 (sums and sums of
    squares per channel), mergeable across shards."""

    def __init__(self, channels: int):
        self.count = 0
        self.sum = torch.zeros(channels, dtype=torch.float64)
        self.sum_sq = torch.zeros(channels, dtype=torch.float64)

    def update(self, z: Tensor) -> None:
        if z.shape[1] != self.sum.numel():
            raise ValueError(f"LatentStats: expected {self.sum.numel()} channels in dim 1, got shape {tuple(z.shape)}")
        flat = z.detach().to("cpu", torch.float64).transpose(0, 1).reshape(z.shape[1], -1)
        self.count += flat.shape[1]
        self.sum += flat.sum(1)
        self.sum_sq += flat.square().sum(1)

    def merge(self, other: "LatentStats") -> None:
        self.count += other.count
        self.sum += other.sum
        self.sum_sq += other.sum_sq

    def state_dict(self) -> dict:
        return dict(count=self.count, sum=self.sum.tolist(), sum_sq=self.sum_sq.tolist())

    @classmethod
    def from_state_dict(cls, state: dict) -> "LatentStats":
        stats = cls(len(state["sum"]))
        stats.count = int(state["count"])
        stats.sum = torch.tensor(state["sum"], dtype=torch.float64)
        stats.sum_sq = torch.tensor(state["sum_sq"], dtype=torch.float64)
        return stats

    def result(self) -> dict:
        """``{"mean", "std", "count", "latent_channels"}`` with the population std (floored at 1e-8)."""
        if self.count == 0:
            raise ValueError("LatentStats: no latents were accumulated")
        mean = self.sum / self.count
        var = (self.sum_sq / self.count - mean.square()).clamp_min(0.0)
        std = [max(math.sqrt(v), 1e-8) for v in var.tolist()]
        return dict(mean=mean.tolist(), std=std, count=self.count, latent_channels=self.sum.numel())

    def save(self, path: str | os.PathLike) -> dict:
        """Write :meth:`result` as JSON to ``path`` and return it."""
        result = self.result()
        Path(path).write_text(json.dumps(result, indent=2) + "\n")
        return result
