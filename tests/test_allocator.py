"""walt.utils.allocator: a walt tool's process keeps the memory glibc frees, so the next block's tensors are not
page-faulted in again; nothing changes where the user configured the allocator."""
import os
import platform
import subprocess
import sys

import pytest

from walt.utils.allocator import keep_freed_memory, user_configured

# a 24 MB tensor made and freed, then a 20 MB one: the page faults of the second (smaller, so that it fits where the
# first was: PyTorch's 64-byte-aligned request for the same size again can exceed a freed block of that size)
WORKLOAD = """
import resource, sys, torch
from walt.utils.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "keep" else None
torch.ones(6 << 20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
torch.ones(5 << 20)
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str, env: dict) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", WORKLOAD, mode], capture_output=True, text=True, env=env, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_freed_memory_is_reused_without_page_faults():
    env = {k: v for k, v in os.environ.items() if k not in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_",
                                                            "WALT_KEEP_FREED_MEMORY", "LD_PRELOAD")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    applied, kept = _faults("keep", env)
    assert applied == "True" and kept < 100  # the freed 24 MB stayed in the heap
    if platform.libc_ver()[1] == "2.36":  # where it was measured: glibc alone gave them back (5,107 faults)
        assert _faults("default", env)[1] > 1000
    assert _faults("keep", dict(env, WALT_KEEP_FREED_MEMORY="0"))[0] == "False"


def test_a_configured_allocator_is_left_alone(monkeypatch):
    for key in ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD",
                "WALT_KEEP_FREED_MEMORY"):
        monkeypatch.delenv(key, raising=False)
    assert user_configured() is None
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    assert user_configured() == "GLIBC_TUNABLES" and keep_freed_memory() is False
    monkeypatch.delenv("GLIBC_TUNABLES")
    monkeypatch.setenv("LD_PRELOAD", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2")
    assert user_configured() == "LD_PRELOAD" and keep_freed_memory() is False
    monkeypatch.delenv("LD_PRELOAD")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "0")
    assert user_configured() == "MALLOC_TRIM_THRESHOLD_"
