"""The real side of FVD / FID / video IS: which real clips and frames a protocol compares generated samples with,
read as uint8 the way the protocol's detectors receive them.

* **Clips** (FVD, StyleGAN-V / Latte ``compute_fvd``): ``num_frames`` frames taken every ``frame_interval`` source
  frames (the dataset's sampling interval: Latte's ``realdata_subsample_factor``), from videos picked in a seeded
  random order (Latte draws ``random.sample`` of the videos); videos shorter than ``num_frames · frame_interval``
  frames are discarded (``discard_short_videos``), the start is uniform over the valid range, seeded per video.
* **Frames** (FID, ``fid50k_full``): every frame of every real video (every image of an image dataset).

Frames are cropped to the dataset's aspect ratio and resized to its resolution (center crop, no flip: the protocol
reads pre-resized frames, ``xflip=False``), then rounded to uint8.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from registry import DATASETS
from walt.data.transforms import ClipTransform, item_generator, sample_frame_indices
from walt.data.video_dataset import VideoDataset, VideoSample
from walt.data.video_folder import VideoFolder
from walt.data.video_io import VideoReadError, is_image_file, open_video, read_frames, read_image

FRAME_BLOCK = 256  # frames decoded at once when reading whole videos


def to_uint8(video: Tensor) -> Tensor:
    """Generated pixels in ``[-1, 1]`` → uint8 exactly as StyleGAN-V / stylegan2-ada convert generator output:
    ``(x · 127.5 + 128).clamp(0, 255)`` truncated to uint8."""
    return (video.float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)


def quantize(clip: Tensor) -> Tensor:
    """A dataset clip in ``[-1, 1]`` (uint8 frames after resizing) → uint8, rounded (frames stored as images)."""
    return ((clip + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8)


@dataclass
class RealData:
    """A pixel dataset with the identity its cached statistics are keyed by."""

    dataset: VideoDataset
    identity: dict
    frame_interval: int

    def __post_init__(self):
        self.transform = ClipTransform(self.dataset.resolution, random_crop=False, hflip=0.0)

    @property
    def name(self) -> str:
        return self.identity["dataset"]

    def frame_range(self, sample: VideoSample, video) -> tuple[int, int]:
        """``[first, stop)`` frame indices of ``sample`` (its segment when it has one, e.g. Kinetics)."""
        first, stop = 0, len(video)
        if sample.start is not None or sample.end is not None:
            if not video.fps:
                raise VideoReadError(f"{sample.path!r}: no frame rate known, cannot cut the segment")
            first = round((sample.start or 0.0) * video.fps)
            stop = min(stop, round(sample.end * video.fps)) if sample.end is not None else stop
        return first, stop

    def select_clips(self, num_clips: int, num_frames: int, seed: int) -> list[tuple[int, list[int]]]:
        """``(dataset index, frame indices)`` of up to ``num_clips`` protocol clips (fewer when the dataset has
        fewer usable videos)."""
        clips, span = [], num_frames * self.frame_interval
        for index in np.random.default_rng(seed).permutation(len(self.dataset.samples)):
            sample = self.dataset.samples[int(index)]
            if is_image_file(sample.path):
                raise ValueError(f"{self.name}: {sample.path!r} is an image; video metrics need a video dataset")
            try:
                first, stop = self.frame_range(sample, open_video(sample.path))
            except VideoReadError:
                continue
            if stop - first < span:  # StyleGAN-V's discard_short_videos rule
                continue
            offsets = sample_frame_indices(stop - first, num_frames, self.frame_interval, "random",
                                           item_generator(seed, 0, int(index)))
            clips.append((int(index), [first + o for o in offsets]))
            if len(clips) == num_clips:
                break
        if not clips:
            raise ValueError(f"{self.name} ({self.identity['root']}): no video has {span} frames for a clip of "
                             f"{num_frames} frames at interval {self.frame_interval}")
        return clips

    def read_clip(self, index: int, frames: list[int]) -> Tensor:
        """uint8 clip ``(3, T, H, W)`` of the given source frames of video ``index``."""
        video = open_video(self.dataset.samples[index].path)
        return quantize(self.transform(read_frames(video, frames)))

    def video_frames(self, index: int) -> Iterator[Tensor]:
        """Every frame of item ``index`` as uint8 blocks ``(n, 3, H, W)`` (an image dataset's item: one frame)."""
        sample = self.dataset.samples[index]
        if is_image_file(sample.path):
            yield quantize(self.transform(read_image(sample.path))).transpose(0, 1)
            return
        video = open_video(sample.path)
        first, stop = self.frame_range(sample, video)
        for start in range(first, stop, FRAME_BLOCK):
            block = read_frames(video, list(range(start, min(start + FRAME_BLOCK, stop))))
            yield quantize(self.transform(block)).transpose(0, 1)


def _unwrap(dataset, where: str) -> VideoDataset:
    """The pixel dataset inside wrappers (joint image–video, SR pairs, cached text)."""
    while not isinstance(dataset, VideoDataset):
        inner = getattr(dataset, "dataset", None) or getattr(dataset, "video", None)
        if inner is None:
            raise ValueError(f"{where} is a {type(dataset).__name__}, not a pixel video/image dataset (cached latents "
                             f"hold no pixels); give --real DIR or point --data-split at a pixel dataset")
        dataset = inner
    return dataset


def real_data_from_config(cfg, split: str, frame_interval: int | None = None) -> RealData:
    """The dataset ``cfg.data[split]`` (built through ``DATASETS``)."""
    if split not in cfg.data:
        raise KeyError(f"data.{split} is not in the config (data keys: {sorted(cfg.data)})")
    dataset = _unwrap(DATASETS.build(cfg.data[split]), f"data.{split}")
    interval = frame_interval or dataset.frame_interval
    identity = dict(dataset=type(dataset).__name__, root=os.path.abspath(dataset.root),
                    split=getattr(dataset, "split", None), resolution=list(dataset.resolution),
                    frame_interval=interval)
    return RealData(dataset, identity, interval)


def real_data_from_folder(folder: str, resolution: tuple[int, int], frame_interval: int = 1) -> RealData:
    """A folder of videos and/or frame folders (StyleGAN-V's layout) at ``resolution``."""
    dataset = VideoFolder(folder, num_frames=1, frame_interval=frame_interval, resolution=tuple(resolution),
                          hflip=0.0)
    identity = dict(dataset="folder", root=os.path.abspath(folder), split=None, resolution=list(dataset.resolution),
                    frame_interval=frame_interval)
    return RealData(dataset, identity, frame_interval)
