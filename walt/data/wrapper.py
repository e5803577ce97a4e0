"""Base of the datasets that wrap another one and add keys to its items (SR pairs, cached text embeddings)."""
from __future__ import annotations

from typing import Any

from torch.utils.data import Dataset

from registry import DATASETS


class DatasetWrapper(Dataset):
    """Holds ``dataset`` (a config dict, built through ``DATASETS``, or a dataset) with the same length; attributes
    it does not have (``classes``, ``skipped``, ``set_epoch`` ...) are read from the wrapped dataset."""

    def __init__(self, dataset: dict | Dataset):
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def __getattr__(self, name: str) -> Any:
        if name == "dataset":  # not set yet (e.g. while unpickling in a worker): no recursion
            raise AttributeError(name)
        return getattr(self.dataset, name)
