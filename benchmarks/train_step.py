"""Training-step benchmark: walt's backbones against straightforward peers, same precision, same optimizer, one run.

One step = forward + backward + AdamW update (``torch.optim.AdamW`` with its defaults for every contender: walt's
trainer builds the same), MSE against a fixed target.

* ``--model lavita``: LAVITA-S/2 (variant 2, S-AdaLN, learned sigma, unconditional) on a batch of 2 latent videos
  of 16 × 4 × 32 × 32 (``(2, 4, 16, 32, 32)``: 16 frames of 256² video through the SD VAE). Peers: the public
  Latte model restated in ``reference/latte.py`` with ``attention_mode='math'`` and ``'flash'`` (SDPA), loaded with
  the same weights (outputs checked equal before timing); diffusers' ``LatteTransformer3DModel`` at the same size
  (6 + 6 blocks, d = 384, 6 heads, patch 2; its own PixArt-style adaLN-single conditioning and weights).
* ``--model walt``: one W.A.L.T-L layer pair (SW 1×16×16 + STW 5×8×8 block, d = 1024, 16 heads, AdaLN-LoRA r = 2,
  qk-norm, relative position bias; patch embedding, class + timestep embedding and final layer included) on a batch
  of 2 latents 8 × 5 × 16 × 16 with self-conditioning input. Peer: ``reference/walt_dit_style.py`` (the same
  function written the DiT/Swin way), ``'math'`` and ``'flash'``, same weights.

The step's GEMM floor (``gemm_floor.py``: walt's matmuls alone, replayed at this CPU's rate; a child of its own)
bounds every ratio: no implementation of the same model beats a peer by more than ``peer / floor``, and the summary
says how much of that room walt has taken.

Every contender runs in a child process of its own (its peak RSS is its own), ``--rounds`` times in turn
(A, B, C, A, B, C: machine load hits all alike); the reported time is the median over all timed steps. Ratios are
against the faster attention mode of each peer. Precisions: by default every one the hardware runs natively (fp32,
plus bf16 autocast where the CPU has bf16 hardware), resolved by the engine; ``--precision bf16`` on a CPU without
it measures fp32 and says so.

Example::

    python benchmarks/train_step.py                              # both models, native precisions, ~5 min on 2 cores
    python benchmarks/train_step.py --model lavita --precision fp32 --steps 2 --rounds 1
    python benchmarks/train_step.py --model lavita --only walt-compile latte-flash latte-flash-compile
    source scripts/avx2_env.sh && python benchmarks/train_step.py   # as on an AVX2-only CPU
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import gemm_floor
import harness
from reference.latte import Latte
from reference.walt_dit_style import WALTReference, load_walt_state_dict
from registry import BACKBONES
from walt.engine.optim import build_optimizer
from walt.models.conditioning.conditions import Conditions
from walt.models.convert import walt_to_latte
from walt.utils.compile_cache import use_isa_cache_dir

LAVITA_BATCH = (2, 4, 16, 32, 32)
WALT_BATCH = (2, 8, 5, 16, 16)
CONTENDERS = {"lavita": ("walt", "latte-math", "latte-flash", "diffusers-latte"),
              "walt": ("walt", "dit-style-math", "dit-style-flash")}
# Compiled contenders, run when named with --only: walt with its ``compile=True`` config switch (torch.compile per
# block), and the public Latte training script's ``use_compile: True`` (``torch.compile`` of the whole model).
COMPILED = {"lavita": ("walt-compile", "latte-flash-compile", "latte-math-compile"), "walt": ("walt-compile",)}


# ------------------------------------------------------------------------------------------------ the contenders
def _nonzero(model: nn.Module) -> nn.Module:
    """Give zero-initialized tensors (adaLN-Zero, heads) small values, so outputs and gradients are not trivial."""
    with torch.no_grad():
        for p in model.parameters():
            if p.abs().sum() == 0:
                p.normal_(std=0.02)
    return model


def walt_lavita(compile_: bool = False) -> nn.Module:
    torch.manual_seed(0)
    _, c, t, h, w = LAVITA_BATCH
    return _nonzero(BACKBONES.build(dict(type="LAVITA", preset="LAVITA-S/2", variant=2, in_channels=c,
                                         input_size=(t, h, w), compile=compile_)))


def walt_layer_pair(compile_: bool = False) -> nn.Module:
    torch.manual_seed(0)
    _, c, t, h, w = WALT_BATCH
    return _nonzero(BACKBONES.build(dict(type="WALT", preset="WALT-L", depth=2, in_channels=c, input_size=(t, h, w),
                                         num_classes=101, self_condition=True, compile=compile_)))


def build(model: str, impl: str) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The contender ``impl`` of ``model`` and its optimizer (walt's ``build_optimizer`` or the public code's)."""
    compiled = impl.endswith("-compile")
    if compiled:
        use_isa_cache_dir()  # walt's compile=True does this itself; the peer compiles here
    ours = (walt_lavita if model == "lavita" else walt_layer_pair)(compile_=impl == "walt-compile")
    if impl in ("walt", "walt-compile"):
        return ours, build_optimizer(dict(type="AdamW", lr=1e-4), ours)
    if impl.startswith("latte-"):
        _, c, t, h, _ = LAVITA_BATCH
        peer = Latte(input_size=h, patch_size=2, in_channels=c, hidden_size=384, depth=12, num_heads=6,
                     num_frames=t, attention_mode=impl.split("-")[1])
        peer.load_state_dict(walt_to_latte(ours))
        if compiled:  # as Latte's train.py with use_compile: True
            peer = torch.compile(peer)
    elif impl == "diffusers-latte":
        from diffusers import LatteTransformer3DModel

        _, c, t, h, _ = LAVITA_BATCH
        torch.manual_seed(0)
        peer = LatteTransformer3DModel(
            num_attention_heads=6, attention_head_dim=64, in_channels=c, out_channels=2 * c, num_layers=6,
            sample_size=h, patch_size=2, activation_fn="gelu-approximate", norm_type="ada_norm_single",
            norm_elementwise_affine=False, norm_eps=1e-6, num_embeds_ada_norm=1000, caption_channels=8,
            cross_attention_dim=None, attention_bias=True, video_length=t)
    else:
        _, c, t, h, w = WALT_BATCH
        peer = WALTReference(in_channels=c, grid=(t, h, w), dim=1024, depth=2, num_heads=16, rank=2,
                             attention_mode=impl.rsplit("-", 1)[1])
        load_walt_state_dict(peer, ours.state_dict())
    del ours
    return peer, torch.optim.AdamW(peer.parameters(), lr=1e-4, weight_decay=0)


