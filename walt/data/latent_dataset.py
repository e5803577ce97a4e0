"""Latents cached by ``tools/encode_latents.py`` (the dataset is encoded once, the frozen autoencoder is then left
out of diffusion training: ``IdentityAutoencoder`` in the config, W.A.L.T §4.1 / LAVITA §3).

Layout of a cache directory::

    index.json          {"version": 1, "shards": [...file names], "items": [{"shard", "offset", "label",
                         "caption", "shape"}, ...], "autoencoder": {...config}, "source": {...}}
    shard_00000.pt      {"latents": [Tensor (c, t, h, w), ...], "start": first item index}
    shard_00000.json    the shard's item metadata and latent statistics (written last: marks the shard finished)
    latent_stats.json   per-channel mean/std (see walt/models/autoencoders/latent_norm.py)
"""
from __future__ import annotations

import json
from collections import OrderedDict
from pathlib import Path

import torch
from torch import Tensor
from torch.utils.data import Dataset

from registry import DATASETS

INDEX_FILE = "index.json"
STATS_FILE = "latent_stats.json"


def shard_name(k: int) -> str:
    return f"shard_{k:05d}.pt"


@DATASETS.register_module()
class LatentDataset(Dataset):
    """Items ``dict(latent (c, t, h, w) float32, label (int), caption (str))`` read from a latent cache; ``label`` /
    ``caption`` are present when the encoded dataset had them. Keeps the ``cache_shards`` most recently used shards
    in memory (per data-loader worker)."""

    def __init__(self, root: str, cache_shards: int = 2):
        self.root = Path(root)
        index_path = self.root / INDEX_FILE
        if not index_path.is_file():
            raise FileNotFoundError(f"LatentDataset: {index_path} does not exist; write the cache with "
                                    f"tools/encode_latents.py CONFIG --out {root}")
        index = json.loads(index_path.read_text())
        self.shards: list[str] = index["shards"]
        self.items: list[dict] = index["items"]
        self.autoencoder: dict = index.get("autoencoder", {})
        self.cache_shards = max(1, cache_shards)
        self._cache: OrderedDict[int, list[Tensor]] = OrderedDict()

    def __len__(self) -> int:
        return len(self.items)

    def _shard(self, k: int) -> list[Tensor]:
        if k in self._cache:
            self._cache.move_to_end(k)
            return self._cache[k]
        path = self.root / self.shards[k]
        if not path.is_file():
            raise FileNotFoundError(f"LatentDataset: shard {path} listed in {self.root / INDEX_FILE} is missing")
        latents = torch.load(path, map_location="cpu", weights_only=True)["latents"]
        self._cache[k] = latents
        if len(self._cache) > self.cache_shards:
            self._cache.popitem(last=False)
        return latents

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        latent = self._shard(item["shard"])[item["offset"]].float()
        if list(latent.shape) != list(item["shape"]):
            raise ValueError(f"LatentDataset: item {index} has shape {tuple(latent.shape)} in "
                             f"{self.shards[item['shard']]} but the index says {tuple(item['shape'])}")
        out: dict = dict(latent=latent)
        if item.get("label") is not None:
            out["label"] = int(item["label"])
        if item.get("caption") is not None:
            out["caption"] = item["caption"]
        return out
