"""Shape buckets (Open-Sora / finetrainers style multi-resolution training): the allowed clip shapes
``(frames, height, width)``, which one each clip goes to, and each bucket's batch size from a token budget.

A clip goes to the *nearest* bucket it can fill: among the buckets with no more frames than the clip can give (a
temporal crop never invents frames), the one closest in aspect ratio (``|log(h/w) − log(H/W)|``), then in area
(``|log(h·w / H·W)|``), then the longest. Its frames are then cropped to the bucket's length and its pixels resized
and cropped to the bucket's height and width (``walt/data/transforms.py``), so every clip of a bucket has exactly
the bucket's shape: batches of one bucket need no padding. The batch size of a bucket is
``max(1, token_budget // tokens)``, ``tokens`` what one clip of it costs the backbone (``walt/engine/buckets.py``
counts the backbone's tokens; a pixel volume ``frames·height·width`` serves where no model is at hand).
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence


class Bucket(NamedTuple):
    """One allowed clip shape in pixels."""

    frames: int
    height: int
    width: int

    @property
    def volume(self) -> int:
        return self.frames * self.height * self.width


def parse_buckets(buckets: Sequence[Sequence[int]], where: str = "buckets") -> list[Bucket]:
    """The config list ``[(frames, height, width), ...]`` as :class:`Bucket` s; a ValueError naming ``where`` and
    the entry for a malformed, non-positive or repeated shape, or an empty list."""
    if not buckets:
        raise ValueError(f"{where}: give at least one shape (frames, height, width)")
    out: list[Bucket] = []
    for i, shape in enumerate(buckets):
        if len(shape) != 3 or any(int(s) != s or s < 1 for s in shape):
            raise ValueError(f"{where}[{i}]: expected (frames, height, width) of positive integers, got {shape!r}")
        bucket = Bucket(*(int(s) for s in shape))
        if bucket in out:
            raise ValueError(f"{where}[{i}]: {tuple(bucket)} is listed twice")
        out.append(bucket)
    return out


def nearest_bucket(frames: int, height: int, width: int, buckets: Sequence[Bucket]) -> int | None:
    """Index of the bucket a clip of ``frames`` usable frames at ``height × width`` goes to (module docstring), or
    None when every bucket is longer than the clip."""
    fits = [i for i, b in enumerate(buckets) if b.frames <= frames]
    if not fits or height < 1 or width < 1:
        return None
    aspect, area = math.log(height / width), math.log(height * width)

    def distance(i: int) -> tuple[float, float, int]:
        b = buckets[i]
        return (round(abs(math.log(b.height / b.width) - aspect), 9),
                round(abs(math.log(b.height * b.width) - area), 9), -b.frames)
    return min(fits, key=distance)


def usable_frames(num_frames: int, frame_interval: int = 1) -> int:
    """How many frames a clip taken every ``frame_interval`` source frames can have from ``num_frames``."""
    return 0 if num_frames < 1 else (num_frames - 1) // frame_interval + 1


def batch_sizes(tokens: Sequence[int], token_budget: int) -> list[int]:
    """Per-bucket batch sizes ``max(1, token_budget // tokens[i])``."""
    if token_budget < 1 or any(t < 1 for t in tokens):
        raise ValueError(f"batch_sizes: the token budget ({token_budget}) and every bucket's tokens ({list(tokens)}) "
                         f"must be positive")
    return [max(1, token_budget // t) for t in tokens]
