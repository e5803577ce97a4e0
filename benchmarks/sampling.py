"""Sampling benchmark on CPU: DDIM-50 latency per video of a demo-sized W.A.L.T and the share of the time spent
outside the denoiser network (sampler arithmetic, guidance batching, self-conditioning bookkeeping, Python).

The model is the CPU demo of ``configs/demo/walt_t2v_demo.py`` (2 layers, d = 32, patch 2, 5×16×16 pixel-space
clips, self-conditioning, frame prediction), class-conditional instead of text-conditional so that no text
encoder is needed. Time inside the network is measured with forward pre/post hooks on the backbone; both numbers
come from the same runs, so their ratio is robust to the load of a shared machine. Three settings: unguided,
classifier-free guidance (one batched forward of 2B), and frame prediction with guidance on ``c_fp``.

Example::

    python benchmarks/sampling.py --repeats 5
"""
from __future__ import annotations

import argparse
import json
import time

import torch

import harness
from registry import MODELS

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


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("Example::")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5, help="timed DDIM-50 runs per setting (median reported)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = parser.parse_args(argv)
    harness.print_hardware()
    torch.set_num_threads(args.threads)
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
