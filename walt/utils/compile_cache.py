"""torch.compile's on-disk cache, kept apart per CPU vector ISA.

Inductor caches compiled graphs (its FX-graph and AOTAutograd caches) under ``TORCHINDUCTOR_CACHE_DIR``, by default
one ``/tmp/torchinductor_<user>`` for every process. Their keys do not cover the vector ISA ATen runs with
(``ATEN_CPU_CAPABILITY``, set by ``scripts/avx2_env.sh``): with torch 2.14.1 a LAVITA training step compiled under
``avx2`` and then loaded from the cache in a native AVX-512 process aborted with ``malloc(): unaligned tcache chunk
detected``; with a cache of its own, or with those two caches off, the same native step ran (docs/benchmarks.md).
So walt compiles into a directory per ISA.

Imports nothing of walt.
"""
from __future__ import annotations

import os

CACHE_ENV = "TORCHINDUCTOR_CACHE_DIR"


def use_isa_cache_dir() -> str:
    """Point inductor's cache at ``<default>_<ISA>`` (e.g. ``/tmp/torchinductor_root_AVX2``) unless
    ``TORCHINDUCTOR_CACHE_DIR`` is already set (by the user, or by an earlier compile of this process, whose ISA is
    this one); returns the directory in use."""
    if CACHE_ENV not in os.environ:
        import torch
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir

        os.environ[CACHE_ENV] = f"{default_cache_dir()}_{torch.backends.cpu.get_cpu_capability()}"
    return os.environ[CACHE_ENV]
