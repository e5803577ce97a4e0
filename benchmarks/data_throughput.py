"""Benchmark: can the data pipeline feed the CPU demo? Decoded + augmented clips/s against what training consumes.

1. data: clips/s out of ``build_dataloader`` (2 workers) on the demo videos (tools/make_demo_data.py) with the data
   settings of ``--config``, or else of configs/_base_/data/demo.py (8 frames every 2nd frame at 32×32, batch 8),
   after a warm-up batch;
2. consumption: batch size / median time of one training step (forward, backward, AdamW) of the demo model:
   ``--config``'s model (default configs/demo/walt_demo.py when present), else a tiny pixel-space W.A.L.T
   backbone (depth 4, width 64, patch 4), or ``--step-time`` seconds if given;
3. both together: the same steps fed by the loader, and the share of wall time spent waiting for a batch.

Target: data ≥ 2× consumption. The workers and the model share the machine's cores, so (3) is the honest check.

``--buckets``: the shape-bucketed loader instead (``BucketedVideos``, walt/data/bucketed.py) over generated clips of
mixed sizes and lengths: clips/s over one epoch, the padding its batches carry (measured on the delivered tensors:
0 by design, every clip is cropped and resized to its bucket) against what batches of the same clips at their bucket
shapes padded to the largest would carry, and the spread of tokens (pixels) per batch with the token budget against
one fixed batch size for every bucket.

``--sharded`` instead compares the readers of the same clips (issue 29): the folder reader (``UCF101`` over the
demo files, decoding every clip: ``keep_decoded`` off) and the sharded streaming reader (``VideoShards`` over tar
shards written from them by tools/scan_videos.py + tools/make_shards.py), both with ``--workers`` workers and the
same clip settings, in alternating rounds; target: sharded ≥ folder.

``--kept``: the demo's in-memory reading (``keep_decoded``, no workers): milliseconds per batch with the kept videos
also kept transformed (``VideoDataset.keeps_transformed``: the transform draws nothing) against kept decoded only,
each clip transformed when read, in alternating rounds.

Example::

    python benchmarks/data_throughput.py       # ~1 min on 2 cores; makes demo data in a temp dir if needed
    python benchmarks/data_throughput.py --config configs/demo/walt_t2v_demo.py
    python benchmarks/data_throughput.py --data data/demo --workers 2 --batches 40 --step-time 0.25
    python benchmarks/data_throughput.py --buckets      # the bucketed loader over 96 generated mixed-shape clips
    python benchmarks/data_throughput.py --sharded --rounds 3   # sharded vs folder reader
    python benchmarks/data_throughput.py --kept --config configs/demo/walt_demo.py   # kept transformed or not
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import statistics
import tempfile
import time

import numpy as np
import torch
from mmengine import Config

import harness
from registry import BACKBONES, DATASETS, MODELS
from walt.data.loader import build_dataloader
from walt.models.conditioning.conditions import Conditions
from walt.data.video_io import write_video

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEMO_MODEL_CONFIG = os.path.join(REPO, "configs", "demo", "walt_demo.py")


def load_tool(name: str):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


def make_demo_data(out: str) -> None:
    load_tool("make_demo_data").main(["--out", out])


def endless(loader):
    while True:
        yield from loader


def data_throughput(loader, batches: int) -> float:
    """Clips/s over ``batches`` batches after one warm-up batch (worker start-up)."""
    it = endless(loader)
    next(it)
    start, clips = time.perf_counter(), 0
    for _ in range(batches):
        clips += next(it)["video"].shape[0]
    return clips / (time.perf_counter() - start)


def build_step(config: str | None, batch: dict):
    """A ``step(batch)`` closure (forward, backward, AdamW) and a description of the model it trains."""
    torch.manual_seed(0)
    if config is not None:
        model = MODELS.build(Config.fromfile(config).model).train()
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=1e-4)

        def step(b):
            opt.zero_grad(set_to_none=True)
            model(b)["loss"].backward()
            opt.step()
        return step, f"{os.path.relpath(config, REPO)} ({sum(p.numel() for p in params) / 1e6:.2f}M params)"
    _, c, t, h, w = batch["video"].shape
    model = BACKBONES.build(dict(type="WALT", in_channels=c, input_size=(t, h, w), depth=4, dim=64, num_heads=4,
                                 patch_size=4, spatial_window=(1, h // 4, w // 4),
                                 spatiotemporal_window=(t, h // 8, w // 8), num_classes=4)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def step(b):
        x = b["video"]
        opt.zero_grad(set_to_none=True)
        noise = torch.randn_like(x)
        timesteps = torch.randint(0, 1000, (x.shape[0],))
        out = model(x + noise, timesteps, Conditions(y=b["label"]))
        (out[:, :c] - noise).square().mean().backward()
        opt.step()
    params = sum(p.numel() for p in model.parameters())
    return step, f"tiny W.A.L.T backbone, depth 4, width 64, patch 4 ({params / 1e6:.2f}M params)"


def median_step_time(step, batch: dict, iters: int) -> float:
    step(batch)
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        step(batch)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fed_training(step, loader, steps: int) -> tuple[float, float]:
    """(seconds per step, share of the time spent waiting for data) of ``steps`` steps fed by ``loader``."""
    it = endless(loader)
    step(next(it))
    wait, start = 0.0, time.perf_counter()
    for _ in range(steps):
        t0 = time.perf_counter()
        batch = next(it)
        wait += time.perf_counter() - t0
        step(batch)
    total = time.perf_counter() - start
    return total / steps, wait / total


# ------------------------------------------------------------------------------------------ the bucketed loader
BUCKETS = [(8, 32, 32), (8, 32, 56), (8, 56, 32), (4, 32, 56)]  # square, 16:9 landscape / portrait, a short 16:9
SOURCES = [(10, 40, 40), (9, 36, 64), (12, 64, 36), (6, 40, 72), (16, 48, 48), (8, 40, 70)]  # (frames, h, w)


def make_mixed_clips(out: str, count: int, seed: int = 0) -> None:
    """``count`` random-texture mp4 clips cycling through :data:`SOURCES` (mixed aspect ratios and lengths)."""
    rng = np.random.default_rng(seed)
    os.makedirs(out, exist_ok=True)
    for i in range(count):
        frames, h, w = SOURCES[i % len(SOURCES)]
        write_video(os.path.join(out, f"clip{i:03d}.mp4"), rng.integers(0, 256, (frames, h, w, 3), dtype=np.uint8))


def padding_share(shapes: list[tuple[int, ...]]) -> float:
    """Share of a batch's voxels that are padding when ``shapes`` are padded to their elementwise maximum."""
    padded = len(shapes) * math.prod(max(dim) for dim in zip(*shapes))
    return 1 - sum(math.prod(s) for s in shapes) / padded


