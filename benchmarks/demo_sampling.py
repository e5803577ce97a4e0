"""The speed / quality trade of walt's samplers on the trained CPU demo model (issue 30's table).

For every setting (sampler, steps, inference switches) and every ``--seeds`` seed, samples ``--per-class`` videos
of each demo class with guidance 3 (as ``benchmarks/demo_motion.py``) and reports

* seconds per video: the median over the seeds and ``--repeats`` extra timing rounds; every round runs every
  setting once (same process, warm), in reverse order every other round, and the speed-up against DDIM-50 is the
  median of the rounds' ratios: the speed of a shared virtual CPU drifts by ±15% within minutes here, a ratio taken
  within one round does not;
* the motion score of ``demo_motion.py`` (share of samples moving in their class's direction), per seed;
* FVD and FID against the demo's own videos with the **stand-in** detectors
  (``walt.evaluation.standin_detectors``: random TorchScript networks with the public files' call signatures,
  loaded through ``load_detector``). The demo clips have 8 frames, so this FVD takes all 8 (the public protocols'
  ``fvd2048_16f`` needs 16 and ``tools/eval.py`` refuses shorter clips); it is the Fréchet distance of the stand-in's
  features, comparable between the settings of one run and with no meaning beyond it;
* the network calls the step cache skipped.

Example::

    python benchmarks/demo_sampling.py configs/demo/walt_demo.py --checkpoint work_dirs/walt_demo
    python benchmarks/demo_sampling.py configs/demo/walt_demo.py --checkpoint work_dirs/walt_demo \\
        --settings DDIM-50 DPMSolverPP-20 --seeds 0 --repeats 0
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

import harness
from demo_motion import dataset_videos, score
from registry import SAMPLERS
from walt.data.demo_videos import CLASSES
from walt.data.video_io import to_uint8_frames
from walt.engine.loading import load_model
from walt.evaluation.detectors import load_detector
from walt.evaluation.frechet import frechet_distance_from_features
from walt.evaluation.runner import frames_of
from walt.evaluation.standin_detectors import save_standins
from walt.models.generative.inference import sample_switches
from walt.utils.allocator import keep_freed_memory

# name → (sampler, steps, the config's sample switches)
SETTINGS = {
    "DDIM-50": ("DDIM", 50, {}),
    "DPMSolverPP-20": ("DPMSolverPP", 20, {}),
    "UniPC-20": ("UniPC", 20, {}),
    "DPMSolverSDE-20": ("DPMSolverSDE", 20, {}),
    "DDIM-50 + TeaCache 0.1": ("DDIM", 50, dict(cache=dict(type="TeaCache", threshold=0.1))),
    "DPMSolverPP-20 + TeaCache 0.1": ("DPMSolverPP", 20, dict(cache=dict(type="TeaCache", threshold=0.1))),
    "DDIM-50 + compile": ("DDIM", 50, dict(compile=True)),
}


def as_uint8_batch(videos: list[np.ndarray]) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` videos → ``(B, 3, T, H, W)``, the detectors' input."""
    return torch.from_numpy(np.stack(videos)).permute(0, 4, 1, 2, 3).contiguous()


def standin_features(detectors: dict, videos: list[np.ndarray]) -> dict[str, np.ndarray]:
    clips = as_uint8_batch(videos)
    return dict(fvd=detectors["i3d"].features(clips).numpy(),
                fid=detectors["inception"].features(frames_of(clips)).numpy())


