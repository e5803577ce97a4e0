"""Counting the samples a dataset skips (corrupt, truncated, too short), across data-loader workers.

A counter in shared memory with one slot per process (main = 0, worker i = i + 1): workers forked or spawned count
into their own slot, so no lock is needed, and the main process reads the sum even when workers did the decoding.
"""
from __future__ import annotations

import logging
import multiprocessing

from torch.utils.data import get_worker_info

logger = logging.getLogger(__name__)
COUNTER_SLOTS = 257  # the main process and up to 256 data-loader workers


class SkipCounter:
    """``record(err)`` logs one skipped sample of ``owner`` (from the process that met it); ``total`` sums them."""

    def __init__(self, owner: str):
        self.owner = owner
        self._slots = multiprocessing.RawArray("q", COUNTER_SLOTS)

    @property
    def total(self) -> int:
        return int(sum(self._slots))

    def record(self, err: Exception) -> None:
        worker = get_worker_info()
        self._slots[0 if worker is None else 1 + worker.id % (COUNTER_SLOTS - 1)] += 1
        where = f" (data-loader worker {worker.id})" if worker is not None else ""
        logger.warning("%s: skipped a sample%s: %s; %d skipped so far", self.owner, where, err, self.total)
