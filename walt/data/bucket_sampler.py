"""A batch sampler over shape buckets: every batch holds clips of one bucket, and every rank draws the same bucket at
the same step (Open-Sora's ``VariableVideoBatchSampler`` idea, written for walt's resumable loader).

Each epoch, with a generator seeded ``seed + epoch`` (the same on every rank): each bucket's items are shuffled and
cut into *global* batches of ``batch_size × num_replicas`` items (the remainder, fewer than a global batch, waits for
another epoch's shuffle), the global batches of all buckets are shuffled together, and rank ``r`` takes the ``r``-th
``batch_size`` slice of each. So at every step all ranks hold the same shape (equal work, equal memory), no item is
seen twice in an epoch across ranks, and the order is a function of ``(seed, epoch)`` alone: a resumed run skips the
consumed batches (``walt/engine/data_state.py``) and continues with the same ones.

Any map-style dataset works: the sampler only needs each item's bucket index (``bucket_of``, None = no bucket). A
streaming (iterable) dataset can use the same two steps per rank and worker, without an index list: route each
decoded sample to a per-bucket buffer (:func:`~walt.data.buckets.nearest_bucket`) and emit a buffer when it holds a
batch, the bucket sequence drawn from a generator seeded ``seed + epoch`` shared by the ranks.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class BucketBatchSampler(Sampler):
    """Index batches of single buckets (module docstring). ``batch_sizes[b]`` is bucket ``b``'s per-rank batch."""

    def __init__(self, bucket_of: Sequence[int | None], batch_sizes: Sequence[int], *, num_replicas: int = 1,
                 rank: int = 0, seed: int = 0, shuffle: bool = True):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"BucketBatchSampler: rank {rank} is not in [0, num_replicas={num_replicas})")
        if any(size < 1 for size in batch_sizes):
            raise ValueError(f"BucketBatchSampler: batch sizes must be >= 1, got {list(batch_sizes)}")
        bad = sorted({b for b in bucket_of if b is not None and not 0 <= b < len(batch_sizes)})
        if bad:
            raise ValueError(f"BucketBatchSampler: bucket indices {bad} have no batch size ({len(batch_sizes)} given)")
        self.batch_sizes = [int(s) for s in batch_sizes]
        self.members = [[i for i, b in enumerate(bucket_of) if b == bucket] for bucket in range(len(batch_sizes))]
        self.num_replicas, self.rank, self.seed, self.shuffle = num_replicas, rank, seed, shuffle
        self.epoch = 0
        if len(self) == 0:
            sizes = {b: (len(m), s * num_replicas) for b, (m, s) in enumerate(zip(self.members, self.batch_sizes))}
            raise ValueError(f"BucketBatchSampler: no bucket fills one global batch (bucket: (items, global batch) "
                             f"= {sizes}); lower the batch sizes or add data")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def global_batches(self) -> list[tuple[int, list[int]]]:
        """This epoch's ``(bucket, global batch of item indices)`` in order, identical on every rank."""
        generator = torch.Generator().manual_seed(self.seed + self.epoch)
        batches = []
        for bucket, (members, size) in enumerate(zip(self.members, self.batch_sizes)):
            order = torch.randperm(len(members), generator=generator).tolist() if self.shuffle else range(len(members))
            items, step = [members[i] for i in order], size * self.num_replicas
            batches += [(bucket, items[i:i + step]) for i in range(0, len(items) - step + 1, step)]
        if self.shuffle:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        for bucket, items in self.global_batches():
            size = self.batch_sizes[bucket]
            yield items[self.rank * size:(self.rank + 1) * size]

    def __len__(self) -> int:
        return sum(len(m) // (s * self.num_replicas) for m, s in zip(self.members, self.batch_sizes))
