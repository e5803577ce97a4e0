"""What this process computes on: the CPU model and its vector ISA flags, or the CUDA device; whether it has native
bf16 matrix multiplies; and a one-line description that every benchmark, the demo and the trainer print.

Native bf16 on a CPU means ``avx512_bf16`` or ``amx_bf16`` in ``/proc/cpuinfo``; without them PyTorch emulates bf16
matmuls about 400× slower than fp32 (docs/benchmarks.md). An AVX2-only CPU can be emulated on a newer one with
``source scripts/avx2_env.sh``: ``ATEN_CPU_CAPABILITY=avx2`` (ATen's kernels), ``MKL_ENABLE_INSTRUCTIONS=AVX2``,
``ONEDNN_MAX_CPU_ISA=AVX2`` (the matmul libraries) and ``WALT_CPU_ISA=avx2`` (this module). Any of
``WALT_CPU_ISA``, ``ATEN_CPU_CAPABILITY`` or ``ONEDNN_MAX_CPU_ISA`` capping the ISA below AVX-512 BF16 makes this
module report the capped ISA and no native bf16, because that is what the kernels then run.

Imports nothing of walt and nothing heavy at import time (torch only inside the functions that need it).
"""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping

# The flags the benchmarks report, lowest to highest; the bf16 ones are the native-bf16 matmul instructions.
ISA_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
# The flags each ISA cap leaves (ATen capability names; oneDNN names map onto them in ``_onednn_cap``).
_CAPS = {"default": frozenset(), "avx2": frozenset({"avx2"}), "avx512": frozenset({"avx2", "avx512f"}),
         "avx512_bf16": frozenset({"avx2", "avx512f", "avx512_bf16"}), "amx": frozenset(ISA_FLAGS)}


@dataclass(frozen=True)
class CpuInfo:
    """A CPU as the kernels see it: ``model`` name, ``flags`` (the :data:`ISA_FLAGS` it has, after any cap) and
    ``cap``, ``(ISA, the variable that set it)`` when the environment capped the ISA (None when nothing did)."""

    model: str
    flags: frozenset[str]
    cap: tuple[str, str] | None = None

    @property
    def native_bf16(self) -> bool:
        return bool(self.flags & BF16_FLAGS)

    def describe(self) -> str:
        flags = " ".join(f for f in ISA_FLAGS if f in self.flags) or "none of " + "/".join(ISA_FLAGS)
        emulated = f" ({self.cap[0]} emulated: {self.cap[1]})" if self.cap else ""
        bf16 = "native bf16" if self.native_bf16 else "no native bf16"
        return f"CPU {self.model} ({os.cpu_count()} cores), flags {flags}{emulated}, {bf16}"


def parse_cpuinfo(text: str) -> tuple[str, frozenset[str]]:
    """``(model name, ISA flags)`` from the text of ``/proc/cpuinfo`` (the first processor's entries)."""
    model, flags = "unknown", frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model == "unknown":
            model = value.strip()
        elif key == "flags" and not flags:
            flags = frozenset(value.split()) & frozenset(ISA_FLAGS)
    return model, flags


def _onednn_cap(value: str) -> str | None:
    """The :data:`_CAPS` key of a ``ONEDNN_MAX_CPU_ISA`` value (None: no cap, e.g. ``ALL``)."""
    v = value.strip().upper()
    if v in ("", "ALL", "DEFAULT"):
        return None
    if "AMX" in v:
        return "amx"
    if "BF16" in v or "FP16" in v or v.startswith("AVX10"):
        return "avx512_bf16"
    if v.startswith("AVX512"):
        return "avx512"
    if v.startswith("AVX2"):
        return "avx2"
    return "default"  # SSE41, AVX: below anything the benchmarks report


def isa_cap(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(cap, which variable)`` when the environment caps the ISA: ``WALT_CPU_ISA`` (an :data:`_CAPS` key), else the
    lowest of ``ATEN_CPU_CAPABILITY`` and ``ONEDNN_MAX_CPU_ISA``; None when none is set."""
    env = os.environ if env is None else env
    override = env.get("WALT_CPU_ISA", "").strip().lower()
    if override:
        if override not in _CAPS:
            raise ValueError(f"WALT_CPU_ISA={override!r}: expected one of {', '.join(_CAPS)}")
        return override, f"WALT_CPU_ISA={override}"
    found = []
    aten = env.get("ATEN_CPU_CAPABILITY", "").strip().lower()
    if aten in ("default", "avx2", "avx512"):
        found.append((aten, f"ATEN_CPU_CAPABILITY={aten}"))
    onednn = _onednn_cap(env.get("ONEDNN_MAX_CPU_ISA", ""))
    if onednn is not None:
        found.append((onednn, f"ONEDNN_MAX_CPU_ISA={env['ONEDNN_MAX_CPU_ISA']}"))
    order = list(_CAPS)
    return min(found, key=lambda f: order.index(f[0])) if found else None


@lru_cache(maxsize=1)
def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""


def cpu_info(cpuinfo_text: str | None = None, env: Mapping[str, str] | None = None) -> CpuInfo:
    """This machine's CPU (or the one ``cpuinfo_text`` describes) under the ISA cap of ``env`` (default: ours)."""
    model, flags = parse_cpuinfo(_read_cpuinfo() if cpuinfo_text is None else cpuinfo_text)
    if model == "unknown":
        model = platform.processor() or platform.machine() or "unknown"
    cap = isa_cap(env)
    if cap is None:
        return CpuInfo(model, flags)
    return CpuInfo(model, flags & _CAPS[cap[0]], cap)


def native_bf16(device: str = "cpu") -> bool:
    """Whether ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:1"``) multiplies bf16 matrices in hardware."""
    if device.startswith("cuda"):
        import torch

        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    return cpu_info().native_bf16


def describe(device: str = "cpu") -> str:
    """One line naming the hardware, its native bf16, torch's version and thread count, e.g.
    ``CPU AMD EPYC (2 cores), flags avx2 avx512f avx512_bf16, native bf16; torch 2.14.1, 2 threads``."""
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        bf16 = "native bf16" if native_bf16(device) else "no native bf16"
        hw = f"GPU {torch.cuda.get_device_name(index)}, {bf16}"
    else:
        hw = cpu_info().describe()
    return f"{hw}; torch {torch.__version__}, {torch.get_num_threads()} threads"
