"""Benchmark: W.A.L.T spatiotemporal window attention vs full attention (W.A.L.T §4.2, Table 3b).

Part 1 — one W.A.L.T-L transformer block (d = 1024, 16 heads, MLP 4d, AdaLN modulation, qk-norm, relative
position bias), forward + backward at the UCF-101 latent grid (5×16×16 tokens, batch 2): STW 5×8×8 vs full
attention. Times are interleaved (STW, full, STW, full, ...) in one process so that load from other users of a
shared machine hits both alike; the ratio of medians is reported. Peak memory is measured in a fresh subprocess
per setting: the kernel's peak-RSS mark (``VmHWM``) is reset (``/proc/self/clear_refs``) just before one forward +
backward, and the peak above the RSS at that moment is reported.

Part 2 — the attention layer alone (no relative position bias: a full-attention bias at 40 frames would be a
16×10240×10240 tensor), forward in inference mode, batch 1, vs the number of latent frames (5, 10, 20, 40): window
attention cost grows linearly with the frames, full attention quadratically.

Precisions: by default every one the hardware runs natively (fp32, plus bf16 autocast where the CPU has bf16
hardware), resolved by the engine; the scaling part runs in the fastest of them. Goal (W.A.L.T Table 3b: 2.00 vs
1.20 steps/s = 1.67×): STW ≥ 1.7× faster than full attention in fp32. Each block's GEMM floor (``gemm_floor.py``:
its matmuls alone at this CPU's rate) bounds the ratio any STW implementation could reach against this full attention.

Example::

    python benchmarks/window_attention.py                      # native precisions, ~1-2 min on 2 cores
    python benchmarks/window_attention.py --precision fp32 --frames 5 10 --iters 2
    python benchmarks/window_attention.py --precision fp32 --compile   # both blocks torch.compile'd
    source scripts/avx2_env.sh && python benchmarks/window_attention.py   # as on an AVX2-only CPU
"""
from __future__ import annotations

import argparse
import os
import time

import torch

import gemm_floor
import harness
from registry import ATTENTIONS
from walt.models.blocks.transformer_block import TransformerBlock
from walt.models.grid import Grid
from walt.utils.compile_cache import use_isa_cache_dir

DIM, HEADS = 1024, 16
ATTN = {
    "stw": dict(type="SpatiotemporalWindowAttention", window=(5, 8, 8)),
    "full": dict(type="FullAttention"),
}


def block_step(kind: str, dtype: str, batch: int, compile_: bool = False):
    """A closure running one W.A.L.T-L block forward + backward with ``kind`` self-attention (``torch.compile``\ d
    as by the backbones' ``compile=True`` when ``compile_``)."""
    grid = Grid(5, 16, 16)
    attn = dict(ATTN[kind], input_grid=tuple(grid))
    block = TransformerBlock(DIM, HEADS, attention=attn)
    if compile_:
        use_isa_cache_dir()
        block.compile()
    x = torch.randn(batch, grid.numel, DIM, requires_grad=True)
    mod = 0.1 * torch.randn(batch, 6, DIM)

    prec = harness.cpu_precision(dtype)

    def step():
        block.zero_grad(set_to_none=True)
        with prec.autocast():
            out = block(x, grid, mod)
        out.float().square().mean().backward()

    return step


def block_peak_child(kind: str, dtype: str, batch: int, compile_: bool = False) -> float:
    """Peak RSS (MiB) of one block forward + backward above the RSS before it, in this fresh process (after a
    compiling step when ``compile_``)."""
    step = block_step(kind, dtype, batch, compile_)
    if compile_:
        step()
    base = harness.reset_peak_rss()
    step()
    return harness.status_mib("VmHWM") - base


def attention_forward(kind: str, frames: int, dtype: str):
    """A closure running the attention layer forward (inference mode) on ``frames × 16 × 16`` tokens, batch 1."""
    grid = Grid(frames, 16, 16)
    attn = ATTENTIONS.build(dict(ATTN[kind], dim=DIM, num_heads=HEADS, rel_pos_bias=False))
    x = torch.randn(1, grid.numel, DIM)
    prec = harness.cpu_precision(dtype)

    def step():
        with torch.inference_mode(), prec.autocast():
            attn(x, grid)

    return step


