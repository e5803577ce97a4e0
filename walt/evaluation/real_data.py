"""The real side of FVD / FID / video IS: which real clips and frames a protocol compares generated samples with,
as uint8 the way the protocol's metric code reads them (walt/evaluation/protocols.py names the code).

* **Frames** go through the protocol's converter in memory (``pixels.convert_frames``: decode, PIL Lanczos resize
  and center crop, JPEG quality 75 round trip), as ``convert_videos_to_frames.py`` writes them before the metric
  code reads them back. A folder of frames (that script's output) is read as it is.
* **Videos** are ordered by the name of the frame folder the converter would make (the file name without its
  extension, ``#`` → ``_``), in plain sorted order (``v10`` before ``v2``). Videos with fewer than
  ``num_frames · interval`` frames are discarded (``discard_short_videos``); of the rest, the protocol takes the
  first ``N`` (StyleGAN-V) or ``random.Random(seed).sample`` of them (Latte's ``random.sample``).
* **Clips**: ``num_frames`` frames every ``interval`` frames from an offset ``randint(0, n − num_frames·interval +
  interval − 1)`` drawn by ``random.Random(f"{seed}:{video name}")`` (the public code draws it unseeded).
* **Frames of FID** (``fid50k_full``): every frame of every real video (every image of an image dataset).

A count the data cannot reach stops with a ``ValueError`` naming the available count (``allow_fewer`` proceeds).
"""
from __future__ import annotations

import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
from torch import Tensor

from registry import DATASETS
from walt.data.video_dataset import VideoDataset, VideoSample
from walt.data.video_folder import VideoFolder
from walt.data.video_io import VideoReadError, is_image_file, open_video, read_frames, read_image
from walt.evaluation.pixels import convert_frames
from walt.evaluation.protocols import Protocol

FRAME_BLOCK = 256  # frames decoded at once when reading whole videos


def frame_folder_name(path: str) -> str:
    """The folder ``convert_videos_to_frames.py`` writes a video to (L49-50, L67): its name without the extension,
    ``#`` replaced by ``_``; a frame folder keeps its name."""
    name = os.path.basename(os.path.normpath(path))
    if not os.path.isdir(path) and "." in name:
        name = name[:name.rfind(".")]
    return name.replace("#", "_")


def listing_digest(samples: list[VideoSample]) -> str:
    """sha256 of every sample's path, size (a frame folder: its files and their sizes), segment and label, in
    sorted path order: a changed file list, annotation row or file changes the digest."""
    rows = []
    for s in sorted(samples, key=lambda s: (s.path, s.start or 0.0)):
        if os.path.isdir(s.path):
            size = [(f, os.path.getsize(os.path.join(s.path, f))) for f in sorted(os.listdir(s.path))]
        else:
            size = os.path.getsize(s.path) if os.path.exists(s.path) else None
        rows.append([s.path, size, s.start, s.end, s.label])
    return hashlib.sha256(json.dumps(rows, default=str).encode()).hexdigest()