def batch(model: str) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(x, t, y, target)`` in walt's ``(B, C, T, H, W)`` layout."""
    gen = torch.Generator().manual_seed(1)
    shape = LAVITA_BATCH if model == "lavita" else WALT_BATCH
    x = torch.randn(*shape, generator=gen)
    out_channels = 2 * shape[1] if model == "lavita" else shape[1]
    target = torch.randn(shape[0], out_channels, *shape[2:], generator=gen)
    return x, torch.tensor([10, 500]), torch.tensor([3, 101]), target


def forward_fn(model: str, impl: str, net: nn.Module):
    """``f(x, t, y) -> (B, C_out, T, H, W)`` calling ``net`` in its own input layout."""
    if impl.startswith("latte-"):  # Latte takes and returns (B, F, C, H, W)
        return lambda x, t, y: net(x.transpose(1, 2), t).transpose(1, 2)
    if impl == "diffusers-latte":
        return lambda x, t, y: net(x, t, encoder_hidden_states=x.new_zeros(x.shape[0], 1, 8)).sample
    if model == "walt":
        return lambda x, t, y: net(x, t, Conditions(y=y)) if impl.startswith("walt") else net(x, t, y)
    return lambda x, t, y: net(x, t)


def compile_blocks(net: nn.Module) -> None:
    """``torch.compile`` every transformer block in place (a lever measured with ``--compile``)."""
    for name in ("blocks", "transformer_blocks", "temporal_transformer_blocks"):
        blocks = getattr(net, name, None)
        for block in (blocks.values() if isinstance(blocks, nn.ModuleDict) else blocks or []):
            block.compile()