def attention_scaling(frames: list[int], dtype: str) -> list[dict]:
    """Forward seconds of the attention layer per number of latent frames: one warm-up at the smallest size per
    kind, then one timed run per size (the big full-attention runs dominate the benchmark's run time)."""
    rows = []
    for kind in ATTN:
        attention_forward(kind, frames[0], dtype)()
        for t in frames:
            step = attention_forward(kind, t, dtype)
            start = time.perf_counter()
            step()
            rows.append(dict(kind=kind, frames=t, seconds=time.perf_counter() - start))
            print(f"  {kind:4s} {t:3d} latent frames: {rows[-1]['seconds'] * 1e3:8.1f} ms", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", nargs="+", choices=harness.PRECISIONS, default=None,
                        help="default: every precision this hardware runs natively")
    parser.add_argument("--iters", type=int, default=3, help="timed iterations per setting (after 1 warm-up)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--frames", nargs="+", type=int, default=[5, 10, 20, 40])
    parser.add_argument("--compile", action="store_true", help="torch.compile both blocks (as compile=True does)")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(block_peak_child(args.child[0], args.child[1], args.batch, args.compile))
        return

    harness.print_hardware()
    precs = [p.name for p in harness.precisions(args.precision)]
    print(f"W.A.L.T-L block d={DIM}, {HEADS} heads, 5x16x16 tokens, batch {args.batch}, fwd+bwd, "
          f"median of {args.iters}" + (", compiled blocks" if args.compile else ""))
    results = {}
    for dtype in precs:
        steps = {kind: block_step(kind, dtype, args.batch, args.compile) for kind in ATTN}
        seconds = harness.interleaved_medians(steps, args.iters)
        for kind in ATTN:
            peak = harness.run_child(os.path.abspath(__file__), ["--child", kind, dtype, "--batch", str(args.batch)]
                                     + (["--compile"] if args.compile else []))
            results[(kind, dtype)] = dict(seconds=seconds[kind], peak_mib=peak)
            r = results[(kind, dtype)]
            print(f"  {dtype:4s} {kind:4s}: {r['seconds'] * 1e3:8.1f} ms  peak +{r['peak_mib']:7.1f} MiB", flush=True)
        s, f = results[("stw", dtype)], results[("full", dtype)]
        print(f"  {dtype:4s} STW 5x8x8 vs full: {f['seconds'] / s['seconds']:.2f}x faster, "
              f"{f['peak_mib'] / max(s['peak_mib'], 1e-9):.2f}x less peak memory", flush=True)
        floors = {kind: gemm_floor.floor(steps[kind]) for kind in ATTN}
        for kind in ATTN:
            results[(kind, dtype)]["floor"] = floors[kind]["seconds"]
            print(f"  {dtype:4s} {kind:4s} GEMM floor: {floors[kind]['seconds'] * 1e3:8.1f} ms "
                  f"({floors[kind]['gflop']:.0f} GFLOP at {floors[kind]['gflops']:.0f} GFLOP/s)", flush=True)
        print(f"  {dtype:4s} ceiling of the ratio: {f['seconds'] / s['floor']:.2f}x with STW at its GEMM floor and full "
              f"attention as measured, {f['floor'] / s['floor']:.2f}x with both at their floors", flush=True)

    scaling = precs[-1]  # bf16 where native, else fp32
    print(f"attention layer alone, batch 1, forward, {scaling}, vs latent frames (16x16 tokens each)")
    rows = attention_scaling(args.frames, scaling)
    by = {(r["kind"], r["frames"]): r["seconds"] for r in rows}
    t0, t1 = args.frames[0], args.frames[-1]
    growth = {k: by[(k, t1)] / by[(k, t0)] for k in ("stw", "full")}
    print(f"  {t0}->{t1} frames ({t1 / t0:.0f}x tokens): STW cost x{growth['stw']:.1f}, "
          f"full cost x{growth['full']:.1f}")
    ratios = {d: results[("full", d)]["seconds"] / results[("stw", d)]["seconds"] for d in precs}
    summary = ", ".join(f"{d}: {r:.2f}x" for d, r in ratios.items())
    goal = f"; fp32 goal >= 1.7x {'met' if ratios['fp32'] >= 1.7 else 'NOT met'}" if "fp32" in ratios else ""
    ceilings = ", ".join(f"{d}: {results[('full', d)]['seconds'] / results[('stw', d)]['floor']:.2f}x" for d in precs)
    print(f"window_attention: STW 5x8x8 block speed-up over full attention {summary}{goal} (ceiling with STW at its "
          f"GEMM floor {ceilings}); {t0}->{t1} frames STW x{growth['stw']:.1f} vs full x{growth['full']:.1f} ({scaling})")


if __name__ == "__main__":
    main()
