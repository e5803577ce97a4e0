"""Training pairs of a W.A.L.T super-resolution stage (§4.5): each clip with a ``1/factor`` spatially downsampled
copy under ``lowres_video``, which ``LatentDiffusion(super_resolution=True)`` encodes into the low-resolution
latent ``z_lr`` (at sampling time ``z_lr`` is the previous cascade stage's output instead)."""
from __future__ import annotations

import torch.nn.functional as F
from torch.utils.data import Dataset

from registry import DATASETS
from walt.data.wrapper import DatasetWrapper


@DATASETS.register_module()
class SuperResolutionPairs(DatasetWrapper):
    """Wraps ``dataset`` (a config dict or a dataset of ``video`` items): adds ``lowres_video (3, T, H/f, W/f)``,
    area-downsampled frame by frame (``f = factor``, 2 for each W.A.L.T SR stage)."""

    def __init__(self, dataset: dict | Dataset, factor: int = 2):
        super().__init__(dataset)
        if factor < 1:
            raise ValueError(f"SuperResolutionPairs: factor must be >= 1, got {factor}")
        self.factor = factor

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        video = item["video"]
        _, t, h, w = video.shape
        if h % self.factor or w % self.factor:
            raise ValueError(f"SuperResolutionPairs: frame size {h}×{w} of item {index} is not divisible by the "
                             f"factor {self.factor}")
        item["lowres_video"] = F.interpolate(video[None], size=(t, h // self.factor, w // self.factor),
                                             mode="area")[0]
        return item
