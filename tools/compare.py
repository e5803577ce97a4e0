#!/usr/bin/env python
"""One table of parameters, FLOPs and activation memory across configs (an ablation grid in one command).

Every model is built on the meta device as training builds it, and one component counted (``--component``: the
backbone by default, or the autoencoder, discriminator); activation memory is the bytes autograd saves for the
backward pass of one training forward (walt/analysis/flops.py ``activation_bytes``), in the parameters' dtype (fp32
unless the config says otherwise), without gradient checkpointing.

examples:
  python tools/compare.py configs/ablations/walt_l_lora_r*.py --markdown
  # the four LAVITA variants of Table 3 (one config, four overrides)
  python tools/compare.py configs/lavita_ucf.py configs/lavita_ucf.py::model.backbone.variant=1 \\
      configs/lavita_ucf.py::model.backbone.variant=3 configs/lavita_ucf.py::model.backbone.variant=4 \\
      --input-shape 3,4,16,32,32 --no-attention-matmuls --markdown
  # W.A.L.T Table 3f: what the latent channels cost in the autoencoder
  python tools/compare.py configs/ablations/walt_l_c{4,8,16,32}.py --component autoencoder --markdown
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from walt.analysis.report import add_model_args, analyse, build_component
from walt.engine.errors import WaltError


def rows_for(specs: list[str], args: argparse.Namespace) -> list[dict[str, Any]]:
    """A spec is ``CONFIG`` or ``CONFIG::key=value::key=value`` (overrides for that column only)."""
    rows = []
    for spec in specs:
        path, *overrides = spec.split("::")
        cfg, component, module = build_component(path, None, (args.cfg_options or []) + overrides, args.component)
        r = analyse(cfg, component, module, args, memory=True)
        rows.append(dict(name=spec, params=r["params_total"], flops=r["flops"], act=r["activation_bytes"],
                         shape=tuple(r["input_shape"]), skipped=sum(r["skipped_ops"].values())))
    return rows


def render(rows: list[dict[str, Any]], unit: str, markdown: bool) -> str:
    header = ["config", "input (B,C,T,H,W)", "params (M)", f"G{unit}", "act. memory (GiB)"]
    body = [[r["name"], "×".join(map(str, r["shape"])), f"{r['params'] / 1e6:.2f}", f"{r['flops'] / 1e9:.2f}",
             f"{r['act'] / 2**30:.2f}"] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(b) + " |" for b in body])
    widths = [max(len(x) for x in col) for col in zip(header, *body)]
    fmt = lambda cells: "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([fmt(header)] + [fmt(b) for b in body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("configs", nargs="+", help="config files, optionally CONFIG::key=value overrides")
    add_model_args(parser)
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    args = parser.parse_args(argv)
    rows = rows_for(args.configs, args)
    print(render(rows, "FLOPs" if args.convention == "flop" else "MACs", args.markdown))
    skipped = sum(r["skipped"] for r in rows)
    print(f"compare: {len(rows)} configs, params {min(r['params'] for r in rows) / 1e6:.1f}–"
          f"{max(r['params'] for r in rows) / 1e6:.1f}M, {skipped} skipped op calls")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except (WaltError, ValueError, KeyError) as err:  # a config that cannot be built, e.g. a refused attention
        sys.exit(f"error: {err.args[0] if isinstance(err, KeyError) and err.args else err}")
