"""What a backbone is conditioned on, as one value: ``backbone(x, t, cond)`` (``walt/models/backbones/denoiser.py``).

:class:`Conditions` holds every input of a denoiser call besides the noisy latents and the timesteps — the class
labels and text of the sample (W.A.L.T §4.3, LAVITA §4.4), the extra input channels of self-conditioning (W.A.L.T
§4.3), frame prediction (§4.4) and super-resolution (§4.5), and, in joint image–video training, which latent frames
are images and each image frame's own label / text (W.A.L.T §4.2 image stacks, LAVITA §3.6 appended frames). It is
frozen; :meth:`Conditions.replace` gives a changed copy. Classifier-free guidance (Ho & Salimans 2022) takes its
null version from :meth:`Conditions.dropped` and runs both in one batch through :meth:`Conditions.concat`. The image
frames' own ``c + t``, adaLN regressions and cross-attention text are :meth:`Conditions.image_frames`.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import torch
from torch import Tensor

from walt.models.conditioning.image_frames import ImageFrames

# The condition a text field carries, by its key in a text encoder's output (``tokens`` / ``mask`` / ``pooled``).
TEXT_FIELDS = {"text": "tokens", "text_mask": "mask", "text_pooled": "pooled"}
FRAME_FIELDS = ("frame_y", "frame_text", "frame_text_mask", "frame_text_pooled")


@dataclass(frozen=True, eq=False)  # tensors inside: identity, not elementwise, equality
class Conditions:
    """Everything a backbone call reads besides ``x`` ``(B, C, T, H, W)`` and ``t`` ``(B,)``; ``None`` = not given.

    * ``y`` ``(B,)`` class labels (``num_classes`` is the null class of classifier-free guidance);
    * ``text`` ``(B, L, Dt)`` text tokens with ``text_mask`` ``(B, L)`` bool (True = real token) for a backbone that
      cross-attends to text; ``text_pooled`` ``(B, Dt)``, added to ``c`` like a label;
    * ``x_sc`` ``(B, C, T, H, W)`` self-conditioning estimate of ``x_0`` (W.A.L.T §4.3; zeros when ``None``);
    * ``x_fp`` ``(B, C+1, T, H, W)`` frame-prediction conditioning ``concat(m∘z, m)`` (§4.4; zeros when ``None``);
    * ``x_lr`` ``(B, C, T, H/2, W/2)`` low-resolution latent of a super-resolution stage and ``t_sr`` ``(B,)`` its
      noise-augmentation level (§4.5);
    * ``image_mask`` ``(B, T)`` bool, True where a latent frame is an independent image (joint training);
    * ``frame_y`` ``(B, T)``, ``frame_text`` ``(B, T, L, Dt)``, ``frame_text_mask`` ``(B, T, L)``,
      ``frame_text_pooled`` ``(B, T, Dt)``: each frame's own condition, read at the image frames (a video frame
      takes its sample's).
    """

    y: Tensor | None = None
    text: Tensor | None = None
    text_mask: Tensor | None = None
    text_pooled: Tensor | None = None
    x_sc: Tensor | None = None
    x_fp: Tensor | None = None
    x_lr: Tensor | None = None
    t_sr: Tensor | None = None
    image_mask: Tensor | None = None
    frame_y: Tensor | None = None
    frame_text: Tensor | None = None
    frame_text_mask: Tensor | None = None
    frame_text_pooled: Tensor | None = None

    def replace(self, **changes: Any) -> "Conditions":
        """A copy with ``changes`` (field names of this class) applied."""
        return replace(self, **changes)

    def tensors(self) -> dict[str, Tensor]:
        """The given fields by name."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def empty(self) -> bool:
        """Whether there is no droppable sample condition (class or text)."""
        return self.y is None and self.text is None and self.text_pooled is None

    @property
    def per_frame(self) -> bool:
        """Whether image frames carry conditions of their own."""
        return any(getattr(self, name) is not None for name in FRAME_FIELDS)

    # ------------------------------------------------------------------------------ classifier-free guidance
    def dropped(self, drop: Tensor, num_classes: int | None, frame_drop: Tensor | None = None,
                null_text: dict[str, Tensor] | None = None) -> "Conditions":
        """The null condition where ``drop`` ``(B,)`` is True, the condition itself elsewhere: labels → the null
        class ``num_classes``, text → zero tokens under an all-False mask and a zero pooled vector, or with
        ``null_text`` (the empty prompt's encoding, one row: ``tokens`` ``(1, L, Dt)``, ``pooled``) its tokens under
        the prompt's own mask. The per-frame conditions follow ``frame_drop`` ``(B, T)``, or their sample's
        ``drop``. Task inputs (``x_sc``, ``x_fp``, ``x_lr``, ``t_sr``, ``image_mask``) are kept."""
        if frame_drop is None and self.per_frame:
            frames = next(getattr(self, name) for name in FRAME_FIELDS if getattr(self, name) is not None)
            frame_drop = drop[:, None].expand(frames.shape[:2])
        changes = dict(y=_null_labels(self.y, drop, num_classes),
                       frame_y=_null_labels(self.frame_y, frame_drop, num_classes))
        for prefix, where in (("", drop), ("frame_", frame_drop)):
            for name, key in TEXT_FIELDS.items():
                value = getattr(self, prefix + name)
                if value is not None:
                    changes[prefix + name] = _null_text(value, key, where, null_text)
        return self.replace(**changes)

    def concat(self, other: "Conditions") -> "Conditions":
        """``self`` and ``other`` in one batch (``self`` first), as guidance runs a condition and its null."""
        out = {}
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if (a is None) != (b is None):
                raise ValueError(f"Conditions.concat: {f.name} is given in one half only "
                                 f"({'first' if b is None else 'second'})")
            out[f.name] = None if a is None else torch.cat([a, b], dim=0)
        return Conditions(**out)

    # --------------------------------------------------------------------------- joint image–video training
    def image_frames(self, backbone: Any, t: Tensor) -> ImageFrames | None:
        """The image frames' own conditions for a :class:`~walt.models.backbones.denoiser.LatentDenoiser` at
        timesteps ``t`` (``None`` without per-frame inputs or without image frames; see ``image_frames.py``).
        ValueErrors name the input and shape at fault."""
        given = {name: getattr(self, name) for name in FRAME_FIELDS if getattr(self, name) is not None}
        if not given:
            return None
        name, image_mask = type(backbone).__name__, self.image_mask
        if image_mask is None:
            raise ValueError(f"{name}: per-frame conditions ({', '.join(given)}) need image_mask (B, T)")
        b, frames = image_mask.shape
        text_dim, text_inputs = backbone.text_dim, backbone.text_inputs
        usable = dict(frame_y=backbone.y_embedder is not None, frame_text="tokens" in text_inputs,
                      frame_text_mask="tokens" in text_inputs, frame_text_pooled="pooled" in text_inputs)
        length = self.text.shape[1] if self.text is not None else None  # one caption length for clips and images
        if length is None and self.frame_text is not None and self.frame_text.dim() == 4:
            length = self.frame_text.shape[2]
        expected = dict(frame_y=(b, frames), frame_text=(b, frames, length, text_dim),
                        frame_text_mask=(b, frames, length), frame_text_pooled=(b, frames, text_dim))
        for key, value in given.items():
            if not usable[key]:
                raise ValueError(f"{name}: {key} given, but this backbone does not read that condition "
                                 f"(num_classes={backbone.num_classes}, text inputs {text_inputs})")
            shape = expected[key]
            if value.dim() != len(shape) or any(s is not None and v != s for v, s in zip(value.shape, shape)):
                raise ValueError(f"{name}: {key} must have shape {tuple('L' if s is None else s for s in shape)} "
                                 f"(one entry per latent frame of image_mask), got {tuple(value.shape)}")
        if self.frame_text_mask is not None and self.frame_text is None:
            raise ValueError(f"{name}: frame_text_mask given without frame_text")
        if not bool(image_mask.any()):
            return None
        sample = image_mask.nonzero()[:, 0]

        def rows(own: Tensor | None, of_sample: Tensor | None) -> Tensor | None:
            return own[image_mask] if own is not None else (None if of_sample is None else of_sample[sample])

        c = None  # an image frame's c + t differs from its sample's only by its own class or pooled text
        if self.frame_y is not None or self.frame_text_pooled is not None:
            c = backbone.condition(t[sample], rows(self.frame_y, self.y),
                                   rows(self.frame_text_pooled, self.text_pooled), rows(None, self.t_sr))
        text = None if self.frame_text is None else self.frame_text[image_mask]
        text_mask = None
        if text is not None:
            text_mask = (self.frame_text_mask[image_mask].bool() if self.frame_text_mask is not None
                         else torch.ones(text.shape[:2], dtype=torch.bool, device=text.device))
        return ImageFrames(image_mask, c, text, text_mask)


def _null_labels(y: Tensor | None, drop: Tensor | None, num_classes: int | None) -> Tensor | None:
    return y if y is None else torch.where(drop, torch.full_like(y, num_classes), y)


def _null_text(value: Tensor, key: str, drop: Tensor, null_text: dict[str, Tensor] | None) -> Tensor:
    """One text entry (``key`` of ``tokens`` / ``mask`` / ``pooled``; ``drop`` its leading dims) where ``drop`` is
    True: ``null_text``'s tokens / pooled vector under the prompt's own mask, or zeros and an all-False mask."""
    if null_text is not None:
        return value if key == "mask" else torch.where(_trailing(drop, value), null_text[key].to(value), value)
    keep = _trailing(~drop, value)
    return value & keep if key == "mask" else value * keep.to(value.dtype)


def _trailing(keep: Tensor, value: Tensor) -> Tensor:
    """``keep`` viewed with singleton dims to broadcast against ``value``."""
    return keep.view(*keep.shape, *([1] * (value.dim() - keep.dim())))
