"""The conditions a latent diffusion model gives its backbone: class labels and text, from a training batch or from
sampling arguments, and their null versions for classifier-free guidance (W.A.L.T §4.3, §5.3; LAVITA §4.4).

Condition dropout (classifier-free guidance, Ho & Salimans 2022): labels → the null class ``num_classes``, text →
zero tokens with an all-False mask and a zero pooled vector. In joint image–video training the image frames carry
their own labels / text (``frame_y``, ``frame_text``; built by ``frame_conditions.py``), dropped by draws of their
own.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

import torch
from torch import Tensor, nn

# Backbone keyword inputs that carry a droppable condition (what guidance replaces by its null version).
CONDITION_KEYS = ("y", "text", "text_mask", "text_pooled", "frame_y", "frame_text", "frame_text_mask",
                  "frame_text_pooled")
TEXT_KEYS = ("tokens", "mask", "pooled")


@dataclass(frozen=True)
class Conditions:
    """Class labels ``y`` ``(B,)`` and text ``dict(tokens (B, L, Dt), mask (B, L) bool, pooled (B, Dt))`` (each
    ``None`` when the backbone does not use it), for a backbone reading ``text_inputs``; in joint image–video
    training also each frame's own ``frame_y`` ``(B, T)`` and ``frame_text`` (the same keys with ``(B, T)`` in
    front), which the backbone reads at the image frames."""

    y: Tensor | None = None
    text: dict[str, Tensor] | None = None
    text_inputs: tuple[str, ...] = ()
    frame_y: Tensor | None = None
    frame_text: dict[str, Tensor] | None = None

    def kwargs(self) -> dict[str, Tensor]:
        """The backbone's keyword inputs (``y``, ``text``, ``text_mask``, ``text_pooled`` and their ``frame_``
        versions)."""
        out: dict[str, Tensor] = {}
        for prefix, y, text in (("", self.y, self.text), ("frame_", self.frame_y, self.frame_text)):
            if y is not None:
                out[f"{prefix}y"] = y
            if text is not None and "tokens" in self.text_inputs:
                out.update({f"{prefix}text": text["tokens"], f"{prefix}text_mask": text["mask"]})
            if text is not None and "pooled" in self.text_inputs:
                out[f"{prefix}text_pooled"] = text["pooled"]
        return out

    def dropped(self, drop: Tensor, num_classes: int | None, frame_drop: Tensor | None = None) -> "Conditions":
        """The null condition where ``drop`` ``(B,)`` is True, the condition itself elsewhere; the per-frame
        conditions follow ``frame_drop`` ``(B, T)`` (each image's own draw), or their sample's ``drop``."""
        if frame_drop is None and self.per_frame:
            frames = self.frame_y if self.frame_y is not None else next(iter(self.frame_text.values()))
            frame_drop = drop[:, None].expand(frames.shape[:2])
        return replace(self, y=_null_labels(self.y, drop, num_classes), text=_null_text(self.text, drop),
                       frame_y=_null_labels(self.frame_y, frame_drop, num_classes),
                       frame_text=_null_text(self.frame_text, frame_drop))

    @property
    def empty(self) -> bool:
        return self.y is None and self.text is None

    @property
    def per_frame(self) -> bool:
        """Whether image frames carry conditions of their own."""
        return self.frame_y is not None or self.frame_text is not None


def _null_labels(y: Tensor | None, drop: Tensor | None, num_classes: int | None) -> Tensor | None:
    return y if y is None else torch.where(drop, torch.full_like(y, num_classes), y)


def _null_text(text: dict[str, Tensor] | None, drop: Tensor | None) -> dict[str, Tensor] | None:
    """Zero tokens / pooled vector and an all-False mask where ``drop`` (the leading dims of every entry) is True."""
    if text is None:
        return None
    keep = ~drop
    return {k: (v & _trailing(keep, v)) if k == "mask" else v * _trailing(keep, v).to(v.dtype)
            for k, v in text.items()}


def _trailing(keep: Tensor, value: Tensor) -> Tensor:
    """``keep`` viewed with singleton dims to broadcast against ``value``."""
    return keep.view(*keep.shape, *([1] * (value.dim() - keep.dim())))


def labels_from(batch: dict, b: int, num_classes: int | None, device: torch.device) -> Tensor | None:
    """``label`` ``(B,)`` of a batch for a class-conditional backbone (``None`` for an unconditional one)."""
    if num_classes is None:
        return None
    if "label" not in batch:
        raise KeyError(f"LatentDiffusion: class-conditional backbone (num_classes={num_classes}) needs 'label' in "
                       f"the batch, got keys {sorted(batch)}")
    y = torch.as_tensor(batch["label"], device=device).long()
    if y.shape != (b,):
        raise ValueError(f"LatentDiffusion: 'label' has shape {tuple(y.shape)}, expected ({b},)")
    return y


def text_from(batch: dict, b: int, text_inputs: tuple[str, ...], text_encoder: nn.Module | None,
              device: torch.device) -> dict[str, Tensor] | None:
    """``dict(tokens, mask, pooled)`` from cached ``text_*`` keys or by encoding ``caption``."""
    if not text_inputs:
        return None
    if "text_tokens" in batch or "text_pooled" in batch:
        text = {k: batch[f"text_{k}"].to(device) for k in TEXT_KEYS if f"text_{k}" in batch}
    elif "caption" in batch and text_encoder is not None:
        text = {k: v.to(device) for k, v in text_encoder(list(batch["caption"])).items()}
    else:
        raise KeyError("LatentDiffusion: a text-conditional backbone needs 'text_tokens'/'text_mask'/'text_pooled' "
                       f"or 'caption' with a text_encoder; batch keys {sorted(batch)}")
    for key in text_inputs:
        if key not in text:
            raise KeyError(f"LatentDiffusion: the backbone needs text_{key}, missing from the batch")
    if "tokens" in text and "mask" not in text:
        text["mask"] = torch.ones(text["tokens"].shape[:2], dtype=torch.bool, device=device)
    for key, value in text.items():
        if value.shape[0] != b:
            raise ValueError(f"LatentDiffusion: text_{key} has batch size {value.shape[0]}, expected {b}")
    return text


def batch_conditions(batch: dict, b: int, num_classes: int | None, text_inputs: tuple[str, ...],
                     text_encoder: nn.Module | None, device: torch.device) -> Conditions:
    """The conditions of a training batch of ``b`` samples."""
    return Conditions(labels_from(batch, b, num_classes, device),
                      text_from(batch, b, text_inputs, text_encoder, device), text_inputs)


def sampling_conditions(num: int, y: Tensor | Sequence[int] | int | None, prompts: Sequence[str] | None,
                        text: dict[str, Tensor] | None, generator: torch.Generator | None, num_classes: int | None,
                        text_inputs: tuple[str, ...], text_encoder: nn.Module | None,
                        device: torch.device) -> Conditions:
    """The conditions of ``num`` samples: labels ``y`` (random from ``generator`` when omitted for a
    class-conditional model), ``prompts`` encoded by the text encoder or cached ``text`` embeddings."""
    if num_classes is not None and y is None:
        y = torch.randint(num_classes, (num,), generator=generator,
                          device=generator.device if generator is not None else device)
    if y is not None:
        if num_classes is None:
            raise ValueError("LatentDiffusion.sample: y given but the backbone is not class-conditional")
        y = torch.as_tensor(y, device=device).long()
        y = y.expand(num).clone() if y.dim() == 0 else y
        if y.shape != (num,):
            raise ValueError(f"LatentDiffusion.sample: y has shape {tuple(y.shape)}, expected ({num},)")
    if text_inputs:
        if text is None:
            if text_encoder is None:
                raise ValueError("LatentDiffusion.sample: a text-conditional model without text_encoder needs "
                                 "text=dict(tokens, mask, pooled)")
            text = text_encoder(list(prompts) if prompts is not None else [""] * num)
        text = text_from({f"text_{k}": v for k, v in text.items()}, num, text_inputs, None, device)
    elif prompts is not None or text is not None:
        raise ValueError("LatentDiffusion.sample: prompts/text given but the backbone is not text-conditional")
    return Conditions(y, text, text_inputs)
