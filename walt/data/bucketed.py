"""``BucketedVideos``: a pixel dataset whose clips keep (close to) their own shape, one of a list of buckets
(``walt/data/buckets.py``), batched one bucket at a time by :class:`~walt.data.bucket_sampler.BucketBatchSampler`
(``build_dataloader`` builds it for a dataset that has ``bucket_of``).

The wrapped dataset reports each item's source shape and loads an item at a given shape:

* ``item_shape(index) -> (num_frames, height, width)`` of the source video (``VideoDataset`` probes the file; a
  dataset over a metadata table reads its ``num_frames``/``height``/``width`` columns), or pass ``shapes`` (one per
  item) in the config;
* ``item_at(index, (frames, height, width))``: the item as a clip of exactly that shape, augmentation drawn as for
  ``dataset[index]`` (``VideoDataset``: temporal crop to ``frames`` taken every ``frame_interval``, resize the short
  side and crop to ``height × width``).

Items no bucket fits (every bucket longer than the clip) are left out of every epoch and counted in ``unbucketed``.
"""
from __future__ import annotations

from typing import Sequence

from registry import DATASETS
from walt.data.buckets import Bucket, nearest_bucket, parse_buckets, usable_frames
from walt.data.wrapper import DatasetWrapper


@DATASETS.register_module()
class BucketedVideos(DatasetWrapper):
    """``dataset`` (a config or dataset with ``item_shape``/``item_at``) with each item assigned its nearest bucket
    of ``buckets`` ``[(frames, height, width), ...]`` (pixels). ``token_budget``: tokens one rank's batch may hold
    (default: the micro-batch size × the tokens of the largest bucket, so no batch is larger than the fixed-shape
    run's); the trainer counts tokens with the model (``walt/models/generative/clip_shapes.py``)."""

    def __init__(self, dataset: dict, buckets: Sequence[Sequence[int]], token_budget: int | None = None,
                 shapes: Sequence[Sequence[int]] | None = None):
        super().__init__(dataset)
        name = type(self).__name__
        self.buckets: list[Bucket] = parse_buckets(buckets, f"{name}.buckets")
        self.token_budget = token_budget
        inner = self.dataset
        if shapes is None:
            if not callable(getattr(inner, "item_shape", None)):
                raise TypeError(f"{name}: {type(inner).__name__} has no item_shape(index); pass shapes=[(frames, "
                                f"height, width), ...] (one per item) in the config")
            shapes = [inner.item_shape(i) for i in range(len(inner))]
        if len(shapes) != len(inner):
            raise ValueError(f"{name}: {len(shapes)} shapes for {len(inner)} items")
        if not callable(getattr(inner, "item_at", None)):
            raise TypeError(f"{name}: {type(inner).__name__} has no item_at(index, shape) to load a clip at a "
                            f"bucket's shape")
        interval = getattr(inner, "frame_interval", 1)
        self.bucket_of = [nearest_bucket(usable_frames(int(f), interval), int(h), int(w), self.buckets)
                          for f, h, w in shapes]
        self.unbucketed = sum(b is None for b in self.bucket_of)
        if self.unbucketed == len(self.bucket_of):
            shortest = min(b.frames for b in self.buckets)
            raise ValueError(f"{name}: no item fits a bucket: every clip gives fewer than {shortest} frames at "
                             f"frame_interval={interval}")

    def __getitem__(self, index: int) -> dict:
        bucket = self.bucket_of[index]
        if bucket is None:
            raise IndexError(f"{type(self).__name__}: item {index} fits no bucket (it is left out of every epoch)")
        return self.dataset.item_at(index, tuple(self.buckets[bucket]))
