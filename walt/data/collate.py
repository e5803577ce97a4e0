"""Collating item dicts into a batch dict (docs/architecture.md "Batches")."""
from __future__ import annotations

from typing import Any

import torch

# Items hold several of these each (a W.A.L.T joint item carries S image stacks; a joint item's image conditions
# are groups of image frames, walt/data/joint.py): batches concatenate them.
CONCAT_KEYS = ("images", "lowres_images", "image_label", "image_caption", "image_text_tokens", "image_text_mask",
               "image_text_pooled")


def collate(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack tensors (``(B, ...)``), turn ints/floats/bools into ``(B,)`` tensors (``label`` → long), keep strings
    as lists; keys in :data:`CONCAT_KEYS` are concatenated along their first dimension instead (the image stacks
    and the image frames' own conditions, in item order)."""
    if not items:
        raise ValueError("collate: empty list of items")
    keys = list(items[0])
    for i, item in enumerate(items):
        if list(item) != keys:
            raise ValueError(f"collate: item {i} has keys {sorted(item)}, item 0 has {sorted(keys)}")
    batch = {}
    for key in keys:
        values = [item[key] for item in items]
        first = values[0]
        if key in CONCAT_KEYS:
            batch[key] = torch.cat(values) if isinstance(first, torch.Tensor) else [v for vs in values for v in vs]
        elif isinstance(first, torch.Tensor):
            shapes = {tuple(v.shape) for v in values}
            if len(shapes) > 1:
                raise ValueError(f"collate: {key!r} has different shapes across the batch: {sorted(shapes)}")
            batch[key] = torch.stack(values)
        elif isinstance(first, (bool, int, float)):
            batch[key] = torch.tensor(values)
        else:
            batch[key] = values
    return batch
