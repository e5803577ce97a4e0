"""Per-frame conditions of joint image–video training: every image frame is conditioned on its own class / text.

In both papers the images trained jointly with a video come from other samples than that video: W.A.L.T §4.2 trains
on stacks of ``1 + t`` independent images (``JointImageStacks``), LAVITA §3.6 appends frames of other videos to each
clip (``JointAppendedFrames``). An image frame therefore takes its own label or caption:

* W.A.L.T: the AdaLN modulations of an image frame (every layer and the output layer) come from its own ``c + t``
  (its class, and its pooled text when the model uses one); its cross-attention, whose windows hold one frame each
  in joint training (§4.3 "spatial" cross-attention), sees its own caption's tokens and mask.
* LAVITA, as the public Latte image-joint code does (read in ``models/latte_img.py``, ``train_with_img.py`` and
  ``datasets/ucf101_image_datasets.py`` of Vchitect/Latte): the dataset takes each appended frame's class from
  the frame's file name and the training loop passes those classes as ``y_image``, one per appended frame, beside
  the clip's ``y``; the model embeds every entry with the same label table (label dropout drawn per entry) and
  conditions the spatial blocks *and the final layer* per frame (``t + y`` on the clip's frames, ``t + y_image[k]``
  on image ``k``), while the temporal blocks take ``t + y`` and run on the video frames only. Its text path
  (``extras == 78``) is written the same way with a projected per-image text embedding. Here the spatial blocks
  (every block of variants 3 and 4, which keep image frames out of temporal attention) and the final layer take
  the per-frame condition; temporal blocks take the clip's.

Backbone inputs (``walt/models/backbones/denoiser.py``): ``frame_y (B, T)``, ``frame_text (B, T, L, Dt)``,
``frame_text_mask (B, T, L)``, ``frame_text_pooled (B, T, Dt)``, read at the frames where ``image_mask`` is True
(a video frame always takes its sample's condition). The work is done once per image frame — its ``c + t``, its
adaLN regression, its text key/value projection — and :func:`per_frame` assembles the ``(B, T, ...)`` tensors.
Without image frames nothing here runs: the per-sample path is unchanged.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor, nn

FRAME_INPUTS = ("frame_y", "frame_text", "frame_text_mask", "frame_text_pooled")


def per_frame(sample: Tensor, rows: Tensor, image_mask: Tensor, dim: int = 0) -> Tensor:
    """Per-sample values (batch ``B`` at ``dim``) with the image frames' own rows (``M`` at ``dim``, in
    ``image_mask.nonzero()`` order) → per-frame values with ``(B, T)`` at ``(dim, dim + 1)``."""
    shape = list(sample.shape)
    shape.insert(dim + 1, image_mask.shape[1])
    out = sample.unsqueeze(dim + 1).expand(shape).clone()
    out[(slice(None),) * dim + (image_mask,)] = rows.to(out.dtype)
    return out


class FrameText(NamedTuple):
    """Cross-attention text of the image frames: ``tokens (M, L, D)`` (projected to the model width) and their
    ``mask (M, L)`` bool; the other frames attend to their sample's text."""

    image_mask: Tensor
    tokens: Tensor
    mask: Tensor

    def per_frame(self, sample: Tensor, rows: Tensor) -> Tensor:
        return per_frame(sample, rows, self.image_mask)


