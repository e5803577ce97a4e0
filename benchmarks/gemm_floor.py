"""The GEMM floor of a training step: its matrix multiplications alone, timed at this CPU's rate.

Every implementation of the same model does at least these multiplications (the linears forward and backward, the
attention's ``Q Kᵀ`` and ``P V`` and their backward), so no implementation can take less time than their sum on the
same machine: ``peer time / floor`` is the largest speed-up over a peer that any rewrite of the same math could
show, and ``(peer − ours) / (peer − floor)`` is how much of that room an implementation has taken.

How: one forward + backward of the step runs under a :class:`~torch.utils._python_dispatch.TorchDispatchMode` that
records every ``mm`` / ``addmm`` / ``bmm`` / ``baddbmm`` (shapes, dtype, which operands are transposed) and every CPU
SDPA call (as the two batched GEMMs of its forward and the four of its backward, the fewest an attention needs).
The recorded GEMMs are then replayed on fresh tensors of the same layouts, back to back, and the fastest of
``repeats`` replays is the floor. Element-wise work, reductions, copies, the optimizer and page faults are not in
it — that is what an implementation can still remove.

Example::

    python benchmarks/gemm_floor.py --model lavita          # LAVITA-S/2 step of train_step.py
    python benchmarks/gemm_floor.py --model walt --precision fp32
    source scripts/avx2_env.sh && python benchmarks/gemm_floor.py
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor
from torch.utils._python_dispatch import TorchDispatchMode

import harness

aten = torch.ops.aten
_MATMULS = {aten.mm.default, aten.addmm.default, aten.bmm.default, aten.baddbmm.default}
_SDPA_FORWARD = aten._scaled_dot_product_flash_attention_for_cpu.default  # the math fallback arrives as bmm's
_SDPA_BACKWARD = aten._scaled_dot_product_flash_attention_for_cpu_backward.default


@dataclass(frozen=True)
class Gemm:
    """One (batched) matrix multiplication ``(batch, m, k) @ (batch, k, n)``; ``*_t``: the operand is the transpose
    of a contiguous tensor (as a linear's weight is)."""

    batch: int
    m: int
    k: int
    n: int
    a_t: bool
    b_t: bool
    dtype: torch.dtype

    @property
    def flops(self) -> int:
        return 2 * self.batch * self.m * self.k * self.n


def _transposed(t: Tensor) -> bool:
    return t.dim() >= 2 and t.stride(-1) != 1 and t.stride(-2) == 1


def _attention_gemms(q: Tensor, k: Tensor, backward: bool) -> list[Gemm]:
    """SDPA on ``(B, heads, L, d)`` q and ``(B, heads, S, d)`` k/v as batched GEMMs: ``Q Kᵀ`` and ``P V`` forward;
    ``dV = Pᵀ dO``, ``dP = dO Vᵀ``, ``dQ = dS K``, ``dK = dSᵀ Q`` backward."""
    *lead, length, d = q.shape
    source, batch = k.shape[-2], math.prod(lead)
    g = lambda m, kk, n: Gemm(batch, m, kk, n, False, False, q.dtype)  # noqa: E731
    if not backward:
        return [g(length, d, source), g(length, source, d)]
    return [g(source, length, d), g(length, d, source), g(length, source, d), g(source, length, d)]


class GemmRecorder(TorchDispatchMode):
    """Records the GEMMs of everything run under it (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.gemms: list[Gemm] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _MATMULS:
            a, b = (args[1], args[2]) if func in (aten.addmm.default, aten.baddbmm.default) else (args[0], args[1])
            batch = a.shape[0] if a.dim() == 3 else 1
            self.gemms.append(Gemm(batch, a.shape[-2], a.shape[-1], b.shape[-1], _transposed(a), _transposed(b),
                                   a.dtype))
        elif func is _SDPA_FORWARD:
            self.gemms += _attention_gemms(args[0], args[1], backward=False)
        elif func is _SDPA_BACKWARD:
            self.gemms += _attention_gemms(args[1], args[2], backward=True)
        return func(*args, **kwargs)


def record_gemms(step: Callable[[], object]) -> list[Gemm]:
    """The GEMMs ``step()`` (a forward + backward) runs."""
    recorder = GemmRecorder()
    with recorder:
        step()
    return recorder.gemms


def _operand(batch: int, rows: int, cols: int, transposed: bool, dtype: torch.dtype) -> Tensor:
    shape = (batch, cols, rows) if transposed else (batch, rows, cols)
    t = torch.randn(shape, dtype=dtype)
    return t.transpose(-1, -2) if transposed else t


class Replay:
    """``gemms`` on fresh tensors of their layouts, made once; each call runs them back to back and returns the
    seconds it took (a contender of its own in a benchmark's interleaved rounds)."""

    def __init__(self, gemms: list[Gemm]):
        operands = {}
        for g in set(gemms):
            operands[g] = (_operand(g.batch, g.m, g.k, g.a_t, g.dtype), _operand(g.batch, g.k, g.n, g.b_t, g.dtype),
                           torch.empty(g.batch, g.m, g.n, dtype=g.dtype))
        self.calls = [operands[g] for g in gemms]

    def __call__(self) -> float:
        start = time.perf_counter()
        for a, b, out in self.calls:
            if a.shape[0] > 1:
                torch.bmm(a, b, out=out)
            else:
                torch.mm(a[0], b[0], out=out[0])
        return time.perf_counter() - start


def replay_seconds(gemms: list[Gemm], repeats: int = 3) -> float:
    """Seconds to run ``gemms`` back to back on fresh tensors of their layouts (fastest of ``repeats``)."""
    replay = Replay(gemms)
    replay()  # the first replay warms the kernels and the pages
    return min(replay() for _ in range(repeats))


def floor(step: Callable[[], object], repeats: int = 3) -> dict[str, float]:
    """``seconds`` (the GEMM floor of ``step``), ``gflop`` and the replay's ``gflops`` rate."""
    gemms = record_gemms(step)
    seconds = replay_seconds(gemms, repeats)
    gflop = sum(g.flops for g in gemms) / 1e9
    return dict(seconds=seconds, gflop=gflop, gflops=gflop / seconds, gemms=len(gemms))


def main(argv: list[str] | None = None) -> list[dict]:
    import train_step  # the steps whose floor is measured (train_step imports this module at its top)

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Example::")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", choices=tuple(train_step.CONTENDERS), default=list(train_step.CONTENDERS))
    parser.add_argument("--precision", nargs="+", choices=harness.PRECISIONS, default=None,
                        help="default: every precision this hardware runs natively")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    harness.print_hardware()
    results = []
    for model in args.model:
        for prec in harness.precisions(args.precision):
            r = dict(model=model, precision=prec.name, **train_step.walt_step_floor(model, prec.name, args.repeats))
            print(f"gemm_floor: {model} {prec.name}: {r['seconds']:.2f} s/step ({r['gemms']} GEMMs, "
                  f"{r['gflop']:.0f} GFLOP at {r['gflops']:.0f} GFLOP/s)", flush=True)
            results.append(r)
    return results


if __name__ == "__main__":
    main()
