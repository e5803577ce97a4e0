"""How often the demo model's samples move in their class's direction.

Samples ``--per-class`` videos of each demo class (tools/make_demo_data.py: a shape moving right / left / up /
down) from a trained checkpoint and reads each one's direction off its brightness centroid
(``walt.data.demo_videos.motion_class``). A sample counts as correct when that direction is its class; "static" counts
samples that are dark or move less than 15% of the frame. Samples come from the diffusion's own sampler (DDIM for
the v-prediction DDPM demo, Euler for rectified flow) or ``--sampler``, named in the output with the sampling time
per video (the config's ``sample.compile`` / ``sample.cache`` switches apply). ``--data`` scores the demo videos
themselves instead (the scorer's own check: 100% there). Prints a table, ``--json`` a JSON line.

    python benchmarks/demo_motion.py configs/demo/walt_demo.py --checkpoint work_dirs/walt_demo --per-class 16
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from registry import SAMPLERS, registered_names
from walt.data.demo_videos import CLASSES, motion_class
from walt.data.video_io import read_video, to_uint8_frames
from walt.engine.config import load_config
from walt.engine.loading import load_model
from walt.models.generative.inference import sample_switches
from walt.utils.allocator import keep_freed_memory
from walt.utils.hardware import describe


def score(videos: list[np.ndarray], labels: list[int]) -> dict:
    """Per-class and overall accuracy of ``motion_class`` on uint8 ``(T, H, W, 3)`` videos, and the static count."""
    found = [motion_class(v) for v in videos]
    table = {}
    for label, name in enumerate(CLASSES):
        mine = [f for f, y in zip(found, labels) if y == label]
        table[name] = dict(n=len(mine), correct=sum(f == label for f in mine), static=sum(f is None for f in mine))
    correct = sum(f == y for f, y in zip(found, labels))
    return dict(classes=table, accuracy=correct / max(len(labels), 1), static=sum(f is None for f in found),
                n=len(labels))


def sampled_videos(args: argparse.Namespace) -> tuple[list[np.ndarray], list[int], dict]:
    model, info = load_model(args.config, args.checkpoint, args.use_ema, args.cfg_options)
    labels = [y for y in range(len(CLASSES)) for _ in range(args.per_class)]
    generator = torch.Generator().manual_seed(args.seed)
    sampler = (model.diffusion.default_sampler(args.steps) if args.sampler is None
               else SAMPLERS.build(dict(type=args.sampler, num_steps=args.steps)))
    switches = sample_switches(load_config(args.config, args.cfg_options).get("sample"))
    if switches["compile"]:  # compile outside the timing: one short run with the same batch
        model.sample(len(labels), y=torch.tensor(labels), sampler=SAMPLERS.build(dict(type="DDIM", num_steps=1)),
                     cfg_scale=args.cfg_scale, compile=switches["compile"])
    tic = time.perf_counter()
    videos = model.sample(len(labels), y=torch.tensor(labels), sampler=sampler, cfg_scale=args.cfg_scale,
                          generator=generator, **switches)
    seconds = time.perf_counter() - tic
    cache = switches["cache"]
    return [to_uint8_frames(v) for v in videos], labels, info | dict(
        sampler=f"{type(sampler).__name__}-{args.steps}", compile=switches["compile"],
        cache=None if cache is None else cache.report(), seconds_per_video=seconds / len(labels))


def dataset_videos(root: str) -> tuple[list[np.ndarray], list[int], dict]:
    paths = [(p, y) for y, name in enumerate(CLASSES) for p in sorted(Path(root, name).glob("*.mp4"))]
    if not paths:
        raise SystemExit(f"error: no demo videos under {root}/<Class>/ (run tools/make_demo_data.py)")
    return [read_video(p) for p, _ in paths], [y for _, y in paths], dict(path=root)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("config", nargs="?", help="the demo model config")
    p.add_argument("--checkpoint", help="checkpoint file or work dir")
    p.add_argument("--data", help="score the demo videos under this folder instead of samples")
    p.add_argument("--per-class", type=int, default=16, help="samples per class (default 16)")
    p.add_argument("--cfg-scale", type=float, default=3.0, help="classifier-free guidance scale (default 3)")
    p.add_argument("--steps", type=int, default=50, help="sampling steps (default 50)")
    p.add_argument("--sampler", choices=registered_names(SAMPLERS), default=None,
                   help="default: the diffusion's own, DDIM for DDPM, Euler for rectified flow; the config's "
                        "sample.compile / sample.cache switches apply (--cfg-options sample.cache.type=TeaCache)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-ema", dest="use_ema", action="store_false", help="sample with the raw training weights")
    p.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args(argv)
    keep_freed_memory()  # as walt's tools run (walt/utils/allocator.py)
    if args.data is None and (args.config is None or args.checkpoint is None):
        p.error("give CONFIG and --checkpoint, or --data")
    tic = time.time()
    with torch.no_grad():
        videos, labels, info = dataset_videos(args.data) if args.data else sampled_videos(args)
    result = score(videos, labels) | dict(source=info, cfg_scale=args.cfg_scale, seconds=round(time.time() - tic, 1),
                                          hardware=describe())
    if args.json:
        print(json.dumps(result))
        return result
    print(result["hardware"])
    print(f"{'class':<10} {'correct':>8} {'static':>7}")
    for name, row in result["classes"].items():
        print(f"{name:<10} {row['correct']:>4}/{row['n']:<3} {row['static']:>7}")
    if info.get("cache"):
        print(info["cache"])
    timing = f", {info['seconds_per_video']:.3f} s/video sampling" if "seconds_per_video" in info else ""
    print(f"motion recognised in {result['accuracy']:.0%} of {result['n']} videos "
          f"({info.get('weights', 'data')} {info.get('step', '')}, {info.get('sampler', 'no sampler')}, "
          f"cfg {args.cfg_scale}, {result['seconds']} s{timing})")
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
