"""Clip sampling and augmentation: temporal crop with a frame interval, resize + crop, horizontal flip.

LAVITA §4 ("Implementation details"): 16-frame clips taken with a sampling interval, frames resized to 256×256,
horizontal flipping the only augmentation. W.A.L.T §5: 17×128×128 clips. Resizing covers the target with the
short side and crops the long side (center crop, or a random crop position), so no frame is ever stretched.
Every random draw of a dataset item comes from :func:`item_generator`, a function of (seed, epoch, index).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

TEMPORAL_MODES = ("random", "center")


def item_generator(seed: int, epoch: int, index: int, stream: int = 0) -> torch.Generator:
    """The generator of the random draws of item ``index`` in ``epoch`` (temporal crop, crop position, flip, ...),
    seeded from ``SeedSequence([seed, epoch, index, stream])``: an item's augmentation does not depend on which
    data-loader worker loads it or in which order, so a resumed run that skips the consumed batches sees the same
    items. ``stream`` keeps independent draws of one item apart (e.g. the picks of a joint batch)."""
    if min(seed, epoch, index, stream) < 0:
        raise ValueError(f"item_generator: seed, epoch, index and stream must be >= 0, got {seed}, {epoch}, "
                         f"{index}, {stream}")
    state = np.random.SeedSequence([seed, epoch, index, stream]).generate_state(1, np.uint64)[0]
    return torch.Generator().manual_seed(int(state))


def clip_span(num_frames: int, frame_interval: int) -> int:
    """Number of source frames a clip of ``num_frames`` taken every ``frame_interval`` frames covers."""
    return (num_frames - 1) * frame_interval + 1


def sample_frame_indices(length: int, num_frames: int, frame_interval: int = 1, mode: str = "random",
                         generator: torch.Generator | None = None) -> list[int]:
    """Indices ``start + k · frame_interval`` (``k < num_frames``) of a temporal crop of a ``length``-frame video;
    ``start`` uniform over the valid range (``mode="random"``) or centered (``"center"``, deterministic eval).
    Raises ``ValueError`` when the video is too short."""
    if mode not in TEMPORAL_MODES:
        raise ValueError(f"temporal sampling mode must be one of {TEMPORAL_MODES}, got {mode!r}")
    span = clip_span(num_frames, frame_interval)
    if length < span:
        raise ValueError(f"{length} frames, a clip of {num_frames} frames at interval {frame_interval} needs {span}")
    slack = length - span
    start = slack // 2 if mode == "center" else int(torch.randint(slack + 1, (1,), generator=generator))
    return [start + k * frame_interval for k in range(num_frames)]


def crop_box(height: int, width: int, out_height: int, out_width: int, random: bool = False,
             generator: torch.Generator | None = None) -> tuple[int, int, int, int]:
    """``(top, left, crop_height, crop_width)`` in source pixels of the largest region with the output's aspect
    ratio: what "resize the short side, then crop" keeps. Cropping before resizing resizes fewer pixels."""
    scale = max(out_height / height, out_width / width)
    crop_h, crop_w = min(height, round(out_height / scale)), min(width, round(out_width / scale))
    if random:
        top = int(torch.randint(height - crop_h + 1, (1,), generator=generator))
        left = int(torch.randint(width - crop_w + 1, (1,), generator=generator))
    else:
        top, left = (height - crop_h) // 2, (width - crop_w) // 2
    return top, left, crop_h, crop_w


def to_resolution(resolution: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """``256`` → ``(256, 256)``; ``(128, 224)`` stays ``(height, width)``."""
    if isinstance(resolution, int):
        return resolution, resolution
    if len(resolution) != 2:
        raise ValueError(f"resolution must be an int or (height, width), got {resolution!r}")
    return int(resolution[0]), int(resolution[1])


class ClipTransform:
    """uint8 frames ``(T, H, W, 3)`` → float clip ``(3, T, h, w)`` in ``[-1, 1]``: crop to the output aspect
    ratio (center or random position), antialiased bilinear resize, horizontal flip with probability ``hflip``.
    ``resolution=None`` keeps every clip at its own size (clips of mixed shapes, for shape buckets)."""

    def __init__(self, resolution: int | tuple[int, int] | None = 256, random_crop: bool = False,
                 hflip: float = 0.5):
        if not 0.0 <= hflip <= 1.0:
            raise ValueError(f"hflip is a probability in [0, 1], got {hflip}")
        self.size = None if resolution is None else to_resolution(resolution)
        self.random_crop, self.hflip = random_crop, hflip

    def __call__(self, frames: np.ndarray, generator: torch.Generator | None = None) -> Tensor:
        if frames.ndim != 4 or frames.shape[-1] != 3:
            raise ValueError(f"ClipTransform: expected uint8 frames (T, H, W, 3), got shape {frames.shape}")
        out_h, out_w = self.size or frames.shape[1:3]
        top, left, crop_h, crop_w = crop_box(frames.shape[1], frames.shape[2], out_h, out_w, self.random_crop,
                                             generator)
        x = torch.from_numpy(np.ascontiguousarray(frames[:, top:top + crop_h, left:left + crop_w]))
        x = x.permute(0, 3, 1, 2).float()  # (T, 3, h, w)
        if (crop_h, crop_w) != (out_h, out_w):
            x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", antialias=True, align_corners=False)
        if self.hflip > 0 and float(torch.rand((), generator=generator)) < self.hflip:
            x = x.flip(-1)
        return (x / 127.5 - 1.0).permute(1, 0, 2, 3).contiguous()
