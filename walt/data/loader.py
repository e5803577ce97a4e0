"""``build_dataloader``: a dataset from its config, a (distributed) sampler, workers seeded from one seed."""
from __future__ import annotations

import random
from typing import Callable, Sequence

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler, IterableDataset

from registry import DATASETS
from walt.data.bucket_sampler import BucketBatchSampler
from walt.data.buckets import Bucket
from walt.data.buckets import batch_sizes as bucket_batch_sizes
from walt.data.collate import collate


def seed_worker(worker_id: int) -> None:
    """Seed Python's and NumPy's generators in a worker from the torch seed the loader gave it (torch's own
    generator is already seeded ``base_seed + worker_id``, ``base_seed`` drawn from the loader's generator)."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def build_dataloader(data_cfg: dict, *, batch_size: int, num_workers: int, shuffle: bool = True, seed: int = 0,
                     distributed: bool = False, drop_last: bool = True, num_replicas: int | None = None,
                     rank: int | None = None,
                     bucket_tokens: Callable[[list[Bucket]], Sequence[int]] | None = None) -> DataLoader:
    """A ``DataLoader`` over ``DATASETS.build(data_cfg)`` (the dataset config, e.g. ``cfg.data.train``).

    With ``distributed`` a ``DistributedSampler`` splits the data between ``num_replicas`` ranks (default: the
    initialized process group's world size and rank); call ``loader.sampler.set_epoch(epoch)`` each epoch. The
    shuffling order is determined by ``seed`` (and the rank). A pixel dataset draws item ``i``'s augmentation from
    ``item_generator(dataset seed, epoch, i)`` whatever worker loads it; its epoch is per process, so iterate the
    epochs with ``walt.engine.data_state.ResumableLoader`` (one set of workers for the whole run, the epoch sent
    with every index) or call ``loader.dataset.set_epoch(epoch)`` before each epoch's ``iter(loader)``.

    A dataset with shape buckets (``bucket_of``, e.g. ``BucketedVideos``) is batched by a
    :class:`~walt.data.bucket_sampler.BucketBatchSampler`: one bucket per batch, the same bucket on every rank, each
    bucket's batch ``token_budget // tokens`` with ``tokens`` one clip's cost (``bucket_tokens(buckets)``, e.g. the
    model's token counts, which also checks the shapes; default the pixel volume) and the budget the dataset's
    ``token_budget`` or ``batch_size`` × the largest bucket's tokens.

    A streamed dataset (an ``IterableDataset``: ``VideoShards``) is told its rank instead (``distribute``) and
    splits its shards between ranks and workers itself; iterate it with ``walt.engine.stream_state.StreamingLoader``,
    which keeps its position."""
    if "type" not in data_cfg and "train" in data_cfg:
        raise ValueError("build_dataloader: pass a dataset config such as cfg.data['train'], not the whole data dict")
    dataset = DATASETS.build(data_cfg)
    sampler = None
    if distributed and (num_replicas is None or rank is None):
        if not dist.is_available() or not dist.is_initialized():
            raise RuntimeError("build_dataloader(distributed=True) needs an initialized process group "
                               "or explicit num_replicas and rank")
        num_replicas, rank = dist.get_world_size(), dist.get_rank()
    if isinstance(dataset, IterableDataset):
        if distributed:
            dataset.distribute(rank, num_replicas)
        return DataLoader(dataset, batch_size=batch_size, num_workers=num_workers, collate_fn=collate,
                          worker_init_fn=seed_worker, drop_last=drop_last, pin_memory=torch.cuda.is_available())
    generator = torch.Generator().manual_seed(seed + (rank or 0))
    common = dict(num_workers=num_workers, collate_fn=collate, worker_init_fn=seed_worker, generator=generator,
                  pin_memory=torch.cuda.is_available())
    if getattr(dataset, "bucket_of", None) is not None:
        tokens = list(bucket_tokens(dataset.buckets) if bucket_tokens else [b.volume for b in dataset.buckets])
        budget = dataset.token_budget or batch_size * max(tokens)
        batches = BucketBatchSampler(dataset.bucket_of, bucket_batch_sizes(tokens, budget),
                                     num_replicas=num_replicas or 1, rank=rank or 0, seed=seed, shuffle=shuffle)
        return DataLoader(dataset, batch_sampler=batches, **common)
    if distributed:
        sampler = DistributedSampler(dataset, num_replicas=num_replicas, rank=rank, shuffle=shuffle, seed=seed,
                                     drop_last=drop_last)
    per_rank = len(sampler) if sampler is not None else len(dataset)
    if drop_last and per_rank < batch_size:
        raise ValueError(f"build_dataloader: {type(dataset).__name__} gives {per_rank} items per rank, fewer than "
                         f"batch_size={batch_size} with drop_last=True: no batch would be produced")
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      drop_last=drop_last, **common)
