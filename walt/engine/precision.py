"""Mixed precision: bf16 autocast with fp32 master weights where the hardware has native bf16 matmuls (CUDA
``is_bf16_supported``, or a CPU with AVX512-BF16 / AMX that no ISA cap hides: ``walt.utils.hardware``), fp16 autocast
with a ``GradScaler`` on CUDA, else fp32."""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import ContextManager

import torch

from walt.utils import hardware

__all__ = ["Precision", "resolve_precision", "cpu_has_native_bf16"]


def cpu_has_native_bf16() -> bool:
    """True when the CPU multiplies bf16 in hardware (``avx512_bf16`` or ``amx_bf16``) and no ISA cap of the
    environment (``scripts/avx2_env.sh``: AVX2 emulation) hides it."""
    return hardware.cpu_info().native_bf16


@dataclass
class Precision:
    """The precision actually used: ``name`` in ``bf16``/``fp16``/``fp32``, the autocast dtype and the scaler."""

    name: str
    device: torch.device
    scaler: torch.amp.GradScaler | None

    @property
    def dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.name)

    def autocast(self) -> ContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.dtype)


def resolve_precision(requested: str, device: torch.device) -> Precision:
    """The best precision ``device`` supports at or above ``requested``; warns when falling back to fp32."""
    if requested not in ("bf16", "fp16", "fp32"):
        raise ValueError(f"precision must be 'bf16', 'fp16' or 'fp32', got {requested!r}")
    cuda = device.type == "cuda"
    if requested == "bf16" and not (torch.cuda.is_bf16_supported() if cuda else cpu_has_native_bf16()):
        where = hardware.describe(str(device)).split(";")[0]
        warnings.warn(f"precision='bf16' but {device} has no native bf16 matmuls ({where}); using fp32")
        requested = "fp32"
    if requested == "fp16" and not cuda:
        warnings.warn("precision='fp16' needs CUDA (loss scaling); training in fp32")
        requested = "fp32"
    scaler = torch.amp.GradScaler("cuda") if requested == "fp16" else None
    return Precision(requested, device, scaler)
