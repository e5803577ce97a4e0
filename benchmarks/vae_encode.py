"""Encode time of the W.A.L.T causal 3-D VAE (default config: 314 M parameters, f_s = 8, f_t = 4, c = 8) per
17×128×128 clip, on CPU (or CUDA with --device cuda). Weights are random (speed only).

``--diffusers NAME ...`` (or ``all``) measures instead the public diffusers video VAEs through walt's
``DiffusersVideoVAE`` against the same diffusers object called directly with its pipeline's scaling, on the tiny
random instances of benchmarks/tiny_video_vaes.py: encode and decode time (interleaved in one process) and peak
activation memory (the live tensors the call creates, counted exactly: peak RSS moves by tens of MiB between
identical runs on this machine). Results go in
docs/benchmarks.md ("Public video VAEs") and docs/video_vaes.md.

fp32 always; bf16 autocast too where the hardware multiplies bf16 natively (the engine's precision resolution: on
an AVX2-only CPU bf16 is emulated ~400× slower and is skipped). The precisions run in one process, alternating, so
that machine load hits them alike; the ratio is the number to trust on a shared machine. Results go in
docs/benchmarks/vae.md.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

import harness
import tiny_video_vaes
from walt.models.autoencoders.causal_vae import CausalVAE3D
from walt.models.autoencoders.diffusers_video_vae import VIDEO_VAES, DiffusersVideoVAE

CONTENDERS = ("diffusers", "walt")


def encode_flops(frames: int, size: int) -> int:
    """FLOPs of one encode (multiply-add = 2), counted on the meta device."""
    with torch.device("meta"):
        vae = CausalVAE3D()
        with FlopCounterMode(display=False) as counter:
            vae.encode(torch.empty(1, 3, frames, size, size))
    return counter.get_total_flops()


def tiny_pair(name: str, tiling: bool | None = False) -> tuple[DiffusersVideoVAE, dict]:
    """walt's wrapper around the tiny ``name`` (loaded from a saved folder) and the same diffusers object called
    directly, with its pipeline's scaling written out."""
    with tempfile.TemporaryDirectory() as folder:
        walt = DiffusersVideoVAE(str(tiny_video_vaes.save_tiny(name, folder)), tiling=tiling, slicing=False)
    vae, mean, std, sf = walt.vae, walt.latents_mean.clone(), walt.latents_std.clone(), walt.scaling_factor
    direct = dict(encode=lambda x: (vae.encode(x).latent_dist.mode() - mean) * sf / std,
                  decode=lambda z: vae.decode(z * std / sf + mean).sample)
    return walt, direct


def run_op(walt: DiffusersVideoVAE, direct: dict, contender: str, op: str, x: torch.Tensor, z: torch.Tensor):
    if contender == "walt":
        return walt.encode(x) if op == "encode" else walt.decode(z)
    return direct[op](x if op == "encode" else z)


def memory_table(names: list[str], frames: int, size: int, released: bool) -> None:
    """Peak activation memory of walt's encode and decode of one clip (frames rounded up to each model's grid),
    untiled and with the model's default tiling: of the tiny VAEs on the CPU, or of the released architectures (the
    diffusers class defaults) counted on the meta device."""
    kind = "released, meta device" if released else "tiny, CPU"
    print(f"| VAE ({kind}) | clip | encode MiB | decode MiB | default tiling | encode MiB tiled | decode MiB tiled |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        cls_name = tiny_video_vaes.TINY[name][0]
        row = []
        for tiling in (False, None):
            with torch.device("meta" if released else "cpu"), torch.inference_mode():
                if released:
                    walt = DiffusersVideoVAE(model=cls_name, tiling=tiling, slicing=False)
                else:
                    walt, _ = tiny_pair(name, tiling)
                m = walt.frame_multiple
                t = 1 + -(-(frames - 1) // m) * m
                x = torch.rand(1, 3, t, size, size) * 2 - 1
                z = walt.encode(x)
                row += [harness.peak_mib(lambda: walt.encode(x)), harness.peak_mib(lambda: walt.decode(z))]
        default = "on" if VIDEO_VAES[cls_name].tiling else "off"
        print(f"| {name} | {t}×{size}² | {row[0]:.0f} | {row[1]:.0f} | {default} | {row[2]:.0f} | {row[3]:.0f} |",
              flush=True)
    print(f"vae_encode --diffusers --memory-only: {len(names)} {kind} VAEs, {frames}x{size}x{size} clips")


def diffusers_main(args: argparse.Namespace) -> None:
    names = list(tiny_video_vaes.TINY) if args.diffusers == ["all"] else args.diffusers
    if args.memory_only:
        return memory_table(names, args.frames, args.size, args.released)
    print(f"| VAE (tiny) | op | diffusers s | walt s | time walt/diffusers | diffusers peak MiB | walt peak MiB | "
          f"memory walt/diffusers |")
    print("|---|---|---|---|---|---|---|---|")
    worst_time, worst_mem = 0.0, 0.0
    for name in names:
        walt, direct = tiny_pair(name)
        x = torch.rand(1, 3, args.frames, args.size, args.size) * 2 - 1
        with torch.inference_mode():
            z = walt.encode(x)
            for op in ("encode", "decode"):
                steps = {c: (lambda c=c: run_op(walt, direct, c, op, x, z)) for c in CONTENDERS}
                times = harness.interleaved_medians(steps, args.repeats, args.warmup)
                peaks = {c: harness.peak_mib(steps[c]) for c in CONTENDERS}
                t_ratio, m_ratio = times["walt"] / times["diffusers"], peaks["walt"] / peaks["diffusers"]
                worst_time, worst_mem = max(worst_time, t_ratio), max(worst_mem, m_ratio)
                print(f"| {name} | {op} | {times['diffusers']:.3f} | {times['walt']:.3f} | {t_ratio:.3f} | "
                      f"{peaks['diffusers']:.2f} | {peaks['walt']:.2f} | {m_ratio:.3f} |", flush=True)
    print(f"vae_encode --diffusers: {len(names)} tiny VAEs, {args.frames}x{args.size}x{args.size} clips, "
          f"{args.threads} threads: walt/diffusers worst time {worst_time:.3f}, worst peak memory {worst_mem:.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n  python benchmarks/vae_encode.py --repeats 2 --threads 2  # 17x128x128 clips\n"
               "  python benchmarks/vae_encode.py --diffusers all --frames 17 --size 64 --repeats 5 --threads 2")
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2, help="timed encodes per precision")
    parser.add_argument("--warmup", type=int, default=1, help="untimed encodes per precision first")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--diffusers", nargs="+", metavar="NAME",
                        help=f"tiny diffusers video VAEs to compare walt's wrapper on: "
                             f"{', '.join(tiny_video_vaes.TINY)} or all")
    parser.add_argument("--memory-only", action="store_true",
                        help="with --diffusers: only the peak memory of walt's encode / decode (no timing)")
    parser.add_argument("--released", action="store_true",
                        help="with --memory-only: the released architectures, counted on the meta device")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.diffusers:
        harness.print_hardware("cpu")
        return diffusers_main(args)
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
