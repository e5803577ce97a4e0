"""Sampling benchmarks on CPU.

``--latte``: walt's sampling loop against diffusers' on the same converted weights and inputs. A Latte-1-layout
model at LAVITA-S/2 size (``LatteTransformer3DModel``: 12 spatial + 12 temporal blocks of d = 384, 6 heads, patch 2,
adaLN-single, T5-width captions of 20 tokens; random weights) is loaded into walt's LAVITA through
``walt.models.convert`` (the public-weights path of ``tools/sample.py``), and one video of 16×4×32×32 latents is
sampled with DDIM-50 (trailing spacing, η = 0) and classifier-free guidance 7.5 (one batched forward of 2 per step)
in fp32: diffusers' ``DDIMScheduler`` loop as ``LattePipeline`` runs it (the denoising loop only: no VAE, no text
encoder) vs ``LatentDiffusion.sample`` eager and with its inference switch (``compile=True``: frozen-weight inductor
compile, compiled outside the timing). Same initial noise, same text; the final latents are compared. The GEMM floor
of one guided forward (``gemm_floor.py``: its matmuls alone, replayed at this CPU's rate, ``steps`` times in every
round beside the loops) bounds every ratio.

Default: DDIM-50 latency per video of a demo-sized W.A.L.T and the share of the time spent
outside the denoiser network (sampler arithmetic, guidance batching, self-conditioning bookkeeping, Python).

The model is the CPU demo of ``configs/demo/walt_t2v_demo.py`` (2 layers, d = 32, patch 2, 5×16×16 pixel-space
clips, self-conditioning, frame prediction), class-conditional instead of text-conditional so that no text
encoder is needed. Time inside the network is measured with forward pre/post hooks on the backbone; both numbers
come from the same runs, so their ratio is robust to the load of a shared machine. Three settings: unguided,
classifier-free guidance (one batched forward of 2B), and frame prediction with guidance on ``c_fp``.

Example::

    python benchmarks/sampling.py --repeats 5
    python benchmarks/sampling.py --latte                    # walt vs diffusers, DDIM-50, ~25 min on 2 cores
    python benchmarks/sampling.py --latte --steps 4 --rounds 3 --threads 2
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import gemm_floor
import harness
from registry import MODELS
from walt.diffusion.guidance import classifier_free_guidance
from walt.diffusion.samplers import DDIM
from walt.models.conditioning.conditions import Conditions
from walt.models.convert import detect_format, load_public
from walt.models.generative.inference import InferenceBackbone
from walt.utils.allocator import keep_freed_memory, user_configured

DEMO = dict(
    type="LatentDiffusion", video_size=(5, 16, 16), cond_dropout_prob=0.1, frame_prediction_prob=0.2,
    autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
    backbone=dict(type="WALT", depth=2, dim=32, num_heads=2, patch_size=2,
                  spatial_window=(1, 8, 8), spatiotemporal_window=(5, 4, 4), num_classes=101,
                  conditioning=dict(type="AdaLNLoRA", rank=2)))


CLOCKS = dict(wall=time.perf_counter, cpu=time.process_time)


class NetworkTimer:
    """Accumulates the wall and CPU time spent inside ``module.forward``."""

    def __init__(self, module: torch.nn.Module):
        self.total = dict.fromkeys(CLOCKS, 0.0)
        self._start = dict.fromkeys(CLOCKS, 0.0)
        module.register_forward_pre_hook(self._pre)
        module.register_forward_hook(self._post)

    def _pre(self, *_):
        self._start = {k: clock() for k, clock in CLOCKS.items()}

    def _post(self, *_):
        for k, clock in CLOCKS.items():
            self.total[k] += clock() - self._start[k]


def _median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def measure(model, timer: NetworkTimer, repeats: int, **kwargs) -> dict:
    """Median over ``repeats`` DDIM-50 runs of one video: latency and the share of time outside the network, by
    wall clock and by CPU time (CPU time is what a loaded machine distorts least). Second estimate of the share:
    the CPU time of the same sampling with a zero-cost network (the backbone replaced by ``zeros``) over the real
    CPU time — it leaves out the hooks' own cost."""
    model.sample(1, steps=2, **kwargs)  # warm-up
    runs, null_runs = [], []
    backbone_forward = model.backbone.forward
    for i in range(repeats):
        timer.total = dict.fromkeys(CLOCKS, 0.0)
        start = {k: clock() for k, clock in CLOCKS.items()}
        model.sample(1, steps=50, generator=torch.Generator().manual_seed(i), **kwargs)
        runs.append({k: (clock() - start[k], timer.total[k]) for k, clock in CLOCKS.items()})
        model.backbone.forward = lambda x, t, cond=None: x.new_zeros(x.shape[0], model.backbone.out_channels,
                                                                     *x.shape[2:])
        start_null = time.process_time()
        model.sample(1, steps=50, generator=torch.Generator().manual_seed(i), **kwargs)
        null_runs.append(time.process_time() - start_null)
        model.backbone.forward = backbone_forward
    result = {}
    for k in CLOCKS:
        result[f"{k}_latency_ms"] = 1000 * _median([r[k][0] for r in runs])
        result[f"{k}_outside_share"] = _median([(r[k][0] - r[k][1]) / r[k][0] for r in runs])
    result["null_network_cpu_ms"] = 1000 * _median(null_runs)
    result["null_network_share"] = _median(null_runs) / _median([r["cpu"][0] for r in runs])
    return result


