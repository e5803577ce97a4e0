"""The data position of a streamed dataset (``VideoShards``) as training state: ``next_batch()`` forever, and the
members each reader stream has left (walt/data/shard_plan.py) as ``state_dict()``.

Every item carries the stream that read it and how many members that stream had read with it; the main process
keeps the latest count per stream from the batches the trainer took (not from what the workers prefetched). Saving
joins every rank's counts (a collective: ``state_dict`` runs on all ranks, as ``Trainer._save`` does); a resumed
loader's workers start where the position says, each on the stream whose batch comes next in the loader's turn.
The workers ignore SIGTERM and SIGINT, as ``ResumableLoader``'s do (walt/engine/data_state.py)."""
from __future__ import annotations

import functools
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader

from walt.data.shard_plan import merge_position
from walt.data.video_shards import POSITION_KEYS
from walt.engine.data_state import worker_init

__all__ = ["StreamingLoader"]


class StreamingLoader:
    """``next_batch()`` forever over ``loader`` (a ``VideoShards`` data loader; the dataset must have been told its
    rank, ``build_dataloader`` does). ``gather``: ``[value of rank 0, ...]`` under ``torchrun``."""

    def __init__(self, loader: DataLoader, gather: Callable[[Any], list[Any]] = lambda local: [local]):
        self.loader, self.gather = loader, gather
        self.dataset = loader.dataset
        self.workers = max(loader.num_workers, 1)
        self.batches = 0  # taken since the workers started: whose turn (which worker's batch) comes next
        self.consumed = [0] * self.workers  # members each of this rank's streams has read, by local stream
        self._iterator: Iterator | None = None

    def next_batch(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(DataLoader(
                self.dataset, batch_size=self.loader.batch_size, num_workers=self.loader.num_workers,
                collate_fn=self.loader.collate_fn, pin_memory=self.loader.pin_memory, drop_last=True,
                worker_init_fn=functools.partial(worker_init, then=self.loader.worker_init_fn),
                timeout=self.loader.timeout, multiprocessing_context=self.loader.multiprocessing_context,
                generator=torch.Generator().manual_seed(0),  # not the global RNG (the training noise)
                prefetch_factor=self.loader.prefetch_factor if self.loader.num_workers > 0 else None))
        batch = next(self._iterator)
        streams, cursors = (batch.pop(key) for key in POSITION_KEYS)
        first = self.dataset.rank * self.workers
        for stream, cursor in zip(streams.tolist(), cursors.tolist()):
            self.consumed[stream - first] = max(self.consumed[stream - first], cursor)
        self.batches += 1
        return batch

    def state_dict(self) -> dict:
        """``{"next_epoch", "streams", "turn", "shards"}`` (a collective under ``torchrun``); ``turn``: the stream
        (of this rank's) whose batch comes next; ``shards``: the member count of every shard, which a resumed run's
        shards must match."""
        position = merge_position(self.dataset.plans(self.loader.num_workers), self.consumed, self.gather)
        return dict(position, turn=(self.dataset.rotation + self.batches) % self.workers, shards=self.dataset.counts)

    def load_state_dict(self, state: dict) -> None:
        if "streams" not in state:
            raise ValueError(f"the checkpoint's data position {sorted(state)} is a map-style dataset's, not a "
                             f"streamed one's (VideoShards): resume with the data config it was trained with")
        if list(state["shards"]) != self.dataset.counts:
            raise ValueError(f"the checkpoint's data position is for {len(state['shards'])} shards of "
                             f"{sum(state['shards'])} members; the configured shards are {len(self.dataset.counts)} "
                             f"of {sum(self.dataset.counts)} (or hold other counts): resume on the shards it was "
                             f"trained on")
        position = {k: state[k] for k in ("next_epoch", "streams")}
        self.dataset.load_position(position, rotation=int(state.get("turn", 0)) % self.workers)
        self.batches, self.consumed, self._iterator = 0, [0] * self.workers, None