def sample(model, name: str, labels: torch.Tensor, seed: int, cfg_scale: float) -> tuple[list, float, str | None]:
    """Videos of setting ``name`` for ``labels``, the sampling seconds and the network calls the cache skipped."""
    sampler_type, steps, switches = SETTINGS[name]
    switches = sample_switches(switches)
    sampler = SAMPLERS.build(dict(type=sampler_type, num_steps=steps))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        tic = time.perf_counter()
        videos = model.sample(len(labels), y=labels, sampler=sampler, cfg_scale=cfg_scale, generator=generator,
                              **switches)
        seconds = time.perf_counter() - tic
    cache = switches["cache"]
    skipped = None if cache is None else f"{cache.skipped} of {cache.calls}"
    return [to_uint8_frames(v) for v in videos], seconds, skipped


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="the demo model config (configs/demo/walt_demo.py)")
    p.add_argument("--checkpoint", required=True, help="checkpoint file or work dir")
    p.add_argument("--data", default="data/demo", help="the demo videos (the reference of FVD / FID)")
    p.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS), metavar="NAME",
                   help=f"settings to measure (default all: {', '.join(SETTINGS)})")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    p.add_argument("--repeats", type=int, default=2, help="extra timing-only rounds (default 2)")
    p.add_argument("--per-class", type=int, default=16)
    p.add_argument("--cfg-scale", type=float, default=3.0)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    p.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--json", help="also write the results to this file")
    args = p.parse_args(argv)
    keep_freed_memory()  # as walt's tools run (walt/utils/allocator.py)
    if args.threads:
        torch.set_num_threads(args.threads)
    hardware = harness.print_hardware()
    model, info = load_model(args.config, args.checkpoint, True, args.cfg_options)
    with tempfile.TemporaryDirectory() as tmp:
        detectors = {kind: load_detector(path, kind) for kind, path in save_standins(tmp).items()
                     if kind in ("i3d", "inception")}
    real_videos, _, _ = dataset_videos(args.data)
    real = standin_features(detectors, real_videos)
    labels = torch.tensor([y for y in range(len(CLASSES)) for _ in range(args.per_class)])
    print(f"{info['path']} step {info['step']} ({info['weights']}), {len(labels)} samples per seed, guidance "
          f"{args.cfg_scale}; reference: {len(real_videos)} demo videos", flush=True)
    sample(model, "DDIM-50", labels[:4], 0, args.cfg_scale)  # warm-up, untimed
    for name in args.settings:  # compile outside the timing
        if SETTINGS[name][2].get("compile"):
            sample(model, name, labels, 0, args.cfg_scale)
    times: dict[str, list[float]] = {name: [] for name in args.settings}
    rows: dict[str, dict] = {name: dict(motion=[], fvd=[], fid=[]) for name in args.settings}
    for k, round_ in enumerate([*args.seeds, *[None] * args.repeats]):
        for name in harness.round_order(args.settings, k):
            videos, seconds, cache = sample(model, name, labels, 0 if round_ is None else round_, args.cfg_scale)
            times[name].append(seconds / len(labels))
            rows[name]["cache"] = cache
            if round_ is None:
                continue
            fake = standin_features(detectors, videos)
            row = rows[name]
            row["motion"].append(score(videos, labels.tolist())["accuracy"])
            row["fvd"].append(frechet_distance_from_features(real["fvd"], fake["fvd"]))
            row["fid"].append(frechet_distance_from_features(real["fid"], fake["fid"]))
            print(f"  seed {round_} {name}: {seconds / len(labels):.3f} s/video, motion {row['motion'][-1]:.1%}, "
                  f"stand-in FVD {row['fvd'][-1]:.4g}, FID {row['fid'][-1]:.4g}"
                  + (f"; skipped {cache} network calls" if cache else ""), flush=True)
    print("\n| setting | s/video | time vs DDIM-50 | motion (" + ", ".join(f"seed {s}" for s in args.seeds)
          + ") | stand-in FVD (8 frames) | stand-in FID | network calls skipped |")
    print("|---|---:|---:|---|---|---|---|")
    for name in args.settings:
        row = rows[name]
        row.update(seconds_per_video=statistics.median(times[name]), times=times[name])
        if "DDIM-50" in times:  # the median over rounds of each round's ratio (same machine state)
            row["speedup"] = harness.median_ratio(times["DDIM-50"], times[name])
        speed = f"{row['speedup']:.2f}×" if "speedup" in row else "–"
        print(f"| {name} | {row['seconds_per_video']:.3f} | {speed} | {' / '.join(f'{m:.1%}' for m in row['motion'])} "
              f"| {' / '.join(f'{v:.4g}' for v in row['fvd'])} | {' / '.join(f'{v:.4g}' for v in row['fid'])} | "
              f"{row['cache'] or '–'} |")
    result = dict(hardware=hardware, checkpoint=info["path"], step=info["step"], seeds=args.seeds, rows=rows)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
