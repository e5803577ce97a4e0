"""The data position as training state: an endless batch iterator over a ``DataLoader`` whose position (epoch,
batches consumed in it) goes into the checkpoint.

One ``DataLoader`` serves the whole run, so its workers start once (not once per epoch: with a small dataset an
epoch is a few steps). Its batch sampler walks the epochs in the main process: each epoch's order comes from a
generator seeded with ``seed + epoch`` (or the sampler's ``set_epoch``), and a resumed epoch skips the consumed
batches at the index level (no data is read for them). Every index travels to the worker as ``(epoch, index)``,
and the worker sets the dataset's epoch (``set_epoch``, when it has one) before reading the item, so each item's
augmentation is a function of (seed, epoch, index) (walt/data/transforms.py ``item_generator``) whichever worker
loads it: the resumed run sees exactly the batches the uninterrupted one would, with any number of workers.

The workers ignore SIGTERM and SIGINT: a scheduler or a terminal signals the whole process group, and a worker that
died of it would make the main process fail ("DataLoader worker ... is killed by signal") before it could save. The
main process decides when to stop; its workers end with it."""
from __future__ import annotations

import functools
import itertools
import signal
from typing import Any, Callable, Iterator

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

__all__ = ["ResumableLoader", "worker_init"]


class _EpochItems(Dataset):
    """``dataset`` indexed by ``(epoch, index)``: item ``index`` as drawn in ``epoch``."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)  # per process: this worker's copy of the dataset
        return self.dataset[index]


class _EpochBatches(Sampler):
    """The index batches of ``loader``'s epochs from ``epoch`` on, forever, the first ``skip`` of them left out;
    each index tagged with its epoch."""

    def __init__(self, loader: DataLoader, seed: int, epoch: int, skip: int):
        self.loader, self.seed, self.epoch, self.skip = loader, seed, epoch, skip

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batches = self.loader.batch_sampler
        # a batch sampler with its own epochs (shape buckets) or the sampler under a plain BatchSampler
        sampler = batches if hasattr(batches, "set_epoch") else getattr(batches, "sampler", self.loader.sampler)
        for epoch in itertools.count(self.epoch):
            if hasattr(sampler, "set_epoch"):
                sampler.set_epoch(epoch)
            elif hasattr(sampler, "generator"):
                sampler.generator = torch.Generator().manual_seed(self.seed + epoch)
            skip = self.skip if epoch == self.epoch else 0
            for batch in itertools.islice(iter(batches), skip, None):
                yield [(epoch, index) for index in batch]


def worker_init(worker_id: int, then: Callable[[int], None] | None = None) -> None:
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_IGN)
    if then is not None:
        then(worker_id)


class ResumableLoader:
    """``next_batch()`` forever over ``loader`` (a map-style dataset); ``state_dict()`` = ``{epoch, consumed}``."""

    def __init__(self, loader: DataLoader, seed: int = 0):
        if loader.batch_sampler is None:
            raise TypeError(f"ResumableLoader needs a map-style dataset with a batch sampler; "
                            f"{type(loader.dataset).__name__} is iterable")
        self.loader, self.seed = loader, seed
        self.epoch, self.consumed = 0, 0
        self._iterator: Iterator | None = None

    @property
    def batches_per_epoch(self) -> int:
        return len(self.loader.batch_sampler)

    def next_batch(self) -> Any:
        if self._iterator is None:
            self._iterator = iter(self._endless_loader())
        batch = next(self._iterator)
        self.consumed += 1
        if self.consumed == self.batches_per_epoch:
            self.epoch, self.consumed = self.epoch + 1, 0
        return batch

    def state_dict(self) -> dict[str, int]:
        return dict(epoch=self.epoch, consumed=self.consumed)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.consumed, self._iterator = int(state["epoch"]), int(state["consumed"]), None

    def _endless_loader(self) -> DataLoader:
        src, workers, per_epoch = self.loader, self.loader.num_workers, self.batches_per_epoch
        if per_epoch == 0:
            raise ValueError(f"the training data loader yields no batches (dataset of {len(src.dataset)} items, "
                             f"batch size {src.batch_size}, drop_last={src.drop_last})")
        # a position saved at the end of an epoch ({epoch: e, consumed: all}) is the start of the next one
        self.epoch, self.consumed = self.epoch + self.consumed // per_epoch, self.consumed % per_epoch
        return DataLoader(
            _EpochItems(src.dataset), batch_sampler=_EpochBatches(src, self.seed, self.epoch, self.consumed),
            num_workers=workers, collate_fn=src.collate_fn, pin_memory=src.pin_memory, timeout=src.timeout,
            worker_init_fn=functools.partial(worker_init, then=src.worker_init_fn),
            multiprocessing_context=src.multiprocessing_context,
            # the workers' base seed comes from this generator, not from the global RNG (the training noise)
            generator=torch.Generator().manual_seed(10_007 * (self.seed + 1) + self.epoch),
            prefetch_factor=src.prefetch_factor if workers > 0 else None)
