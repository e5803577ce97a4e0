#!/usr/bin/env python
"""Parameters and FLOPs of one forward of a model component of a config — the denoiser ``backbone`` (default), the
``autoencoder`` (encode + decode of a clip) or a first stage's ``discriminator`` — built on the meta device as
training builds it.

Counts are MACs by default (one multiply-accumulate = 1, as both papers and fvcore count); ``--convention flop``
doubles them. See walt/analysis/flops.py for what is counted and docs/evaluation.md for the paper checks.

examples:
  python tools/flops.py configs/walt_ucf.py
  python tools/flops.py configs/walt_ucf.py --cfg-options model.backbone.preset=WALT-XL --json
  python tools/flops.py configs/ablations/walt_l_c32.py --component autoencoder   # W.A.L.T Table 3f, c = 32
  python tools/flops.py configs/autoencoder/causal_vae_ucf.py                      # a first stage: its autoencoder
  python tools/flops.py configs/walt_t2v_buckets.py --buckets      # each shape bucket's micro-batch: MACs, memory
  # LAVITA Table 3 (5572.69 G): linear/conv MACs only, Latte's per-sequence adaLN, latent (3, 16, 4, 32, 32)
  python tools/flops.py --backbone '{"type": "LAVITA", "preset": "LAVITA-XL/2", "variant": 2}' \\
      --input-shape 3,4,16,32,32 --no-attention-matmuls --no-norms --adaln-per-sequence
"""
from __future__ import annotations

import argparse
import json
import sys

from walt.analysis.buckets import bucket_reports, print_buckets
from walt.analysis.flops import human
from walt.analysis.report import add_model_args, analyse, build_component, print_table
from walt.engine.errors import WaltError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="config file")
    parser.add_argument("--backbone", default=None, metavar="JSON", help="a backbone dict instead of a config")
    add_model_args(parser)
    parser.add_argument("--fvcore", action="store_true",
                        help="count with fvcore on real CPU weights instead of on the meta device (small models)")
    parser.add_argument("--backward", action="store_true", help="also count forward+backward (measured and 3×)")
    parser.add_argument("--memory", action="store_true", help="also estimate activation memory of a training step")
    parser.add_argument("--buckets", action="store_true",
                        help="report one micro-batch of each shape bucket of data.train.buckets (MACs, activation "
                             "memory; --batch-size is the largest bucket's micro-batch unless the config sets "
                             "token_budget)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON (summary line on stderr)")
    args = parser.parse_args(argv)
    cfg, component, module = build_component(args.config, args.backbone, args.cfg_options, args.component,
                                             "cpu" if args.fvcore else "meta")
    if args.buckets:
        if args.config is None or component != "backbone":
            raise SystemExit("--buckets reads a config's data.train.buckets and counts its backbone")
        reports = bucket_reports(cfg, module, args)
        print(json.dumps(reports, indent=2)) if args.json else print_buckets(args.config, reports)
        print(f"flops: {args.config}: {len(reports)} buckets, "
              f"{human(min(r['flops'] for r in reports))}–{human(max(r['flops'] for r in reports))} per micro-batch",
              file=sys.stderr if args.json else sys.stdout)
        return 0
    report = analyse(cfg, component, module, args, backward=args.backward, memory=args.memory)
    name = args.config or json.loads(args.backbone).get("type", "backbone")
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_table(name, report)
    unit = "FLOPs" if args.convention == "flop" else "MACs"
    print(f"flops ({report['backend']}): {name}: {report['params_total'] / 1e6:.2f}M params, "
          f"{report['flops'] / 1e9:.2f} G{unit} "
          f"in {report['seconds']:.1f}s, {len(report['skipped_ops'])} skipped op kinds",
          file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (WaltError, ValueError, KeyError) as err:  # a config that cannot be built, e.g. a refused attention
        sys.exit(f"error: {err.args[0] if isinstance(err, KeyError) and err.args else err}")
