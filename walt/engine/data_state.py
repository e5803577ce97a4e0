"""The data position as training state: an endless batch iterator over a ``DataLoader`` whose position (epoch,
batches consumed in it) goes into the checkpoint. Each epoch's order comes from a generator seeded with
``seed + epoch`` (or the sampler's ``set_epoch``), and a resumed epoch skips the consumed batches at the index
level (no data is read for them). The dataset's ``set_epoch`` (when it has one) makes every item's augmentation a
function of (seed, epoch, index) (walt/data/transforms.py ``item_generator``), independent of which worker loads
it, so the resumed run sees exactly the batches the uninterrupted one would, with any number of workers."""
from __future__ import annotations

import itertools
from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader, Sampler

__all__ = ["ResumableLoader"]


class _SkipBatches(Sampler):
    """The index batches of ``batch_sampler`` after the first ``skip``."""

    def __init__(self, batch_sampler: Any, skip: int):
        self.batch_sampler, self.skip = batch_sampler, skip

    def __iter__(self) -> Iterator[list[int]]:
        return itertools.islice(iter(self.batch_sampler), self.skip, None)

    def __len__(self) -> int:
        return max(0, len(self.batch_sampler) - self.skip)


class ResumableLoader:
    """``next_batch()`` forever over ``loader``; ``state_dict()`` = ``{epoch, consumed}``."""

    def __init__(self, loader: DataLoader, seed: int = 0):
        self.loader, self.seed = loader, seed
        self.epoch, self.consumed = 0, 0
        self._iterator: Iterator | None = None

    def next_batch(self) -> Any:
        empty_epochs = 0
        while True:
            if self._iterator is None:
                self._iterator = self._epoch_iterator()
            try:
                batch = next(self._iterator)
            except StopIteration:
                empty_epochs = empty_epochs + 1 if self.consumed == 0 else 0
                if empty_epochs > 1:
                    raise ValueError(f"the training data loader yields no batches (dataset of "
                                     f"{len(self.loader.dataset)} items, batch size {self.loader.batch_size}, "
                                     f"drop_last={self.loader.drop_last})") from None
                self.epoch, self.consumed, self._iterator = self.epoch + 1, 0, None
                continue
            self.consumed += 1
            return batch

    def state_dict(self) -> dict[str, int]:
        return dict(epoch=self.epoch, consumed=self.consumed)

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.consumed, self._iterator = int(state["epoch"]), int(state["consumed"]), None

    def _epoch_iterator(self) -> Iterator:
        src = self.loader
        if hasattr(src.dataset, "set_epoch"):
            src.dataset.set_epoch(self.epoch)
        if src.batch_sampler is None:  # iterable dataset: no indices to skip, read and drop the consumed batches
            return itertools.islice(iter(src), self.consumed, None)
        sampler = getattr(src.batch_sampler, "sampler", src.sampler)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
        elif hasattr(sampler, "generator"):
            sampler.generator = torch.Generator().manual_seed(self.seed + self.epoch)
        workers = src.num_workers
        loader = DataLoader(
            src.dataset, batch_sampler=_SkipBatches(src.batch_sampler, self.consumed), num_workers=workers,
            collate_fn=src.collate_fn, pin_memory=src.pin_memory, timeout=src.timeout,
            worker_init_fn=src.worker_init_fn, multiprocessing_context=src.multiprocessing_context,
            # the workers' base seed comes from this generator, not from the global RNG (the training noise)
            generator=torch.Generator().manual_seed(10_007 * (self.seed + 1) + self.epoch),
            prefetch_factor=src.prefetch_factor if workers > 0 else None)
        return iter(loader)