class ImageFrames(NamedTuple):
    """What the image frames of a batch are conditioned on, one row per image frame (``image_mask.nonzero()``
    order): ``c (M, D)`` their ``c + t`` (``None`` when it is their sample's: no own class or pooled text);
    ``text (M, L, Dt)`` and ``text_mask (M, L)`` their text tokens (``None`` when they attend to their sample's)."""

    image_mask: Tensor
    c: Tensor | None
    text: Tensor | None
    text_mask: Tensor | None

    def condition(self, c: Tensor) -> Tensor:
        """The per-frame ``c + t`` ``(B, T, D)`` from the per-sample one ``(B, D)`` (unchanged without own ``c``)."""
        return c if self.c is None else per_frame(c, self.c, self.image_mask)

    def modulations(self, conditioning: nn.Module, mods: Tensor) -> Tensor:
        """Per-frame modulations ``(layers, B, T, chunks, D)`` from the per-sample ones ``(layers, B, chunks, D)``:
        the image frames' regressed from their own ``c + t`` (unchanged without own ``c``)."""
        return mods if self.c is None else per_frame(mods, conditioning(self.c), self.image_mask, dim=1)

    def cross_attention_text(self, text_proj: Callable[[Tensor], Tensor], dtype: torch.dtype) -> FrameText | None:
        """The image frames' text for :class:`~walt.models.attention.cross_attention.WindowCrossAttention`."""
        if self.text is None:
            return None
        return FrameText(self.image_mask, text_proj(self.text.to(dtype)), self.text_mask)


def image_frame_conditions(backbone: Any, t: Tensor, image_mask: Tensor | None, y: Tensor | None = None,
                           text_pooled: Tensor | None = None, t_sr: Tensor | None = None,
                           frame_y: Tensor | None = None, frame_text: Tensor | None = None,
                           frame_text_mask: Tensor | None = None,
                           frame_text_pooled: Tensor | None = None) -> ImageFrames | None:
    """The image frames' own conditions for a :class:`~walt.models.backbones.denoiser.LatentDenoiser` (``None``
    without per-frame inputs or without image frames); ValueErrors name the input and shape at fault."""
    given = dict(zip(FRAME_INPUTS, (frame_y, frame_text, frame_text_mask, frame_text_pooled)))
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    name = type(backbone).__name__
    if image_mask is None:
        raise ValueError(f"{name}: per-frame conditions ({', '.join(given)}) need image_mask (B, T)")
    b, frames = image_mask.shape
    text_dim = backbone.text_dim
    usable = dict(frame_y=backbone.y_embedder is not None, frame_text="tokens" in backbone.text_inputs,
                  frame_text_mask="tokens" in backbone.text_inputs, frame_text_pooled="pooled" in backbone.text_inputs)
    length = frame_text.shape[2] if frame_text is not None and frame_text.dim() == 4 else None
    expected = dict(frame_y=(b, frames), frame_text=(b, frames, length, text_dim), frame_text_mask=(b, frames, length),
                    frame_text_pooled=(b, frames, text_dim))
    for key, value in given.items():
        if not usable[key]:
            raise ValueError(f"{name}: {key} given, but this backbone does not read that condition "
                             f"(num_classes={backbone.num_classes}, text inputs {backbone.text_inputs})")
        shape = expected[key]
        if value.dim() != len(shape) or any(s is not None and v != s for v, s in zip(value.shape, shape)):
            raise ValueError(f"{name}: {key} must have shape {tuple('L' if s is None else s for s in shape)} "
                             f"(one entry per latent frame of image_mask), got {tuple(value.shape)}")
    if frame_text_mask is not None and frame_text is None:
        raise ValueError(f"{name}: frame_text_mask given without frame_text")
    if not bool(image_mask.any()):
        return None
    sample = image_mask.nonzero()[:, 0]

    def rows(own: Tensor | None, of_sample: Tensor | None) -> Tensor | None:
        return own[image_mask] if own is not None else (None if of_sample is None else of_sample[sample])

    c = None  # an image frame's c + t differs from its sample's only by its own class or pooled text
    if frame_y is not None or frame_text_pooled is not None:
        c = backbone.condition(t[sample], rows(frame_y, y), rows(frame_text_pooled, text_pooled), rows(None, t_sr))
    text = None if frame_text is None else frame_text[image_mask]
    text_mask = None if text is None else (frame_text_mask[image_mask].bool() if frame_text_mask is not None
                                           else torch.ones(text.shape[:2], dtype=torch.bool, device=text.device))
    return ImageFrames(image_mask, c, text, text_mask)