# ------------------------------------------------------------------------------------- walt vs diffusers (--latte)
TEXT_TOKENS, TEXT_DIM, LATENT = 20, 4096, (1, 4, 16, 32, 32)
LATTE_1_LAYOUT = dict(num_attention_heads=6, attention_head_dim=64, in_channels=4, out_channels=8, num_layers=12,
                      cross_attention_dim=384, attention_bias=True, sample_size=32, patch_size=2,
                      activation_fn="gelu-approximate", num_embeds_ada_norm=1000, norm_type="ada_norm_single",
                      norm_elementwise_affine=False, norm_eps=1e-6, caption_channels=TEXT_DIM, video_length=16)
WALT_LATTE = dict(type="LatentDiffusion", video_size=LATENT[2:], text_dim=TEXT_DIM, self_condition_prob=0.0,
                  cond_dropout_prob=0.1, autoencoder=dict(type="IdentityAutoencoder", latent_channels=4),
                  diffusion=dict(type="GaussianDiffusion", schedule="linear", prediction="eps", learn_sigma=True,
                                 zero_terminal_snr=False),
                  backbone=dict(type="LAVITA", preset="LAVITA-S/2", depth=24, variant=2,
                                conditioning=dict(type="AdaLNSingle"), cross_attention=dict(type="TextCrossAttention"),
                                text_pooled=False))
CFG_SCALE = 7.5
GOAL_SWITCH = 1.6  # issue 30: walt with its inference switch vs diffusers' loop


def latte_pair() -> tuple[torch.nn.Module, torch.nn.Module]:
    """diffusers' Latte-1-layout transformer (random weights, no zero or identity parts) and walt's model with the
    same weights, converted by walt's public-weights loader."""
    from diffusers import LatteTransformer3DModel

    torch.manual_seed(0)
    peer = LatteTransformer3DModel(**LATTE_1_LAYOUT).eval()
    with torch.no_grad():
        for p in peer.parameters():
            p.copy_(torch.randn_like(p) * 0.02)
    model = MODELS.build(WALT_LATTE).eval()
    sd = {k: v.clone() for k, v in peer.state_dict().items()}
    report = load_public(model.backbone, sd, detect_format(sd), dict(peer.config))
    if report.fresh or report.unused:
        raise RuntimeError(f"conversion left fresh {report.fresh} / unused {report.unused} keys")
    return peer, model


def diffusers_loop(peer: torch.nn.Module, noise: torch.Tensor, text: torch.Tensor, steps: int) -> torch.Tensor:
    """``LattePipeline``'s denoising loop: DDIM, guidance on the batched [null, text] pass, learned-Σ channels cut."""
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(beta_schedule="linear", clip_sample=False, set_alpha_to_one=True,
                              timestep_spacing="trailing")
    scheduler.set_timesteps(steps)
    embeds = torch.cat([torch.zeros_like(text), text])
    latents = noise * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            x = scheduler.scale_model_input(torch.cat([latents] * 2), t)
            out = peer(x, encoder_hidden_states=embeds, timestep=t.expand(2), enable_temporal_attentions=True,
                       return_dict=False)[0]
            uncond, cond = out.chunk(2, dim=1)[0].chunk(2)
            latents = scheduler.step(uncond + CFG_SCALE * (cond - uncond), t, latents, return_dict=False)[0]
    return latents


