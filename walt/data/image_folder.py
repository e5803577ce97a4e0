"""Images as one-frame videos (W.A.L.T §3.1: an image is a video with T = 1): ImageNet class-conditional
generation (W.A.L.T §5.1) and the image side of joint image–video training."""
from __future__ import annotations

import os

import numpy as np
import torch

from registry import DATASETS
from walt.data.listing import check_root
from walt.data.video_dataset import VideoDataset, VideoSample
from walt.data.video_io import is_image_file, natural_key, read_image


@DATASETS.register_module()
class ImageFolder(VideoDataset):
    """W.A.L.T §5.1 ImageNet, layout ``root/<class>/<image>``: labels are the sorted class-folder indices,
    captions the folder names; items are ``video`` ``(3, 1, H, W)``. Default 256×256 (W.A.L.T Table 2), center
    crop, flip 0.5."""

    def __init__(self, root: str, resolution: int | tuple[int, int] = 256, **kwargs):
        check_root(root, "ImageFolder")
        classes = sorted((d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d))), key=natural_key)
        samples = []
        for label, name in enumerate(classes):
            folder = os.path.join(root, name)
            for dirpath, dirnames, filenames in os.walk(folder):
                dirnames.sort(key=natural_key)
                samples += [VideoSample(os.path.join(dirpath, f), label, name)
                            for f in sorted(filenames, key=natural_key) if is_image_file(f)]
        super().__init__(samples, root=root, num_frames=1, resolution=resolution, classes=classes, **kwargs)

    def decode(self, sample: VideoSample, num_frames: int, generator: torch.Generator | None = None) -> np.ndarray:
        """The image as one frame ``(1, H, W, 3)``; no temporal crop, so nothing is drawn from ``generator``."""
        if num_frames != 1:
            raise ValueError(f"ImageFolder: an image is a one-frame video, asked for {num_frames} frames")
        return read_image(sample.path, min_size=max(self.resolution))