# ---------------------------------------------------------------------------------------------------- the child
def training_step(model: str, impl: str, precision: str, compile_: bool = False):
    """``(net, step)``: ``step()`` runs one forward + backward + AdamW update of contender ``impl`` on the
    benchmark batch, in ``precision`` (resolved by the engine)."""
    x, t, y, target = batch(model)
    net, opt = build(model, impl)
    if compile_:
        compile_blocks(net)
    if impl.startswith("latte-"):  # timed in Latte's own (B, F, C, H, W) layout
        x, target = x.transpose(1, 2).contiguous(), target.transpose(1, 2).contiguous()
        call = lambda x_, t_, y_: net(x_, t_)  # noqa: E731
    else:
        call = forward_fn(model, impl, net)
    prec = harness.cpu_precision(precision)

    def step() -> None:
        with prec.autocast():
            out = call(x, t, y)
        F.mse_loss(out.float(), target).backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return net, step


def walt_step_floor(model: str, precision: str, repeats: int = 3) -> dict[str, float]:
    """The GEMM floor (``gemm_floor.py``) of walt's eager step of ``model``: no contender can be faster."""
    _, step = training_step(model, "walt", precision)
    return gemm_floor.floor(step, repeats)


def run(model: str, impl: str, precision: str, steps: int, warmup: int, compile_: bool) -> dict:
    base_rss = harness.status_mib("VmRSS")
    if impl == "gemm-floor":
        return dict(impl=impl, base_rss_mib=base_rss, **walt_step_floor(model, precision))
    net, step = training_step(model, impl, precision, compile_)
    times, cpu_times = [], []
    for _ in range(warmup + steps):
        start, cpu_start = time.perf_counter(), time.process_time()
        step()
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    return dict(impl=impl, precision=harness.cpu_precision(precision).name, first_step_s=times[0],
                times=times[warmup:], cpu_times=cpu_times[warmup:], peak_rss_mib=harness.peak_rss_mib(),
                base_rss_mib=base_rss, params=sum(p.numel() for p in net.parameters() if p.requires_grad))


# --------------------------------------------------------------------------------------------------- the parent
def check_same_function(model: str) -> dict[str, float]:
    """Max |walt − peer| of fp32 forward outputs (one sample) for the peers that load walt's weights."""
    x, t, y, _ = batch(model)
    ours, _ = build(model, "walt")
    diffs = {}
    with torch.no_grad():
        ref = forward_fn(model, "walt", ours)(x[:1], t[:1], y[:1])
        for impl in CONTENDERS[model][1:]:
            if impl == "diffusers-latte":
                continue  # its own conditioning (adaLN-single) and weights: a size-matched peer, not the same function
            peer, _ = build(model, impl)
            diffs[impl] = float((forward_fn(model, impl, peer)(x[:1], t[:1], y[:1]) - ref).abs().max())
    return diffs


