"""Write the demo dataset (walt/data/demo_videos.py): small class-labelled mp4 videos of a coloured shape moving in
a class-specific direction, in UCF-101's folder layout, with captions.csv for text-to-video.
"""
from __future__ import annotations

import argparse
import sys
import time

from walt.data.demo_videos import CLASSES, write_demo_dataset


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python tools/make_demo_data.py --out data/demo --num-per-class 24 --frames 16 --size 64")
    parser.add_argument("--out", default="data/demo", help="output folder (default: data/demo)")
    parser.add_argument("--num-per-class", type=int, default=24, help="videos per class (default: 24)")
    parser.add_argument("--frames", type=int, default=16, help="frames per video (default: 16)")
    parser.add_argument("--size", type=int, default=64, help="frame height = width, even (default: 64)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    if args.size < 16 or args.size % 2:
        parser.error(f"--size must be even and >= 16 (H.264 with 4:2:0 chroma), got {args.size}")
    if args.frames < 2 or args.num_per_class < 1:
        parser.error("--frames must be >= 2 and --num-per-class >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    tic = time.time()
    counts = write_demo_dataset(args.out, args.num_per_class, args.frames, args.size, args.seed)
    print(f"make_demo_data: wrote {counts['videos']} videos ({len(CLASSES)} classes x {args.num_per_class}, "
          f"{counts['train']} train / {counts['test']} test, {args.frames} frames, {args.size}x{args.size}) "
          f"to {args.out} in {time.time() - tic:.1f}s")


if __name__ == "__main__":
    main(sys.argv[1:])