def walt_loop(network, model: torch.nn.Module, noise: torch.Tensor, text: torch.Tensor, steps: int) -> torch.Tensor:
    """walt's loop: its DDIM (trailing, η = 0) through ``classifier_free_guidance`` (one batched forward of the text
    and null halves) around ``network`` (``InferenceBackbone``: eager or the inference compile), as
    ``LatentDiffusion.sample`` runs them; the null text is zero tokens under the prompt's mask, as diffusers' zero
    negative embeddings are."""
    return DDIM(num_steps=steps, spacing="trailing").sample(model.diffusion, guided_network(network, text),
                                                            noise.shape, noise=noise)


def guided_network(network, text: torch.Tensor):
    mask = torch.ones(text.shape[:2], dtype=torch.bool)
    return classifier_free_guidance(network, Conditions(text=text, text_mask=mask),
                                    Conditions(text=torch.zeros_like(text), text_mask=mask), CFG_SCALE)


def versus_diffusers(steps: int, rounds: int) -> dict:
    """``rounds`` runs of each loop (module docstring), in reverse order every other round; seconds (median), each
    round's speed-up against diffusers (median of the rounds: the shared CPU's speed drifts within minutes), the
    GEMM floor and the differences."""
    peer, model = latte_pair()
    text = torch.randn(1, TEXT_TOKENS, TEXT_DIM, generator=torch.Generator().manual_seed(2))
    noise = torch.randn(LATENT, generator=torch.Generator().manual_seed(1))
    eager, compiled = InferenceBackbone(model.backbone), InferenceBackbone(model.backbone, compile=True)
    tic = time.perf_counter()
    walt_loop(compiled, model, noise, text, 1)
    compile_seconds = time.perf_counter() - tic
    # the GEMMs of one guided forward of the plain modules (a dispatch mode sees no op under the sampler's
    # inference_mode, and the eager inference path's fused fc1 + GELU is no aten GEMM), replayed `steps` times
    # in every round beside the loops: the floor drifts with the CPU as they do
    with torch.no_grad():
        gemms = gemm_floor.record_gemms(lambda: guided_network(model.backbone, text)(noise, torch.tensor([999])))
    replay = gemm_floor.Replay(gemms)
    replay()  # warms the kernels and the pages
    loops = {"diffusers": lambda: diffusers_loop(peer, noise, text, steps),
             "walt eager": lambda: walt_loop(eager, model, noise, text, steps),
             "walt compiled": lambda: walt_loop(compiled, model, noise, text, steps),
             "GEMM floor": lambda: [replay() for _ in range(steps)]}
    times: dict[str, list[float]] = {name: [] for name in loops}
    outputs = {}
    for k in range(rounds):
        for name in harness.round_order(loops, k):
            tic = time.perf_counter()
            outputs[name] = loops[name]()
            times[name].append(time.perf_counter() - tic)
            print(f"  round {k}: {name:14s} DDIM-{steps}: {times[name][-1]:.1f} s ({times[name][-1] / steps:.2f} s per "
                  "step)", flush=True)
    ref = outputs.pop("diffusers")
    del outputs["GEMM floor"]
    floor = harness.median(times["GEMM floor"])
    ratios = {k: harness.round_ratios(times["diffusers"], v) for k, v in times.items() if k != "diffusers"}
    gflop = sum(g.flops for g in gemms) / 1e9
    return dict(steps=steps, rounds=rounds, compile_seconds=compile_seconds, floor_forward_seconds=floor / steps,
                floor_gflop=gflop, floor_gflops=gflop * steps / floor,
                **{f"{k} seconds": harness.median(v) for k, v in times.items()},
                **{f"{k} speedup": harness.median(v) for k, v in ratios.items()},
                **{f"{k} round speedups": v for k, v in ratios.items()},
                **{f"{k} max |diff| vs diffusers": float((v - ref).abs().max()) for k, v in outputs.items()},
                max_abs_latent=float(ref.abs().max()))


