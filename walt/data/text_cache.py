"""Text embeddings precomputed once and stored beside the latent cache (W.A.L.T §4.5 trains with a frozen T5-XL, so
its outputs can be cached like the autoencoder's latents).

A cache file (``torch.save``) holds ``captions`` (unique strings), ``tokens (N, L, D)``, ``mask (N, L)`` bool,
``pooled (N, D)`` and ``encoder`` (the text-encoder config that made it). It is keyed by caption, so one file
serves any dataset, split or latent cache whose items carry the same captions. ``CachedTextDataset`` wraps a
dataset and replaces each item's ``caption`` with ``text_tokens``, ``text_mask`` and ``text_pooled``, the batch
keys ``LatentDiffusion`` uses instead of running its text encoder.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

import torch
from torch import Tensor, nn
from torch.utils.data import Dataset

from registry import DATASETS
from walt.data.wrapper import DatasetWrapper
from walt.utils.atomic import atomic_write

CACHE_KEYS = ("tokens", "mask", "pooled")


def unique_captions(captions: Iterable[str]) -> list[str]:
    """Captions in first-seen order without repeats."""
    return list(dict.fromkeys(captions))


def dataset_captions(dataset: Dataset) -> list[str]:
    """Every item's caption; read from ``dataset.samples[i].caption`` (the pixel datasets) without decoding
    videos, from the datasets a joint dataset draws its clips and images from (``caption_datasets``), or from the
    items themselves otherwise."""
    sources = getattr(dataset, "caption_datasets", None)
    if sources is not None:
        return [caption for source in sources for caption in dataset_captions(source)]
    samples = getattr(dataset, "samples", None)
    if samples is not None and all(hasattr(s, "caption") for s in samples):
        captions = [s.caption for s in samples]
    else:
        captions = [dataset[i]["caption"] for i in range(len(dataset))]
    missing = [i for i, c in enumerate(captions) if not c]
    if missing:
        raise ValueError(f"{type(dataset).__name__}: items {missing[:5]} have no caption; a text cache needs one "
                         f"per item")
    return captions


@torch.no_grad()
def encode_text_cache(encoder: nn.Module, captions: Iterable[str], path: str | Path, *, batch_size: int = 64,
                      dtype: torch.dtype = torch.float32, encoder_config: dict | None = None) -> int:
    """Encode the unique ``captions`` with ``encoder`` in batches and write the cache file ``path``; returns how
    many captions were stored. ``dtype`` float32 keeps cached embeddings bit-equal to on-the-fly ones."""
    unique = unique_captions(captions)
    if not unique:
        raise ValueError(f"encode_text_cache: no captions to encode for {path}")
    parts = [encoder(unique[i:i + batch_size]) for i in range(0, len(unique), batch_size)]
    cache = {k: torch.cat([p[k] for p in parts]).cpu() for k in CACHE_KEYS}
    cache = {k: v if v.dtype == torch.bool else v.to(dtype) for k, v in cache.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: torch.save({"captions": unique, "encoder": encoder_config, **cache}, f))
    return len(unique)


class TextEmbeddingCache:
    """Read side of a cache file: ``cache[caption]`` or ``cache.lookup(captions)`` → batch keys
    ``text_tokens``, ``text_mask``, ``text_pooled`` (float32)."""

    def __init__(self, path: str | Path):
        if not Path(path).is_file():
            raise FileNotFoundError(f"TextEmbeddingCache: {str(path)!r} does not exist; write it with "
                                    f"tools/encode_text.py")
        data = torch.load(path, map_location="cpu", weights_only=True)
        missing = [k for k in ("captions", *CACHE_KEYS) if k not in data]
        if missing:
            raise KeyError(f"TextEmbeddingCache: {str(path)!r} lacks keys {missing}")
        self.path, self.encoder = str(path), data.get("encoder")
        self.index = {c: i for i, c in enumerate(data["captions"])}
        self.tokens, self.mask, self.pooled = data["tokens"], data["mask"], data["pooled"]

    def __len__(self) -> int:
        return len(self.index)

    def __contains__(self, caption: str) -> bool:
        return caption in self.index

    def _rows(self, captions: list[str]) -> Tensor:
        absent = [c for c in captions if c not in self.index]
        if absent:
            raise KeyError(f"TextEmbeddingCache {self.path!r}: captions not cached, e.g. {absent[0]!r}; "
                           f"re-run tools/encode_text.py for this dataset")
        return torch.tensor([self.index[c] for c in captions], dtype=torch.long)

    def lookup(self, captions: list[str]) -> dict[str, Tensor]:
        rows = self._rows(captions)
        return {"text_tokens": self.tokens[rows].float(), "text_mask": self.mask[rows],
                "text_pooled": self.pooled[rows].float()}

    def __getitem__(self, caption: str) -> dict[str, Tensor]:
        return {k: v[0] for k, v in self.lookup([caption]).items()}


@DATASETS.register_module()
class CachedTextDataset(DatasetWrapper):
    """Wraps ``dataset`` (a config dict or a dataset): items lose ``caption`` and gain ``text_tokens (L, D)``,
    ``text_mask (L,)``, ``text_pooled (D,)`` from the cache file ``cache``; the image frames of a joint item
    (``image_caption``, ``G`` groups of ``K``, ``walt/data/joint.py``) likewise gain ``image_text_tokens
    (G, K, L, D)``, ``image_text_mask (G, K, L)`` and ``image_text_pooled (G, K, D)``."""

    def __init__(self, dataset: dict | Dataset, cache: str):
        super().__init__(dataset)
        self.cache = TextEmbeddingCache(cache)

    def __getitem__(self, index: int) -> dict:
        item = dict(self.dataset[index])
        item.update(self.cache[item.pop("caption")])
        if "image_caption" in item:
            groups = item.pop("image_caption")
            images = self.cache.lookup([caption for group in groups for caption in group])
            item.update({f"image_{k}": v.view(len(groups), -1, *v.shape[1:]) for k, v in images.items()})
        return item
