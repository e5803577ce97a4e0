"""Benchmark: model FLOP utilization of a W.A.L.T-L forward + backward on this machine (W.A.L.T §4.2).

Achieved FLOP/s of a W.A.L.T-L backbone (d = 1024, 16 heads; ``--depth`` layers, default 2 = one SW + one STW
layer — every layer costs the same, so fewer layers give the same utilization) on the UCF-101 latent grid
(5×16×16 tokens, patch 1), divided by the matmul peak measured in the same run and dtype (one big linear). The
peak matmul and the model step alternate (peak, step, peak, step, ...), and each is the median of its runs, so load
from other users of a shared machine hits both alike.

Analytic FLOP count (multiply-add = 2 FLOPs; softmax, norms and element-wise ops not counted), ``M = B·N`` tokens,
``L_w`` tokens per attention window (SW 1×16×16 = 256, STW 5×8×8 = 320), ``d`` width, ``C_in`` input channels::

    forward per layer   = 24·M·d²              (qkv 3d², out-proj d², MLP 2·4d², each 2 FLOPs per MAC)
                        + 4·M·L_w·d            (Q·Kᵀ and attn·V)
    forward, embeddings = 2·M·C_in·d + 2·M·d·C_out (patch embed and final linear; p = 1)
    forward + backward  = 3 × forward          (backward = 2 × forward: grads w.r.t. inputs and weights)

On a shared machine, run with ``--threads 1`` as well: with one intra-op thread per core, another process on one
core stalls every parallel region of the model at its barrier (hundreds of short ops per step), but the single
long peak matmul much less, so the default-thread utilization then mostly measures the load.

Example::

    python benchmarks/mfu.py                       # native precisions (fp32, + bf16 where native), ~1 min on 2 cores
    python benchmarks/mfu.py --precision bf16 --threads 1
    python benchmarks/mfu.py --precision fp32 --depth 4 --batch 1
"""
from __future__ import annotations

import argparse

import torch

import harness
from registry import BACKBONES
from walt.models.conditioning.conditions import Conditions

WINDOW_TOKENS = {"spatial": 1 * 16 * 16, "spatiotemporal": 5 * 8 * 8}


def model_flops(depth: int, dim: int, tokens: int, in_channels: int, out_channels: int) -> float:
    """Forward + backward FLOPs of the W.A.L.T backbone by the formula in the module docstring."""
    fwd = 0.0
    for i in range(depth):
        window = WINDOW_TOKENS["spatial" if i % 2 == 0 else "spatiotemporal"]
        fwd += 24 * tokens * dim**2 + 4 * tokens * window * dim
    fwd += 2 * tokens * in_channels * dim + 2 * tokens * dim * out_channels
    return 3 * fwd


def peak_matmul(dtype: str, n: int):
    """A closure running one ``(n × n) @ (n × n)`` linear in ``dtype`` (bf16 operands for bf16); ``2n³`` FLOPs."""
    torch_dtype = torch.bfloat16 if dtype == "bf16" else torch.float32
    a, w = torch.randn(n, n, dtype=torch_dtype), torch.randn(n, n, dtype=torch_dtype)
    return lambda: torch.nn.functional.linear(a, w)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", nargs="+", choices=harness.PRECISIONS, default=None,
                        help="default: every precision this hardware runs natively")
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--iters", type=int, default=3, help="timed iterations (after 1 warm-up, 2 with --compile)")
    parser.add_argument("--no-rel-pos-bias", action="store_true",
                        help="drop the relative position bias (attention then takes SDPA's fused path)")
    parser.add_argument("--peak-size", type=int, default=4096, help="n of the n×n×n peak matmul")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile each transformer block (WALT(compile=True)); compile time is not timed")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (default: torch's, = cores); 1 is robust to other load on the cores")
    args = parser.parse_args()

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    harness.print_hardware()
    torch.manual_seed(0)
    model = BACKBONES.build(dict(type="WALT", preset="WALT-L", depth=args.depth, in_channels=8,
                                 input_size=(5, 16, 16), num_classes=101, self_condition=True,
                                 rel_pos_bias=not args.no_rel_pos_bias, compile=args.compile))
    x = torch.randn(args.batch, 8, 5, 16, 16)
    t, y = torch.randint(0, 1000, (args.batch,)), torch.randint(0, 101, (args.batch,))
    cond = Conditions(y=y)
    flops = model_flops(args.depth, model.dim, args.batch * 5 * 16 * 16, model.input_channels, model.out_channels)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; W.A.L.T-L depth {args.depth}, batch "
          f"{args.batch}, 5x16x16 tokens, rel-pos bias {not args.no_rel_pos_bias}, compile {args.compile}: "
          f"{flops / 1e9:.1f} GFLOP per forward+backward")

    summary = []
    for prec in harness.precisions(args.precision):
        dtype = prec.name

        def step():
            model.zero_grad(set_to_none=True)
            with prec.autocast():
                out = model(x, t, cond)
            out.float().square().mean().backward()

        times = harness.interleaved_medians(dict(peak=peak_matmul(dtype, args.peak_size), model=step), args.iters,
                                            warmup=2 if args.compile else 1)  # compiled: forward, then backward graphs
        seconds = times["model"]
        peak, achieved = 2 * args.peak_size**3 / times["peak"], flops / seconds
        print(f"  {dtype:4s}: matmul peak {peak / 1e9:7.1f} GFLOP/s | fwd+bwd {seconds * 1e3:7.1f} ms = "
              f"{achieved / 1e9:7.1f} GFLOP/s = {100 * achieved / peak:5.1f}% of peak", flush=True)
        summary.append(f"{dtype} {100 * achieved / peak:.0f}% ({achieved / 1e9:.0f}/{peak / 1e9:.0f} GFLOP/s)")
    print(f"mfu: W.A.L.T-L fwd+bwd utilization of the measured matmul peak: {', '.join(summary)}")


if __name__ == "__main__":
    main()
