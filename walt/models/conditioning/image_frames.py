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
  the clip's ``y``; the model embeds every entry with the same label table (a clip's image labels are one row of
  its label dropout: one draw per clip for all its images, ``LatentDiffusion(image_frame_dropout="per_clip")``) and
  conditions the spatial blocks *and the final layer* per frame (``t + y`` on the clip's frames, ``t + y_image[k]``
  on image ``k``), while the temporal blocks take ``t + y`` and run on the video frames only. Its text path
  (``extras == 78``) is written the same way with a projected per-image text embedding. Here the spatial blocks
  (every block of variants 3 and 4, which keep image frames out of temporal attention) and the final layer take
  the per-frame condition; temporal blocks take the clip's. The Latte T2V model (``models/latte_t2v.py``) gives
  each appended image its own caption tokens and mask row (a ``(B, 1 + K, L)`` mask): its spatial blocks'
  cross-attention reads them, as LAVITA's ``TextCrossAttention`` does with ``frame_text``.

Backbone inputs (fields of :class:`~walt.models.conditioning.conditions.Conditions`): ``frame_y (B, T)``,
``frame_text (B, T, L, Dt)``, ``frame_text_mask (B, T, L)``, ``frame_text_pooled (B, T, Dt)``, read at the frames
where ``image_mask`` is True (a video frame always takes its sample's condition); ``Conditions.image_frames`` turns
them into :class:`ImageFrames`. The work is done once per image frame — its ``c + t``, its adaLN regression, its
text key/value projection — and :func:`per_frame` assembles the ``(B, T, ...)`` tensors.
Without image frames nothing here runs: the per-sample path is unchanged.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import Tensor, nn


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
    ``mask (M, L)`` bool; the other frames attend to their sample's text (W.A.L.T's ``WindowCrossAttention``, the
    Latte T2V ``TextCrossAttention``)."""

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
