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
    ``TORCHINDUCTOR_CACHE_DIR`` names another directory than the default (the user's choice); returns the directory
    in use. Torch itself writes the default into the variable the first time it asks for its cache (some imports
    do), so the default there is not taken as a choice."""
    import torch
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    default = default_cache_dir()
    if os.path.abspath(os.environ.get(CACHE_ENV, default)) == os.path.abspath(default):
        os.environ[CACHE_ENV] = f"{default}_{torch.backends.cpu.get_cpu_capability()}"
    return os.environ[CACHE_ENV]
