"""The conditions of a training batch, with each image frame's own label / caption in joint image–video training
(W.A.L.T §4.2 image stacks, LAVITA §3.6 appended frames; batch keys of docs/architecture.md).

The images of a joint batch come from other samples than the clips they join, so each carries its own condition:
``image_label`` ``(G, K)`` and ``image_caption`` (``G`` lists of ``K`` strings), or cached ``image_text_tokens``
``(G, K, L, Dt)`` / ``image_text_mask`` ``(G, K, L)`` / ``image_text_pooled`` ``(G, K, Dt)``, one row per group of
image frames (a stack of ``images``, or the frames appended to one clip), listing the image frames in the order of
``image_mask.nonzero()`` over the batch (the stacks join after the clips). ``label`` / ``caption`` / ``text_*`` are
the clips' own.

Every condition gets one row of a table ``[clip conditions, image-frame conditions]``; the sample conditions
``y`` / ``text`` and the per-frame ones ``frame_y`` / ``frame_text`` of
:class:`~walt.models.conditioning.conditions.Conditions` are gathered from it: a video frame takes its clip's row,
an image frame its own, and a stack (all images) takes its first image's as its sample condition (nothing reads it:
every frame of a stack has its own). Captions are encoded once per distinct caption of the batch.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from walt.models.conditioning.conditions import Conditions
from walt.models.generative.conditions import TEXT_KEYS, batch_conditions, labels_from, read_conditions

IMAGE_CONDITION_KEYS = ("image_label", "image_caption") + tuple(f"image_text_{k}" for k in TEXT_KEYS)


def training_conditions(batch: dict, b: int, image_mask: Tensor | None, num_classes: int | None,
                        text_inputs: tuple[str, ...], text_encoder: nn.Module | None,
                        device: torch.device) -> Conditions:
    """The conditions of a training batch of ``b`` latents with ``image_mask`` ``(b, T)`` (``None``: videos only);
    per-frame conditions only when image frames carry their own (:data:`IMAGE_CONDITION_KEYS`)."""
    if not any(k in batch for k in IMAGE_CONDITION_KEYS):
        return batch_conditions(batch, b, num_classes, text_inputs, text_encoder, device)
    if image_mask is None:
        present = [k for k in IMAGE_CONDITION_KEYS if k in batch]
        raise KeyError(f"LatentDiffusion: the batch has {', '.join(present)} but no image frames ('images' or "
                       f"'image_mask')")
    return _joint_conditions(batch, image_mask.to(device), num_classes, text_inputs, text_encoder, device)


def _joint_conditions(batch: dict, image_mask: Tensor, num_classes: int | None, text_inputs: tuple[str, ...],
                      text_encoder: nn.Module | None, device: torch.device) -> Conditions:
    b, frames = image_mask.shape
    clips = b - (batch["images"].shape[0] if "images" in batch else 0)
    num_images = int(image_mask.sum())
    if num_classes is None and not text_inputs:
        return Conditions()
    if num_images == 0:
        return batch_conditions(batch, b, num_classes, text_inputs, text_encoder, device)
    # rows of the condition table: clips first, then every image frame in image_mask order
    frame_row = torch.arange(b, device=device)[:, None].expand(b, frames).clone()
    frame_row[image_mask] = clips + torch.arange(num_images, device=device)
    sample_row = torch.cat([torch.arange(clips, device=device), frame_row[clips:, 0]])
    y = frame_y = text = frame_text = None
    if num_classes is not None:
        table = torch.cat([labels_from(batch, clips, num_classes, device),
                           _image_rows(batch, "image_label", num_images, device).long()])
        y, frame_y = table[sample_row], table[frame_row]
    if text_inputs:
        table = _text_table(batch, clips, num_images, text_inputs, text_encoder, device)
        text = {k: v[sample_row] for k, v in table.items()}
        frame_text = {k: v[frame_row] for k, v in table.items()}
    return read_conditions(y, text, text_inputs, frame_y, frame_text)


def _image_rows(batch: dict, key: str, num_images: int, device: torch.device) -> Tensor:
    """``batch[key]`` ``(G, K, ...)`` as one row per image frame ``(num_images, ...)``."""
    if key not in batch:
        raise KeyError(f"LatentDiffusion: a joint batch needs {key!r} for its image frames, got keys {sorted(batch)}")
    value = torch.as_tensor(batch[key], device=device)
    if value.dim() < 2 or value.shape[0] * value.shape[1] != num_images:
        raise ValueError(f"LatentDiffusion: {key} has shape {tuple(value.shape)}, expected (groups, frames, ...) "
                         f"with one entry per image frame ({num_images} in image_mask / images)")
    return value.flatten(0, 1)


def _text_table(batch: dict, clips: int, num_images: int, text_inputs: tuple[str, ...],
                text_encoder: nn.Module | None, device: torch.device) -> dict[str, Tensor]:
    """The text of the clips then of every image frame, ``dict(tokens, mask, pooled)`` with the keys the backbone
    reads, from cached ``text_*`` / ``image_text_*`` or by encoding each distinct caption once."""
    keys = (("tokens", "mask") if "tokens" in text_inputs else ()) + (("pooled",) if "pooled" in text_inputs else ())
    if "image_caption" in batch and "image_text_tokens" not in batch and "image_text_pooled" not in batch:
        if text_encoder is None or "caption" not in batch:
            raise KeyError("LatentDiffusion: image captions need a text_encoder and the clips' 'caption' (or cache "
                           f"both with CachedTextDataset); batch keys {sorted(batch)}")
        captions = list(batch["caption"]) + [c for group in batch["image_caption"] for c in group]
        if len(captions) != clips + num_images:
            raise ValueError(f"LatentDiffusion: {len(batch['caption'])} clip captions and "
                             f"{len(captions) - len(batch['caption'])} image captions for {clips} clips and "
                             f"{num_images} image frames")
        distinct = {c: i for i, c in enumerate(dict.fromkeys(captions))}
        encoded = text_encoder(list(distinct))
        row = torch.tensor([distinct[c] for c in captions], device=device)
        return {k: encoded[k].to(device)[row] for k in keys}
    table = {}
    for key in keys:
        if f"text_{key}" not in batch:
            raise KeyError(f"LatentDiffusion: cached image text needs the clips' text_{key} too; batch keys "
                           f"{sorted(batch)}")
        clip = batch[f"text_{key}"].to(device)
        if clip.shape[0] != clips:
            raise ValueError(f"LatentDiffusion: text_{key} has batch size {clip.shape[0]}, expected {clips}")
        table[key] = torch.cat([clip, _image_rows(batch, f"image_text_{key}", num_images, device).to(clip.dtype)])
    return table
