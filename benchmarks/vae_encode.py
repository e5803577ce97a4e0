"""Encode time of the W.A.L.T causal 3-D VAE (default config: 314 M parameters, f_s = 8, f_t = 4, c = 8) per
17×128×128 clip, on CPU (or CUDA with --device cuda). Weights are random (speed only).

fp32 always; bf16 autocast too where the hardware multiplies bf16 natively (the engine's precision resolution: on
an AVX2-only CPU bf16 is emulated ~400× slower and is skipped). The precisions run in one process, alternating, so
that machine load hits them alike; the ratio is the number to trust on a shared machine. Results go in
docs/benchmarks/vae.md.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import harness
from walt.models.autoencoders.causal_vae import CausalVAE3D


def encode_flops(frames: int, size: int) -> int:
    """FLOPs of one encode (multiply-add = 2), counted on the meta device."""
    with torch.device("meta"):
        vae = CausalVAE3D()
        with FlopCounterMode(display=False) as counter:
            vae.encode(torch.empty(1, 3, frames, size, size))
    return counter.get_total_flops()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python benchmarks/vae_encode.py --repeats 2 --threads 2  # 17x128x128 clips")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="timed encodes per precision")
    parser.add_argument("--warmup", type=int, default=1, help="untimed encodes per precision first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    harness.print_hardware(args.device)
    precs = {p.name: p for p in harness.precisions(device=args.device)}
    torch.manual_seed(0)
    vae = CausalVAE3D().to(device).eval()
    clip = torch.rand(1, 3, args.frames, args.size, args.size, device=device) * 2 - 1
    flops = encode_flops(args.frames, args.size)
    times: dict[str, list[float]] = {name: [] for name in precs}
    outputs = {}
    with torch.inference_mode():
        for i in range(args.warmup + args.repeats):
            for name in times:
                with precs[name].autocast():
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    outputs[name] = vae.encode(clip).float()
                    if device.type == "cuda":
                        torch.cuda.synchronize()
                    if i >= args.warmup:
                        times[name].append(time.perf_counter() - start)
    print(f"| precision | encode s/clip (median of {args.repeats}) | GFLOP/s |")
    print("|---|---|---|")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"| {name} | {med:.2f} | {flops / med / 1e9:.1f} |")
    fp32 = statistics.median(times["fp32"])
    line = (f"vae_encode: {args.frames}x{args.size}x{args.size} clip -> latent {tuple(outputs['fp32'].shape[1:])}, "
            f"{flops / 1e12:.2f} TFLOP/encode, {args.threads} threads on {device}: fp32 {fp32:.2f}s")
    if "bf16" in times:
        bf16 = statistics.median(times["bf16"])
        rel = ((outputs["bf16"] - outputs["fp32"]).norm() / outputs["fp32"].norm()).item()
        line += f", bf16 {bf16:.2f}s (bf16/fp32 time {bf16 / fp32:.2f}, relative latent error {rel:.1e})"
    print(line)


if __name__ == "__main__":
    main()
