"""Keep the memory the C allocator frees, for the process of a walt tool (train, sample, eval).

PyTorch's CPU tensors come from ``malloc``. glibc returns the top of its heap to the kernel whenever more than its
trim threshold lies free there (a dynamic threshold that settles at ≤ 64 MB) and maps every block over 32 MB afresh,
so a model whose activations are tens of MB gives its memory back after each block or step and page-faults it in
again at the next: ≈ 580,000 faults per guided forward of a LAVITA-S/2 (16×32×32 latents) on this project's CPU,
0.5–2 s of a 3.5–5.8 s forward, and 6,000 faults per step of the CPU demo's training. With the trim threshold at
1 GiB the freed memory stays in the heap for the next block (what PyTorch's caching allocator does on a GPU): no
faults after the first forward, the same peak memory (the heap never holds more than the peak it reached).

:func:`keep_freed_memory` sets glibc's trim threshold (1 GiB) and, since that stops glibc's dynamic thresholds, its
mmap threshold at the value they settle at (32 MB). It leaves the allocator alone where the process is not on
glibc, where the user configured the allocator (``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_MMAP_THRESHOLD_``, a
``glibc.malloc`` tunable, or jemalloc / tcmalloc preloaded), or with ``WALT_KEEP_FREED_MEMORY=0``.
Numbers: docs/benchmarks.md "Sampling".
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
TRIM_THRESHOLD = 1 << 30
MMAP_THRESHOLD = 32 << 20  # glibc's largest dynamic mmap threshold on 64-bit (DEFAULT_MMAP_THRESHOLD_MAX)


def user_configured() -> str | None:
    """What configures the allocator already, if anything (the module docstring's list)."""
    for key in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_"):
        if key in os.environ:
            return key
    if "glibc.malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        return "GLIBC_TUNABLES"
    if any(name in os.environ.get("LD_PRELOAD", "") for name in ("jemalloc", "tcmalloc")):
        return "LD_PRELOAD"
    if os.environ.get("WALT_KEEP_FREED_MEMORY", "1") == "0":
        return "WALT_KEEP_FREED_MEMORY=0"
    return None


def keep_freed_memory() -> bool:
    """Apply the setting of the module docstring; True when it was applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or user_configured():
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
