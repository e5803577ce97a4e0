#!/usr/bin/env python
"""Print what this machine computes on and, given a training config, the precision training picks here.

bf16 autocast needs native bf16 matrix multiplies (a CPU with AVX-512 BF16 or AMX, or a CUDA GPU); elsewhere, e.g. on
an AVX2-only CPU, training runs in fp32 (walt/engine/precision.py). docs/benchmarks.md has one table per class.

examples:
  python tools/hardware.py
  python tools/hardware.py configs/demo/walt_demo.py
  source scripts/avx2_env.sh && python tools/hardware.py configs/demo/walt_demo.py   # as on an AVX2-only CPU
"""
from __future__ import annotations

import argparse
import sys
import warnings

import torch

from walt.engine.config import load_config
from walt.engine.errors import WaltError
from walt.engine.precision import resolve_precision
from walt.engine.schema import fill_engine_defaults
from walt.utils.hardware import describe


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="a training config: also print the precision it trains in here")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # the trainer's choice (one process)
    print(f"hardware: {describe(str(device))}")
    if args.config is None:
        return 0
    try:
        cfg = load_config(args.config)
    except WaltError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    fill_engine_defaults(cfg)
    with warnings.catch_warnings():  # the fallback is what this line reports
        warnings.simplefilter("ignore")
        precision = resolve_precision(cfg.precision, device)
    why = "" if precision.name == cfg.precision else f"; no native {cfg.precision} here"
    print(f"precision: {precision.name} ({args.config} asks for {cfg.precision}{why})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
