"""Pixels as each protocol's public code makes them: the frame conversion of ``convert_videos_to_frames.py``
(PIL Lanczos resize and center crop, written as JPEG and read back) done in memory, and the conversion of
generated samples in ``[-1, 1]`` to uint8.

* StyleGAN-V ``src/scripts/convert_videos_to_frames.py`` L72-76: ``TVF.resize(frame, size=target_size,
  interpolation=Image.LANCZOS)`` (shorter side to ``target_size``), then ``TVF.center_crop`` to a square, then
  ``frame.save(..., q=95)``. PIL reads only ``quality``: ``q=95`` is ignored and the file is written at PIL's
  default JPEG quality 75 (4:2:0 chroma subsampling), which is what the metric code reads back.
* Latte ``tools/convert_videos_to_frames.py`` L73-80: center crop to the shorter side first, then the same resize
  and the same ``save(..., q=95)``.
* Generated samples: StyleGAN-V ``src/metrics/metric_utils.py`` L285 ``(x·127.5 + 128).clamp(0, 255)`` truncated;
  ADM ``scripts/image_sample.py`` L60 ``((x + 1)·127.5).clamp(0, 255)`` truncated; Latte ``sample/sample_ddp.py``
  L172 ``((x·0.5 + 0.5)·255 + 0.5).clamp(0, 255)`` truncated (rounded).
"""
from __future__ import annotations

import io

import numpy as np
import torch
import torchvision.transforms.functional as TVF
from PIL import Image
from torch import Tensor

JPEG_QUALITY = 75  # what PIL writes for frame.save("x.jpg", q=95): the q keyword is not a PIL option
CONVERT_ORDERS = ("resize-crop", "crop-resize")  # StyleGAN-V's converter, Latte's converter
RESAMPLE = {"lanczos": TVF.InterpolationMode.LANCZOS, "bicubic": TVF.InterpolationMode.BICUBIC,
            "bilinear": TVF.InterpolationMode.BILINEAR}  # both converters: Lanczos; the others measure deviations


def jpeg_round_trip(image: Image.Image) -> np.ndarray:
    """``image.save(f.jpg)`` with PIL's defaults, read back as uint8 ``(H, W, 3)``."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return np.array(decoded.convert("RGB"))


def convert_frame(frame: np.ndarray, size: int | None, order: str = "resize-crop", jpeg: bool = True,
                  resample: str = "lanczos") -> np.ndarray:
    """One decoded RGB frame ``(H, W, 3)`` uint8 as the converter script writes it: resized (PIL ``resample``,
    Lanczos in both scripts) and center-cropped to ``size²`` in ``order`` (``size=None``: kept as is), then
    JPEG-coded at quality 75 and decoded (``jpeg=False``: lossless)."""
    if order not in CONVERT_ORDERS:
        raise ValueError(f"frame conversion order must be one of {CONVERT_ORDERS}, got {order!r}")
    if resample not in RESAMPLE:
        raise ValueError(f"resize filter must be one of {sorted(RESAMPLE)}, got {resample!r}")
    image = Image.fromarray(np.ascontiguousarray(frame))
    if size is not None:
        if order == "crop-resize":
            short = min(image.size)
            image = TVF.center_crop(image, output_size=(short, short))
        image = TVF.resize(image, size=size, interpolation=RESAMPLE[resample])
        image = TVF.center_crop(image, output_size=(size, size))
    return jpeg_round_trip(image) if jpeg else np.array(image)


def convert_frames(frames: np.ndarray, size: int | None, order: str = "resize-crop", jpeg: bool = True,
                   resample: str = "lanczos") -> Tensor:
    """Decoded frames ``(T, H, W, 3)`` → converted uint8 clip ``(3, T, size, size)``."""
    out = np.stack([convert_frame(f, size, order, jpeg, resample) for f in frames])
    return torch.from_numpy(out).permute(3, 0, 1, 2).contiguous()


def generated_to_uint8(x: Tensor, rule: str) -> Tensor:
    """Generated pixels in ``[-1, 1]`` → uint8 by ``rule``: ``"stylegan"`` ``(x·127.5 + 128)``, ``"adm"``
    ``(x + 1)·127.5``, ``"round"`` ``(x·0.5 + 0.5)·255 + 0.5``; each clamped to ``[0, 255]`` and truncated."""
    x = x.float()
    if rule == "stylegan":
        y = x * 127.5 + 128
    elif rule == "adm":
        y = (x + 1) * 127.5
    elif rule == "round":
        y = (x * 0.5 + 0.5) * 255 + 0.5
    else:
        raise ValueError(f"unknown uint8 rule {rule!r}; known: stylegan, adm, round")
    return y.clamp(0, 255).to(torch.uint8)