@dataclass
class RealData:
    """A pixel dataset, the protocol's conversion of its frames and the identity its cached statistics are keyed
    by (every dataset argument and the listing digest)."""

    dataset: VideoDataset
    identity: dict
    size: int | None = None            # converter's target size (square); None: frames kept as they are
    convert: str | None = "resize-crop"
    jpeg: bool = True
    resample: str = "lanczos"
    _lengths: dict = field(default_factory=dict, repr=False)

    @property
    def name(self) -> str:
        return self.identity["dataset"]

    def convert_block(self, frames: np.ndarray, path: str) -> Tensor:
        """Decoded frames ``(T, H, W, 3)`` of ``path`` → uint8 ``(3, T, size, size)`` as the protocol's converter
        writes them; a frame folder (the converter's output) is read as it is."""
        if self.convert is None or os.path.isdir(path):
            return convert_frames(frames, None, jpeg=False)
        return convert_frames(frames, self.size, self.convert, self.jpeg, self.resample)

    def frame_range(self, sample: VideoSample, video) -> tuple[int, int]:
        """``[first, stop)`` frame indices of ``sample`` (its segment when it has one, e.g. Kinetics)."""
        first, stop = 0, len(video)
        if sample.start is not None or sample.end is not None:
            if not video.fps:
                raise VideoReadError(f"{sample.path!r}: no frame rate known, cannot cut the segment")
            first = round((sample.start or 0.0) * video.fps)
            stop = min(stop, round(sample.end * video.fps)) if sample.end is not None else stop
        return first, stop

    def sorted_indices(self) -> list[int]:
        """Dataset indices in the plain sorted order of their frame-folder names (StyleGAN-V's dataset order)."""
        samples = self.dataset.samples
        return sorted(range(len(samples)), key=lambda i: (frame_folder_name(samples[i].path), samples[i].path))

    def frame_span(self, index: int) -> tuple[int, int] | None:
        """``(first, stop)`` of video ``index``, ``None`` when it cannot be decoded (cached)."""
        if index not in self._lengths:
            sample = self.dataset.samples[index]
            if is_image_file(sample.path):
                raise ValueError(f"{self.name}: {sample.path!r} is an image; video metrics need a video dataset")
            try:
                self._lengths[index] = self.frame_range(sample, open_video(sample.path))
            except VideoReadError:
                self._lengths[index] = None
        return self._lengths[index]

    def select_clips(self, num_clips: int, num_frames: int, interval: int, subset: str, seed: int,
                     allow_fewer: bool = False) -> list[tuple[int, list[int]]]:
        """``(dataset index, frame indices)`` of the protocol's ``num_clips`` real clips (module docstring)."""
        need = num_frames * interval  # discard_short_videos: len(frames) >= load_n_consecutive * subsample_factor
        order = self.sorted_indices()
        usable = []
        for index in order:
            span = self.frame_span(index)
            if span is not None and span[1] - span[0] >= need:
                usable.append(index)
                if subset == "first" and len(usable) == num_clips:
                    break
        if len(usable) < num_clips and not allow_fewer:
            raise ValueError(f"{num_clips} real clips asked for, but {self.identity['root']} has only {len(usable)} "
                             f"videos of >= {need} frames ({num_frames} frames at interval {interval}); ask for "
                             f"--num-real {len(usable)} or pass --allow-fewer")
        if not usable:
            raise ValueError(f"{self.name} ({self.identity['root']}): no video has {need} frames for a clip of "
                             f"{num_frames} frames at interval {interval}")
        if subset == "random":
            usable = [usable[i] for i in random.Random(seed).sample(range(len(usable)), min(num_clips, len(usable)))]
        elif subset != "first":
            raise ValueError(f"unknown subset rule {subset!r}; known: first, random")
        clips = []
        for index in usable[:num_clips]:
            first, stop = self.frame_span(index)
            name = frame_folder_name(self.dataset.samples[index].path)
            offset = random.Random(f"{seed}:{name}").randint(0, stop - first - need + interval - 1)
            clips.append((index, [first + offset + k * interval for k in range(num_frames)]))
        return clips

    def read_clip(self, index: int, frames: list[int]) -> Tensor:
        """uint8 clip ``(3, T, H, W)`` of the given source frames of video ``index``."""
        path = self.dataset.samples[index].path
        return self.convert_block(read_frames(open_video(path), frames), path)

    def video_frames(self, index: int) -> Iterator[Tensor]:
        """Every frame of item ``index`` as uint8 blocks ``(n, 3, H, W)`` (an image dataset's item: one frame)."""
        sample = self.dataset.samples[index]
        if is_image_file(sample.path):
            yield self.convert_block(read_image(sample.path), sample.path).transpose(0, 1)
            return
        video = open_video(sample.path)
        first, stop = self.frame_range(sample, video)
        for start in range(first, stop, FRAME_BLOCK):
            block = read_frames(video, list(range(start, min(start + FRAME_BLOCK, stop))))
            yield self.convert_block(block, sample.path).transpose(0, 1)


def _unwrap(dataset, where: str) -> VideoDataset:
    """The pixel dataset inside wrappers (joint image–video, SR pairs, cached text)."""
    while not isinstance(dataset, VideoDataset):
        inner = getattr(dataset, "dataset", None) or getattr(dataset, "video", None)
        if inner is None:
            raise ValueError(f"{where} is a {type(dataset).__name__}, not a pixel video/image dataset (cached latents "
                             f"hold no pixels); give --real DIR or point --data-split at a pixel dataset")
        dataset = inner
    return dataset


def _square(resolution, where: str) -> int:
    h, w = resolution
    if h != w:
        raise ValueError(f"{where}: resolution {h}x{w} is not square; the protocol's converter writes square frames "
                         f"(target_size)")
    return int(h)


def _plain(value):
    """A config value as JSON-able plain data (mmengine ConfigDicts, tuples)."""
    return json.loads(json.dumps(value, default=lambda v: dict(v) if hasattr(v, "keys") else str(v)))


def real_data_from_config(cfg, split: str, protocol: Protocol) -> RealData:
    """The dataset ``cfg.data[split]`` (built through ``DATASETS``), converted as ``protocol`` converts frames."""
    if split not in cfg.data:
        raise KeyError(f"data.{split} is not in the config (data keys: {sorted(cfg.data)})")
    dataset = _unwrap(DATASETS.build(cfg.data[split]), f"data.{split}")
    size = _square(dataset.resolution, f"data.{split}") if protocol.convert else None
    identity = dict(dataset=type(dataset).__name__, root=os.path.abspath(dataset.root), split=split,
                    args=_plain(cfg.data[split].to_dict() if hasattr(cfg.data[split], "to_dict") else
                                cfg.data[split]),
                    resolution=list(dataset.resolution), listing=listing_digest(dataset.samples))
    return RealData(dataset, identity, size, protocol.convert, protocol.jpeg, protocol.resample)


def real_data_from_folder(folder: str, size: int, protocol: Protocol) -> RealData:
    """A folder of videos and/or frame folders (the converter's layout), converted to ``size²``."""
    dataset = VideoFolder(folder, num_frames=1, resolution=(size, size), hflip=0.0)
    identity = dict(dataset="folder", root=os.path.abspath(folder), split=None, args=dict(root=folder),
                    resolution=[size, size], listing=listing_digest(dataset.samples))
    return RealData(dataset, identity, size if protocol.convert else None, protocol.convert, protocol.jpeg,
                    protocol.resample)