def summarize(model: str, precision: str, results: dict[str, list[dict]], floor: dict | None = None) -> str:
    rows = {}
    for impl, runs in results.items():
        rows[impl] = dict(s=harness.median([s for r in runs for s in r["times"]]),
                          cpu=harness.median([s for r in runs for s in r["cpu_times"]]),
                          rss=harness.median([r["peak_rss_mib"] for r in runs]),
                          rss_range=(min(r["peak_rss_mib"] for r in runs), max(r["peak_rss_mib"] for r in runs)),
                          base=min(r["base_rss_mib"] for r in runs),
                          first=max(r["first_step_s"] for r in runs), params=runs[0]["params"])
    print(f"| {model} {precision} | s/step (median) | CPU-s/step | first step s | peak RSS MiB (median, range) | "
          f"above start MiB | "
          f"params |\n|---|---:|---:|---:|---:|---:|---:|")
    for impl, r in rows.items():
        print(f"| {impl} | {r['s']:.2f} | {r['cpu']:.2f} | {r['first']:.1f} | {r['rss']:.0f} "
              f"({r['rss_range'][0]:.0f}–{r['rss_range'][1]:.0f}) | "
              f"{r['rss'] - r['base']:.0f} | {r['params'] / 1e6:.2f}M |")
    families: dict[str, list[str]] = {}
    for impl in rows:
        if not impl.startswith("walt"):  # a peer family: its attention modes, compiled or not
            families.setdefault(impl.replace("-math", "").replace("-flash", ""), []).append(impl)
    fastest_peers = [min(members, key=lambda m: rows[m]["s"]) for members in families.values()]
    lines = []
    for name in (impl for impl in rows if impl.startswith("walt")):
        ours, parts = rows[name], []
        for best in fastest_peers:
            peer = rows[best]
            parts.append(f"{peer['s'] / ours['s']:.2f}x faster than {best} ({peer['s']:.2f} vs {ours['s']:.2f} "
                         f"s/step), peak RSS {ours['rss']:.0f} vs {peer['rss']:.0f} MiB "
                         f"({ours['rss'] / peer['rss']:.2f}x)")
        lines.append(f"{model} {precision}: {name} " + "; ".join(parts))
    if floor is not None:
        for best in fastest_peers:
            peer = rows[best]["s"]
            taken = ", ".join(f"{name} {(peer - rows[name]['s']) / (peer - floor['seconds']):.0%}"
                              for name in rows if name.startswith("walt"))
            lines.append(f"{model} {precision}: GEMM floor {floor['seconds']:.2f} s/step ({floor['gflop']:.0f} GFLOP at "
                         f"{floor['gflops']:.0f} GFLOP/s): no implementation of this step can beat {best} by more "
                         f"than {peer / floor['seconds']:.2f}x here; share of that room taken: {taken}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Example::")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", choices=tuple(CONTENDERS), default=list(CONTENDERS))
    parser.add_argument("--precision", nargs="+", choices=harness.PRECISIONS, default=None,
                        help="default: every precision this hardware runs natively")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per child (2)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps per child (2: the first steps "
                                                              "also pay the page faults of a growing heap)")
    parser.add_argument("--rounds", type=int, default=2, help="children per contender, run in turn (2)")
    parser.add_argument("--only", nargs="+", help="contenders to run (default: the model's eager ones; "
                                                  "compiled ones: " + ", ".join(sorted(set(sum(COMPILED.values(), ()))))
                                                  + ")")
    parser.add_argument("--compile", action="store_true", help="torch.compile every transformer block of every "
                                                               "contender (compile time shows as the first step)")
    parser.add_argument("--no-floor", action="store_true", help="skip the GEMM floor (gemm_floor.py) of the step")
    parser.add_argument("--child", nargs=3, metavar=("MODEL", "IMPL", "PRECISION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run(*args.child, args.steps, args.warmup, args.compile)))
        return

    harness.print_hardware()
    summary = []
    for model in args.model:
        impls = [i for i in CONTENDERS[model] + COMPILED[model] if i in (args.only or CONTENDERS[model])]
        diffs = check_same_function(model)
        print(f"{model}: fp32 max |walt - peer| on one sample: "
              + ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()), flush=True)
        for prec in harness.precisions(args.precision):
            results: dict[str, list[dict]] = {impl: [] for impl in impls}
            for _ in range(args.rounds):
                for impl in impls:
                    child = ["--child", model, impl, prec.name, "--steps", str(args.steps), "--warmup",
                             str(args.warmup)] + (["--compile"] if args.compile else [])
                    results[impl].append(harness.run_child(os.path.abspath(__file__), child))
                    r = results[impl][-1]
                    print(f"  {model} {prec.name} {impl}: steps {', '.join(f'{s:.2f}' for s in r['times'])} s, "
                          f"peak RSS {r['peak_rss_mib']:.0f} MiB", flush=True)
            floor = None if args.no_floor else harness.run_child(
                os.path.abspath(__file__), ["--child", model, "gemm-floor", prec.name])
            if floor is not None:
                print(f"  {model} {prec.name} GEMM floor: {floor['seconds']:.2f} s/step", flush=True)
            summary.append(summarize(model, prec.name, results, floor))
    for line in "\n".join(summary).splitlines():
        print("train_step: " + line + (" [compiled blocks]" if args.compile else ""))


if __name__ == "__main__":
    main()