def bucket_stats(root: str, batch_size: int, workers: int) -> dict:
    """One epoch of the bucketed loader over ``root``: clips/s, measured padding, the padding of same-size random
    batches of the same bucket shapes, and tokens (pixels) per batch with the budget and with one batch size."""
    cfg = dict(type="BucketedVideos", buckets=BUCKETS,
               dataset=dict(type="VideoFolder", root=root, num_frames=8, resolution=32, hflip=0.0))
    loader = build_dataloader(cfg, batch_size=batch_size, num_workers=workers, seed=0)
    start, clips, padded, voxels, tokens = time.perf_counter(), 0, 0, 0, []
    for batch in loader:
        video = batch["video"]  # one tensor: every item has exactly the batch's shape, no padding anywhere
        b, shape = video.shape[0], tuple(video.shape[2:])
        clips += b
        voxels += b * math.prod(shape)
        padded += b * math.prod(shape) - sum(math.prod(v.shape[1:]) for v in video.unbind(0))
        tokens.append(b * math.prod(shape))
    seconds = time.perf_counter() - start
    dataset, sampler = loader.dataset, loader.batch_sampler
    item_shapes = [dataset.buckets[b] for b in dataset.bucket_of if b is not None]
    order = np.random.default_rng(0).permutation(len(item_shapes))
    unbucketed = [padding_share([item_shapes[i] for i in order[j:j + batch_size]])
                  for j in range(0, len(order) - batch_size + 1, batch_size)]
    fixed = [batch_size * b.volume for bucket, b in enumerate(dataset.buckets)
             for _ in range(sum(x == bucket for x in dataset.bucket_of) // batch_size)]
    return dict(clips_per_s=clips / seconds, clips=clips, batches=len(tokens), padding=padded / voxels,
                unbucketed_padding=statistics.mean(unbucketed), batch_sizes=sampler.batch_sizes,
                tokens=tokens, fixed_tokens=fixed)


def spread(values: list[int]) -> str:
    mean = statistics.mean(values)
    return (f"min {min(values):,} / mean {mean:,.0f} / max {max(values):,} "
            f"(max/min {max(values) / min(values):.2f}, cv {statistics.pstdev(values) / mean:.3f})")


def buckets_main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        make_mixed_clips(tmp, args.clips)
        r = bucket_stats(tmp, args.batch_size, args.workers)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; {args.clips} generated clips of "
          f"{len(SOURCES)} source shapes, buckets {BUCKETS}, largest-bucket micro-batch {args.batch_size}, "
          f"{args.workers} workers")
    print(f"  batch sizes from the token budget: {r['batch_sizes']}")
    print(f"  data:    {r['clips_per_s']:8.1f} clips/s over one epoch ({r['clips']} clips, {r['batches']} batches)")
    print(f"  padding: {100 * r['padding']:.1f}% of the delivered voxels (same clips in random batches padded to the "
          f"largest: {100 * r['unbucketed_padding']:.1f}%)")
    print(f"  tokens (pixels) per batch, token budget:      {spread(r['tokens'])}")
    print(f"  tokens (pixels) per batch, fixed batch size:  {spread(r['fixed_tokens'])}")
    print(f"data_throughput --buckets: {r['clips_per_s']:.1f} clips/s, padding {100 * r['padding']:.1f}%, tokens per "
          f"batch max/min {max(r['tokens']) / min(r['tokens']):.2f} (fixed batch: "
          f"{max(r['fixed_tokens']) / min(r['fixed_tokens']):.2f})")
def sharded_vs_folder(train: dict, batch_size: int, workers: int, batches: int, rounds: int, tmp: str,
                      shard_size: int) -> tuple[float, float]:
    """Median clips/s of the folder reader and of the sharded reader over the same clips, alternating rounds."""
    table, shards = os.path.join(tmp, "table.parquet"), os.path.join(tmp, "shards")
    load_tool("scan_videos").scan(train["root"], table, workers=workers, progress=False)
    load_tool("make_shards").make_shards(table, shards, shard_size, shuffle_seed=0, progress=False)
    clip = {k: train[k] for k in ("num_frames", "frame_interval", "resolution", "hflip") if k in train}
    readers = {"folder": dict(train, keep_decoded=False),
               "sharded": dict(type="VideoShards", index=os.path.join(shards, "index.json"), **clip)}
    speeds: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(rounds):
        for name, cfg in readers.items():
            loader = build_dataloader(cfg, batch_size=batch_size, num_workers=workers, seed=0)
            speeds[name].append(data_throughput(loader, batches))
            del loader
    print("  rounds (clips/s): " + "; ".join(f"{name} {', '.join(f'{v:.1f}' for v in values)}"
                                           for name, values in speeds.items()))
    return statistics.median(speeds["folder"]), statistics.median(speeds["sharded"])


def kept_transformed_vs_decoded(train: dict, batch_size: int, batches: int, rounds: int) -> dict[str, float]:
    """Median milliseconds per batch read in the training process (as the demo reads, no workers) from videos kept
    in memory: kept transformed (``VideoDataset.keeps_transformed``) against kept decoded only (the path before:
    every clip transformed when read), alternating rounds after one untimed epoch that fills both."""
    datasets = {"kept transformed": DATASETS.build(dict(train, keep_decoded=True)),
                "kept decoded only": DATASETS.build(dict(train, keep_decoded=True))}
    datasets["kept decoded only"].keeps_transformed = lambda: False
    for dataset in datasets.values():
        for index in range(len(dataset)):
            dataset[index]
    reads = {name: (lambda d=dataset: [d[k % len(d)] for k in range(batches * batch_size)])
             for name, dataset in datasets.items()}
    seconds = harness.interleaved_medians(reads, rounds, warmup=0)
    return {name: s / batches * 1e3 for name, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.path.join(REPO, "data", "demo"),
                        help="demo data root; generated in a temp dir when it does not exist")
    parser.add_argument("--data-config", default=os.path.join(REPO, "configs", "_base_", "data", "demo.py"),
                        help="data config used without --config")
    parser.add_argument("--config", default=DEMO_MODEL_CONFIG if os.path.exists(DEMO_MODEL_CONFIG) else None,
                        help="training config whose model and data are timed (default: configs/demo/walt_demo.py "
                             "if present)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=40, help="timed data batches")
    parser.add_argument("--steps", type=int, default=4, help="timed training steps (alone and fed)")
    parser.add_argument("--step-time", type=float, default=None, help="seconds per training step (skip timing)")
    parser.add_argument("--buckets", action="store_true", help="measure the shape-bucketed loader (see above)")
    parser.add_argument("--clips", type=int, default=96, help="generated clips for --buckets")
    parser.add_argument("--batch-size", type=int, default=4, help="micro-batch of the largest bucket (--buckets)")
    parser.add_argument("--sharded", action="store_true", help="compare the sharded reader with the folder reader")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of --sharded (median reported)")
    parser.add_argument("--shard-size", type=int, default=16, help="members per shard for --sharded")
    parser.add_argument("--kept", action="store_true",
                        help="videos kept in memory: kept transformed vs kept decoded only (see above)")
    args = parser.parse_args()
    harness.print_hardware()
    if args.buckets:
        buckets_main(args)
        return

    data = Config.fromfile(args.config or args.data_config).data
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data
        if not os.path.exists(os.path.join(root, "ucfTrainTestlist", "classInd.txt")):
            root = os.path.join(tmp, "demo")
            make_demo_data(root)
        train = dict(data.train, root=root)
        if args.kept:
            ms = kept_transformed_vs_decoded(train, data.batch_size, args.batches, args.rounds)
            print(f"data_throughput --kept: batch {data.batch_size}, {args.batches} batches x {args.rounds} rounds, "
                  "in the training process: " + ", ".join(f"{name} {v:.2f} ms per batch" for name, v in ms.items()))
            return
        if args.sharded:
            folder, sharded = sharded_vs_folder(train, data.batch_size, args.workers, args.batches, args.rounds, tmp,
                                                args.shard_size)
            print(f"torch {torch.__version__}, {os.cpu_count()} cpus; batch {data.batch_size}, {args.workers} "
                  f"workers, {args.batches} batches x {args.rounds} rounds, shards of {args.shard_size}")
            print(f"data_throughput --sharded: folder reader {folder:.1f} clips/s, sharded reader {sharded:.1f} "
                  f"clips/s = {sharded / folder:.2f}x (target >= 1x: {'met' if sharded >= folder else 'NOT met'})")
            return
        loader = build_dataloader(train, batch_size=data.batch_size, num_workers=args.workers, seed=0)
        clips_per_s = data_throughput(loader, args.batches)
        batch = next(iter(build_dataloader(train, batch_size=data.batch_size, num_workers=0)))
        shape = "x".join(str(s) for s in batch["video"].shape[1:])
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cpus; clips {shape}, "
              f"batch {data.batch_size}, {args.workers} workers")
        print(f"  data:        {clips_per_s:8.1f} clips/s decoded + augmented ({args.batches} batches)")
        if args.step_time is not None:
            step_time, model_name, fed = args.step_time, "given --step-time", None
        else:
            step, model_name = build_step(args.config, batch)
            step_time = median_step_time(step, batch, args.steps)
            fed = fed_training(step, loader, args.steps)
        consumption = data.batch_size / step_time
        ratio = clips_per_s / consumption
        print(f"  consumption: {consumption:8.1f} clips/s = batch {data.batch_size} / {step_time * 1e3:.1f} ms "
              f"per step of {model_name}")
        line = f"data_throughput: {clips_per_s:.1f} clips/s vs {consumption:.1f} consumed = {ratio:.1f}x"
        if fed is not None:
            print(f"  fed by the loader: {fed[0] * 1e3:.1f} ms per step, {100 * fed[1]:.1f}% of it waiting for data")
            line += f"; fed training waits for data {100 * fed[1]:.1f}% of the time"
        print(f"{line} (target >= 2x: {'met' if ratio >= 2 else 'NOT met'})")


if __name__ == "__main__":
    main()
