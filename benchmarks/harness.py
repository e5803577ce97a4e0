"""What every benchmark in this folder shares: the hardware line, the precisions the hardware runs natively (through
the engine's precision resolution, never an unchecked bf16 autocast), interleaved timing, peak memory, and running a
measurement in a child process of its own (so that its peak RSS is its own).

Imported by the scripts next to it (``python benchmarks/X.py`` puts this folder on ``sys.path``).
"""
from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
import weakref
from typing import Callable, Sequence

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from walt.engine.precision import Precision, resolve_precision
from walt.utils.hardware import describe, native_bf16

PRECISIONS = ("fp32", "bf16")


def print_hardware(device: str = "cpu") -> str:
    """Print the one-line hardware description (CPU model and ISA flags, or the GPU) with the 1-minute load average
    (other processes on the cores distort timings), and return the description."""
    line = describe(device)
    print(f"{line}; load average {os.getloadavg()[0]:.2f}", flush=True)
    return line


def precisions(requested: Sequence[str] | None = None, device: str = "cpu") -> list[Precision]:
    """The precisions to measure: each of ``requested`` as the engine resolves it on ``device`` (bf16 without bf16
    hardware becomes fp32, said once on stdout), duplicates dropped; by default every precision ``device`` runs
    natively (fp32, and bf16 where the hardware has it)."""
    names = list(requested) if requested else ["fp32"] + (["bf16"] if native_bf16(device) else [])
    out: list[Precision] = []
    for name in names:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            resolved = resolve_precision(name, torch.device(device))
        if resolved.name != name:
            print(f"precision {name}: no native {name} on this hardware, measuring {resolved.name} instead")
        if all(p.name != resolved.name for p in out):
            out.append(resolved)
    return out


def cpu_precision(name: str) -> Precision:
    """The engine's :class:`Precision` for ``name`` on the CPU (a child process re-resolves what its parent chose)."""
    return resolve_precision(name, torch.device("cpu"))


def interleaved_medians(steps: dict[str, Callable[[], object]], iters: int, warmup: int = 1) -> dict[str, float]:
    """Median seconds of each ``steps[name]()`` over ``iters`` interleaved rounds (A, B, A, B, ...) after ``warmup``
    untimed rounds, so that load from other processes hits every contender alike."""
    times: dict[str, list[float]] = {name: [] for name in steps}
    for round_ in range(warmup + iters):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            if round_ >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: median(ts) for name, ts in times.items()}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def round_order(names: Sequence[str], k: int) -> list[str]:
    """The order of ``names`` in round ``k``: reversed every other round (A B, B A, ...), so that a linear drift of
    the machine's speed cancels."""
    return list(names)[::-1] if k % 2 else list(names)


def round_ratios(reference: Sequence[float], times: Sequence[float]) -> list[float]:
    """``reference / times`` round by round: each round's speed-up, taken in one state of the machine."""
    return [r / t for r, t in zip(reference, times)]


def median_ratio(reference: Sequence[float], times: Sequence[float]) -> float:
    """The median over rounds of each round's speed-up (:func:`round_ratios`)."""
    return median(round_ratios(reference, times))


def status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in MiB."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith(field + ":"))
    return int(line.split()[1]) / 1024


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS mark (``VmHWM``) to the current RSS and return that RSS in MiB."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status_mib("VmRSS")


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``ru_maxrss``) in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(script: str, args: Sequence[str]) -> dict:
    """Run ``python script *args`` and return the JSON object on the last line of its stdout; its stderr is shown
    and the benchmark stops with one ``error:`` line when it fails."""
    proc = subprocess.run([sys.executable, script, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"error: {script} {' '.join(args)} exited with {proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class PeakTensorMemory(TorchDispatchMode):
    """Peak bytes of the tensors the ops inside the ``with`` block create and keep alive at once (the activations;
    inputs and weights made before are not counted). Deterministic, unlike peak RSS, which the allocator's page reuse
    moves by tens of MiB between identical runs here, and it works on the meta device (the released sizes)."""

    def __init__(self):
        super().__init__()
        self.live, self.peak, self.refs = 0, 0, {}

    def _release(self, key: int, nbytes: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.live -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        # the storage's own address (_cdata), not its data pointer: meta tensors have none
        inputs = {a.untyped_storage()._cdata for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)}
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes():
                key, nbytes = t.untyped_storage()._cdata, t.untyped_storage().nbytes()
                if key not in self.refs and key in inputs:
                    continue  # a view of (or an in-place op on) a tensor made before: no new memory
                if key not in self.refs:
                    self.refs[key] = 0
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                self.refs[key] += 1
                weakref.finalize(t, self._release, key, nbytes)
        return out


def peak_mib(fn: Callable[[], object]) -> float:
    """Peak live activation memory of ``fn()`` in MiB (:class:`PeakTensorMemory`)."""
    with PeakTensorMemory() as mode:
        fn()
    return mode.peak / 2 ** 20
