"""The conditions a latent diffusion model gives its backbone: class labels and text, from a training batch or from
sampling arguments (W.A.L.T §4.3, §5.3; LAVITA §4.4), as a
:class:`~walt.models.conditioning.conditions.Conditions` value, whose ``dropped`` gives their null versions.

Condition dropout (classifier-free guidance, Ho & Salimans 2022): labels → the null class ``num_classes``, text →
zero tokens with an all-False mask and a zero pooled vector (``null_text="zeros"``), or the text encoder's encoding
of the empty prompt attended over the prompt's own length (``null_text="empty_prompt"``: the negative prompt of
diffusers' LattePipeline, which cuts the empty prompt's embedding to the prompt's token count). In joint image–video
training the image frames carry their own labels / text (``frame_y``, ``frame_text``; built by
``frame_conditions.py``), dropped by draws of their own.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn

from walt.models.conditioning.conditions import Conditions

TEXT_KEYS = ("tokens", "mask", "pooled")
NULL_TEXTS = ("zeros", "empty_prompt")


def read_conditions(y: Tensor | None, text: dict[str, Tensor] | None, text_inputs: tuple[str, ...],
                    frame_y: Tensor | None = None, frame_text: dict[str, Tensor] | None = None) -> Conditions:
    """:class:`Conditions` from labels and text ``dict(tokens, mask, pooled)`` (and the per-frame ones), keeping
    the text entries a backbone reading ``text_inputs`` takes."""
    def entries(text: dict[str, Tensor] | None, prefix: str) -> dict[str, Tensor]:
        if text is None:
            return {}
        out = {}
        if "tokens" in text_inputs:
            out.update({f"{prefix}text": text["tokens"], f"{prefix}text_mask": text["mask"]})
        if "pooled" in text_inputs:
            out[f"{prefix}text_pooled"] = text["pooled"]
        return out

    return Conditions(y=y, frame_y=frame_y, **entries(text, ""), **entries(frame_text, "frame_"))


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
    return read_conditions(labels_from(batch, b, num_classes, device),
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
    return read_conditions(y, text, text_inputs)
