"""Why your FVD differs from a paper's: the same generated videos scored under each protocol and under each single
deviation from StyleGAN-V's protocol (resize filter, JPEG round trip, subset rule, frame interval, clip count).

Writes the demo videos (tools/make_demo_data.py's classes) as the real set, and "generated" videos made from another
demo draw (darker, noisier, every other row doubled), all mp4 at ``--size``; scores FVD with the stand-in I3D
(walt/evaluation/standin_detectors.py: a random network, so only the relative shifts mean something) through
walt/evaluation's protocols, the converter's target size ``--target``. Prints a markdown table (``--json``: JSON).

    python benchmarks/fvd_deviations.py --out /tmp/fvd_dev            # ~2 minutes on 2 CPU cores
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import shutil
import sys

import numpy as np

from walt.data.demo_videos import write_demo_dataset
from walt.data.video_io import read_video, write_video
from walt.engine.distributed import DistInfo
from walt.evaluation.detectors import load_detector
from walt.evaluation.pixels import convert_frames
from walt.evaluation.protocols import get_protocol
from walt.evaluation.real_data import real_data_from_folder
from walt.evaluation.runner import evaluate
from walt.evaluation.samples import FolderSamples
from walt.evaluation.standin_detectors import save_standins
from walt.utils.hardware import describe


def write_sets(out: str, per_class: int, frames: int, size: int) -> tuple[str, str]:
    """``out/real`` (demo videos, flat, ``v0.mp4`` ... unpadded: sorted order differs from natural order) and
    ``out/generated`` (another draw, degraded)."""
    real, fake = os.path.join(out, "real"), os.path.join(out, "generated")
    for folder, seed in ((real, 0), (fake, 1)):
        tmp = folder + "_demo"
        write_demo_dataset(tmp, num_per_class=per_class, frames=frames, size=size, seed=seed)
        os.makedirs(folder, exist_ok=True)
        rng = np.random.default_rng(seed)
        for i, path in enumerate(sorted(glob.glob(os.path.join(tmp, "*", "*.mp4")))):
            video = read_video(path)
            if folder == fake:
                video = video.astype(np.float32) * 0.8 + rng.normal(0, 18, video.shape)
                video[:, ::2] = video[:, 1::2]
                video = np.clip(video, 0, 255).astype(np.uint8)
            write_video(os.path.join(folder, f"{'g' if folder == fake else 'v'}{i}.mp4"), video, crf=12)
        shutil.rmtree(tmp)
    return real, fake


def score(protocol, real_dir: str, fake_dir: str, target: int, i3d, seed: int) -> float:
    real = real_data_from_folder(real_dir, target, protocol)
    convert = lambda frames: convert_frames(frames, target, protocol.convert, protocol.jpeg,  # noqa: E731
                                            protocol.resample)
    fake = FolderSamples(fake_dir, protocol.num_samples, 8, protocol.subset, seed, convert)
    clips = lambda: real.select_clips(protocol.num_real_clips, protocol.num_frames, protocol.real_interval,  # noqa
                                      protocol.subset, seed)
    info = DistInfo(rank=0, world_size=1, local_rank=0, device=i3d.device)
    report = evaluate(dataclasses.replace(protocol, metrics=("fvd",)), {"i3d": i3d}, fake, real, seed=seed,
                      batch_size=8, cache_dir=None, info=info, clips=clips)
    return report["fvd"]["value"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="work folder (videos, stand-in detector)")
    p.add_argument("--per-class", type=int, default=12, help="videos per demo class and set (default 12: 48 each)")
    p.add_argument("--frames", type=int, default=48, help="frames per video (default 48: interval 3 fits)")
    p.add_argument("--size", type=int, default=64, help="video size (default 64)")
    p.add_argument("--target", type=int, default=32, help="converter target size (default 32)")
    p.add_argument("--clips", type=int, default=32, help="clips per side, the protocol's 2,048 (default 32)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    real_dir, fake_dir = write_sets(args.out, args.per_class, args.frames, args.size)
    i3d = load_detector(save_standins(os.path.join(args.out, "detectors"))["i3d"], "i3d")
    counts = dict(num_samples=args.clips, num_real_clips=args.clips)
    sgv = dataclasses.replace(get_protocol("stylegan-v"), **counts)
    rows = [
        ("stylegan-v (StyleGAN-V's code)", sgv),
        ("latte (Latte's code)", dataclasses.replace(get_protocol("latte"), **counts)),
        ("stylegan-v, resize filter: PIL bilinear instead of Lanczos", dataclasses.replace(sgv, resample="bilinear")),
        ("stylegan-v, no JPEG round trip (lossless frames)", dataclasses.replace(sgv, jpeg=False)),
        ("stylegan-v, subset: random.sample instead of the first N sorted",
         dataclasses.replace(sgv, subset="random")),
        ("stylegan-v, real frame interval 3 instead of 1", dataclasses.replace(sgv, real_interval=3)),
        (f"stylegan-v, {args.clips // 2} clips per side instead of {args.clips}",
         dataclasses.replace(sgv, num_samples=args.clips // 2, num_real_clips=args.clips // 2)),
    ]
    results = [(name, score(protocol, real_dir, fake_dir, args.target, i3d, args.seed)) for name, protocol in rows]
    base = results[0][1]
    if args.json:
        print(json.dumps(dict(rows=[dict(name=n, fvd=v, relative=v / base - 1) for n, v in results],
                              hardware=describe())))
        return 0
    print(f"FVD of the same {args.clips} generated videos ({args.size}², {args.frames} frames, converted to "
          f"{args.target}²), stand-in I3D; {describe()}\n")
    print("| scored as | FVD | vs stylegan-v |\n|---|---|---|")
    for name, value in results:
        print(f"| {name} | {value:.6f} | {100 * (value / base - 1):+.1f} % |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
