"""The base of the pixel datasets: a list of samples, clip sampling + transforms, and robust skipping.

Items are dicts (docs/architecture.md "Batches"): ``video`` ``(3, T, H, W)`` float in ``[-1, 1]``, ``label`` int,
``caption`` str, ``path`` str. Every random draw of item ``i`` (temporal crop start, crop position, flip) comes from
``item_generator(seed, epoch, i)``, so item ``i`` of an epoch is the same whichever data-loader worker loads it
and in whatever order (a resumed run is bit-exact with workers); ``set_epoch`` selects the epoch. A sample that
cannot be decoded (corrupt, truncated, too short) is skipped: another index is drawn deterministically from
``(seed, index, attempt)`` and continues the failed item's draws; the skip is logged (from the worker process
that met it) and counted in ``dataset.skipped`` (walt/data/skips.py: the main process reads it even when
data-loader workers did the decoding). An empty sample list fails at construction, naming the root.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, TypeVar

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from walt.data.skips import SkipCounter
from walt.data.transforms import TEMPORAL_MODES, ClipTransform, item_generator, sample_frame_indices
from walt.data.video_io import DecodedVideo, Video, VideoReadError, open_video, read_frames

T = TypeVar("T")


@dataclass(frozen=True)
class VideoSample:
    """One video: file or frame folder, class index, caption, optional segment ``[start, end)`` in seconds."""

    path: str
    label: int = 0
    caption: str = ""
    start: float | None = None
    end: float | None = None


class VideoDataset(Dataset):
    """Clips of ``num_frames`` frames taken every ``frame_interval`` source frames (LAVITA §4: "a specific
    sampling interval"), at ``resolution`` (int or ``(height, width)``), cropped at the center or at a random
    position (``random_crop``), flipped with probability ``hflip`` (LAVITA's only augmentation).
    ``temporal_sampling="center"`` and ``hflip=0`` make items deterministic (evaluation). A sample that fails to
    decode is replaced up to ``max_retries`` times; ``seed`` fixes the replacements and, with the epoch and the
    index, every augmentation draw. ``keep_decoded``: decode each video once and keep all its frames in memory
    (in every data-loader worker that meets it), for a dataset that fits in memory several times over: the demo's
    96 clips take 19 MB, and decoding them on every step took a fifth of the demo's two cores
    (docs/benchmarks.md, "The CPU demo"); with a transform that draws nothing, the kept frames are also kept
    transformed where that is no larger (:meth:`keeps_transformed`)."""

    def __init__(self, samples: list[VideoSample], *, root: str, num_frames: int = 16, frame_interval: int = 1,
                 resolution: int | tuple[int, int] = 256, random_crop: bool = False, hflip: float = 0.5,
                 temporal_sampling: str = "random", max_retries: int = 20, seed: int = 0,
                 classes: list[str] | None = None, keep_decoded: bool = False):
        name = type(self).__name__
        if not samples:
            raise ValueError(f"{name}: no samples found under {root!r}")
        if num_frames < 1 or frame_interval < 1:
            raise ValueError(f"{name}: num_frames and frame_interval must be >= 1, got {num_frames}, {frame_interval}")
        if temporal_sampling not in TEMPORAL_MODES:
            raise ValueError(f"{name}: temporal_sampling must be one of {TEMPORAL_MODES}, got {temporal_sampling!r}")
        self.samples, self.root = samples, root
        self.num_frames, self.frame_interval = num_frames, frame_interval
        self.temporal_sampling = temporal_sampling
        self.transform = ClipTransform(resolution, random_crop, hflip)
        self.resolution = self.transform.size
        self.max_retries, self.seed = max_retries, seed
        self.classes = classes or []
        self.keep_decoded = keep_decoded
        self._decoded: dict[str, DecodedVideo] = {}
        self._transformed: dict[str, Tensor] = {}
        self._skips = SkipCounter(name)
        self.epoch = 0  # per process: set it before a loader starts its workers, or per item (ResumableLoader)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def skipped(self) -> int:
        """How many samples were skipped so far, in this process and its data-loader workers together."""
        return self._skips.total

    def set_epoch(self, epoch: int) -> None:
        """Draw the augmentation of the coming epoch's items from ``item_generator(seed, epoch, index)``; call it
        before iterating the epoch's data loader (like ``DistributedSampler.set_epoch``)."""
        if epoch < 0:
            raise ValueError(f"{type(self).__name__}.set_epoch: epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        generator = item_generator(self.seed, self.epoch, index)
        return self.with_retries(lambda i: self.get_item(i, generator), index)

    def with_retries(self, load: Callable[[int], T], index: int) -> T:
        """``load(index)``; when that raises :class:`VideoReadError`, count and log the skip and try a replacement
        index, up to ``max_retries`` times."""
        tried = []
        for attempt in range(self.max_retries + 1):
            try:
                return load(index)
            except VideoReadError as err:
                tried.append(self.samples[index].path)
                self._skips.record(err)
                index = self.replacement_index(index, attempt)
        raise RuntimeError(f"{type(self).__name__}: {len(tried)} samples in a row could not be decoded "
                           f"(first ones: {tried[:3]}); is the data under {self.root!r} readable?")

    def replacement_index(self, index: int, attempt: int) -> int:
        """Another index than ``index``, a deterministic function of ``(seed, index, attempt)``."""
        if len(self) == 1:
            return index
        other = int(np.random.default_rng((self.seed, index, attempt)).integers(len(self) - 1))
        return other + (other >= index)

    def get_item(self, index: int, generator: torch.Generator | None = None,
                 shape: tuple[int, int, int] | None = None) -> dict:
        """The item at ``index``, random draws from ``generator`` (default: the global RNG), as a clip of ``shape``
        ``(frames, height, width)`` (default: the dataset's); raises :class:`VideoReadError` instead of skipping."""
        sample = self.samples[index]
        frames, size = (None, None) if shape is None else (shape[0], tuple(shape[1:]))
        return dict(video=self.load_clip(index, frames, generator, size), label=sample.label,
                    caption=sample.caption, path=sample.path)

    def item_at(self, index: int, shape: tuple[int, int, int]) -> dict:
        """Item ``index`` of the current epoch as a clip of ``shape`` ``(frames, height, width)`` (a shape bucket,
        ``walt/data/bucketed.py``), with the same draws and skipping as ``dataset[index]``."""
        generator = item_generator(self.seed, self.epoch, index)
        return self.with_retries(lambda i: self.get_item(i, generator, shape), index)

    def item_shape(self, index: int) -> tuple[int, int, int]:
        """``(num_frames, height, width)`` of sample ``index``'s source video (its segment's frames), probed by
        opening it and decoding its first frame; raises :class:`VideoReadError` when it cannot be read."""
        sample = self.samples[index]
        video = self.open(sample.path)
        first, stop = segment(sample, video)
        if stop <= first:
            return 0, 0, 0
        frame = read_frames(video, [first])
        return stop - first, int(frame.shape[1]), int(frame.shape[2])

    def load_clip(self, index: int, num_frames: int | None = None, generator: torch.Generator | None = None,
                  size: tuple[int, int] | None = None) -> Tensor:
        """A transformed clip ``(3, T, H, W)`` of sample ``index`` (``T = num_frames``, ``(H, W) = size``, default
        the dataset's), random draws from ``generator`` (default: the global RNG)."""
        sample, num_frames, transform = self.samples[index], num_frames or self.num_frames, self.transform
        if size is not None and tuple(size) != transform.size:
            transform = ClipTransform(size, transform.random_crop, transform.hflip)
        elif self.keeps_transformed():
            video = self.open(sample.path)
            kept = self.transformed(video)
            if kept is not None:
                return kept[:, self.frame_indices(sample, video, num_frames, generator)]
        return transform(self.decode(sample, num_frames, generator), generator)

    def decode(self, sample: VideoSample, num_frames: int, generator: torch.Generator | None = None) -> np.ndarray:
        """uint8 frames ``(num_frames, H, W, 3)`` of a temporal crop of ``sample`` (start drawn from ``generator``)."""
        video = self.open(sample.path)
        return read_frames(video, self.frame_indices(sample, video, num_frames, generator))

    def frame_indices(self, sample: VideoSample, video: Video, num_frames: int,
                      generator: torch.Generator | None = None) -> list[int]:
        """The frames of ``video`` that a temporal crop of ``sample`` reads (start drawn from ``generator``)."""
        first, stop = segment(sample, video)
        try:
            offsets = sample_frame_indices(stop - first, num_frames, self.frame_interval, self.temporal_sampling,
                                           generator)
        except ValueError as err:
            raise VideoReadError(f"{sample.path!r} is too short: {err}") from err
        return [first + i for i in offsets]

    def keeps_transformed(self) -> bool:
        """Whether kept videos are also kept transformed: the transform draws nothing (no random crop, no flip) and
        acts on each frame alone, so transforming every frame once and then taking a clip's frames gives that clip
        transformed, exactly; frames read as :meth:`decode` reads them; at most the decoded frames' memory."""
        t = self.transform
        return (self.keep_decoded and type(self).decode is VideoDataset.decode and t.size is not None
                and not t.random_crop and t.hflip == 0)

    def transformed(self, video: DecodedVideo) -> Tensor | None:
        """Every frame of the kept ``video`` transformed, ``(3, T, H, W)``, computed once; ``None`` where that would
        take more memory than the decoded frames (float32 at the output size against uint8 at the source size)."""
        kept = self._transformed.get(video.path)
        if kept is None:
            height, width = self.transform.size
            if 3 * len(video) * height * width * 4 > video.frames.nbytes:
                return None
            kept = self._transformed[video.path] = self.transform(video.frames)
        return kept

    def open(self, path: str) -> Video:
        """The video at ``path``, from memory when ``keep_decoded`` and it was decoded before."""
        if not self.keep_decoded:
            return open_video(path)
        if path not in self._decoded:
            self._decoded[path] = DecodedVideo.decode(open_video(path))
        return self._decoded[path]


def segment(sample: VideoSample, video: Video) -> tuple[int, int]:
    """The frames ``[first, stop)`` of ``video`` that ``sample``'s segment covers (all of them without one)."""
    first, stop = 0, len(video)
    if sample.start is not None or sample.end is not None:
        if not video.fps:
            raise VideoReadError(f"{sample.path!r}: no frame rate known, cannot cut the segment "
                                 f"[{sample.start}, {sample.end}) s")
        first = round((sample.start or 0.0) * video.fps)
        stop = min(stop, round(sample.end * video.fps)) if sample.end is not None else stop
    return first, stop
