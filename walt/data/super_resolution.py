"""Training pairs of a W.A.L.T super-resolution stage (§4.5): each clip with a ``1/factor`` spatially downsampled
copy under ``lowres_video``, which ``LatentDiffusion(super_resolution=True)`` encodes into the low-resolution
latent ``z_lr`` (at sampling time ``z_lr`` is the previous cascade stage's output instead). The low-resolution input
is "video or image" (§4.5): a joint item's image stacks (``images``, ``JointImageStacks``) get theirs under
``lowres_images``, so the stage trains on low-resolution image → high-resolution image as well."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from registry import DATASETS
from walt.data.wrapper import DatasetWrapper


@DATASETS.register_module()
class SuperResolutionPairs(DatasetWrapper):
    """Wraps ``dataset`` (a config dict or a dataset of ``video`` items): adds ``lowres_video (3, T, H/f, W/f)``,
    area-downsampled frame by frame (``f = factor``, 2 for each W.A.L.T SR stage), and ``lowres_images
    (S, 3, K, H/f, W/f)`` for items with image stacks."""

    def __init__(self, dataset: dict | Dataset, factor: int = 2):
        super().__init__(dataset)
        if factor < 1:
            raise ValueError(f"SuperResolutionPairs: factor must be >= 1, got {factor}")
        self.factor = factor

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        video = item["video"]
        h, w = video.shape[-2:]
        if h % self.factor or w % self.factor:
            raise ValueError(f"SuperResolutionPairs: frame size {h}×{w} of item {index} is not divisible by the "
                             f"factor {self.factor}")
        item["lowres_video"] = self.downsample(video[None])[0]
        if "images" in item:
            item["lowres_images"] = self.downsample(item["images"])
        return item

    def downsample(self, clips: Tensor) -> Tensor:
        """``(n, 3, T, H, W)`` → ``(n, 3, T, H/f, W/f)``, each frame area-averaged on its own."""
        _, _, t, h, w = clips.shape
        return F.interpolate(clips, size=(t, h // self.factor, w // self.factor), mode="area")