def report_versus_diffusers(r: dict) -> None:
    steps, peer = r["steps"], r["diffusers seconds"]
    floor = r["floor_forward_seconds"] * steps
    print(f"GEMM floor of one guided forward (batch 2): {r['floor_forward_seconds']:.2f} s ({r['floor_gflop']:.0f} "
          f"GFLOP at {r['floor_gflops']:.0f} GFLOP/s; median of {r['rounds']}); x{steps} = {floor:.1f} s: no "
          f"implementation of the same math beats diffusers by more than {r['GEMM floor speedup']:.2f}x here "
          "(median of the rounds' ratios)")
    ceilings = r["GEMM floor round speedups"]
    print(f"the floor's ceiling per round: {', '.join(f'{c:.2f}x' for c in ceilings)}; below the issue's goal of "
          f"{GOAL_SWITCH}x (with the inference switch) in {sum(c < GOAL_SWITCH for c in ceilings)} of {len(ceilings)} "
          "rounds, where no implementation of the same math could reach it")
    for name in ("walt eager", "walt compiled"):
        ours = r[f"{name} seconds"]
        print(f"{name:14s} {ours:8.1f} s (median of {r['rounds']})  {r[f'{name} speedup']:.2f}x diffusers "
              f"({peer:.1f} s; median of the rounds' ratios)  took {(peer - ours) / (peer - floor):.0%} of the room "
              f"to the floor  max |diff| {r[f'{name} max |diff| vs diffusers']:.1e}; rounds: "
              f"{', '.join(f'{x:.2f}' for x in r[f'{name} round speedups'])}")
    print(f"(inference compile: {r['compile_seconds']:.0f} s once, outside the timing)")
    print(json.dumps(r))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Example::")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed DDIM-50 runs per setting (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--latte", action="store_true", help="walt vs diffusers' Latte loop (module docstring)")
    parser.add_argument("--steps", type=int, default=50, help="--latte: DDIM steps (default 50)")
    parser.add_argument("--rounds", type=int, default=1, help="--latte: runs of each loop, interleaved (default 1)")
    parser.add_argument("--keep-freed-memory", action="store_true",
                        help="the allocator setting of walt's tools (walt/utils/allocator.py), for every contender: "
                             "they share the process")
    args = parser.parse_args(argv)
    if args.keep_freed_memory and not keep_freed_memory():
        parser.error("--keep-freed-memory: not applied (not glibc, or the allocator is configured: "
                     f"{user_configured()})")
    harness.print_hardware()
    torch.set_num_threads(args.threads)
    if args.latte:
        print(f"walt vs diffusers: Latte-1 layout at LAVITA-S/2 size, {LATENT} latents, DDIM-{args.steps}, guidance "
              f"{CFG_SCALE}, fp32, {torch.get_num_threads()} thread(s)", flush=True)
        result = versus_diffusers(args.steps, args.rounds)
        report_versus_diffusers(result)
        return result
    torch.manual_seed(0)
    model = MODELS.build(DEMO).eval()
    timer = NetworkTimer(model.backbone)
    observed = torch.rand(1, 3, 2, 16, 16) * 2 - 1
    settings = dict(unguided=dict(y=[3]), cfg=dict(y=[3], cfg_scale=4.0),
                    frame_prediction_cfg=dict(y=[3], cfg_scale=4.0, cond_latent=observed))
    results = {name: measure(model, timer, args.repeats, **kw) for name, kw in settings.items()}
    print(f"{'setting':22s} {'wall ms/video':>14s} {'CPU ms/video':>13s} {'outside (wall)':>15s} "
          f"{'outside (CPU)':>14s} {'zero-cost net CPU ms':>21s} {'its share':>10s}")
    for name, r in results.items():
        print(f"{name:22s} {r['wall_latency_ms']:14.1f} {r['cpu_latency_ms']:13.1f} "
              f"{100 * r['wall_outside_share']:14.2f}% {100 * r['cpu_outside_share']:13.2f}% "
              f"{r['null_network_cpu_ms']:21.2f} {100 * r['null_network_share']:9.2f}%")
    print(json.dumps(results))
    worst = max(r["cpu_outside_share"] for r in results.values())
    worst_null = max(r["null_network_share"] for r in results.values())
    print(f"sampling benchmark: DDIM-50, median of {args.repeats} runs, worst share outside the network "
          f"{100 * worst:.2f}% of CPU time by hooks, {100 * worst_null:.2f}% by the zero-cost network "
          f"(target < 5%), {torch.get_num_threads()} thread(s)")
    return results


if __name__ == "__main__":
    main()
