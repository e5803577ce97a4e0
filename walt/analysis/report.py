"""What ``tools/flops.py`` and ``tools/compare.py`` share: the command-line options of a model-cost report, building
the component to count from a config, and the JSON report of one component (parameters, MACs/FLOPs by module and
operator, optionally forward+backward and activation memory)."""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from registry import BACKBONES
from walt.analysis.flops import (activation_bytes, backbone_inputs, count_flops, count_fwd_bwd_macs,
                                 default_input_shape, human, param_counts, reference_adaln_macs)


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3,4,16,32,32"`` → ``(3, 4, 16, 32, 32)``."""
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--input-shape must be B,C,T,H,W integers, got {text!r}") from None
    if len(shape) != 5:
        raise argparse.ArgumentTypeError(f"--input-shape must have 5 entries B,C,T,H,W, got {text!r}")
    return shape


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The options shared with tools/compare.py."""
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="override config keys, e.g. model.backbone.variant=4")
    parser.add_argument("--input-shape", type=parse_shape, default=None, metavar="B,C,T,H,W",
                        help="latent input (default: the config's model.latent_shape or the backbone's input size)")
    parser.add_argument("--batch-size", type=int, default=1, help="B of the default input shape (default 1)")
    parser.add_argument("--convention", choices=["mac", "flop"], default="mac",
                        help="mac: one multiply-accumulate = 1 (papers, fvcore); flop: 2 per MAC")
    parser.add_argument("--no-attention-matmuls", action="store_true",
                        help="leave out the attention score/value matmuls (LAVITA Table 3 convention)")
    parser.add_argument("--no-norms", action="store_true", help="leave out normalization layers (≈5·numel each)")
    parser.add_argument("--adaln-per-sequence", action="store_true",
                        help="add the adaLN regressions Latte recomputes per attention sequence (LAVITA Table 3)")
    parser.add_argument("--text-length", type=int, default=77, help="text tokens for cross-attention (default 77)")


def build_backbone(config: str | None, backbone_json: str | None, cfg_options: list[str] | None,
                   device: str = "meta") -> tuple[Any, Any]:
    """``(cfg, backbone on device)`` from a config file or a JSON backbone dict."""
    if (config is None) == (backbone_json is None):
        raise SystemExit("give exactly one of CONFIG or --backbone JSON")
    if backbone_json is not None and cfg_options:
        raise SystemExit("--cfg-options needs a CONFIG; put the keys into the --backbone JSON instead")
    if config is not None:
        from walt.engine.config import load_config

        cfg = load_config(config, cfg_options)
        if "model" not in cfg or "backbone" not in cfg.model:
            raise SystemExit(f"{config}: no model.backbone in the config")
        from walt.models.generative.build import build_backbone as build_model_backbone

        return cfg, build_model_backbone(cfg.model, device)  # offered what the model derives (text_dim, ...)
    backbone_cfg = json.loads(backbone_json)
    cfg = {"model": {"backbone": backbone_cfg}}
    with torch.device(device):
        backbone = BACKBONES.build(backbone_cfg)
    return cfg, backbone


def analyse(cfg: Any, backbone: torch.nn.Module, args: argparse.Namespace, backward: bool = False,
            memory: bool = False) -> dict[str, Any]:
    """The JSON report of one backbone (see ``--json``)."""
    shape = args.input_shape or default_input_shape(cfg, backbone, args.batch_size)
    device = next(backbone.parameters()).device
    inputs = backbone_inputs(backbone, shape, device=device, text_length=args.text_length)
    start = time.perf_counter()
    report = count_flops(backbone, inputs, backend="torch" if device.type == "meta" else "fvcore")
    options = dict(convention=args.convention, attention_matmuls=not args.no_attention_matmuls,
                   norms=not args.no_norms)
    scale = 2 if args.convention == "flop" else 1
    extra = reference_adaln_macs(backbone, shape) * scale if args.adaln_per_sequence else 0
    params = param_counts(backbone)
    out: dict[str, Any] = {
        "input_shape": list(shape), "backend": "torch" if device.type == "meta" else "fvcore",
        "convention": args.convention,
        "attention_matmuls": options["attention_matmuls"], "norms": options["norms"],
        "adaln_per_sequence": args.adaln_per_sequence,
        "params_total": params["total"], "params_trainable": params["trainable"],
        "flops": report.total(**options) + extra,
        "flops_full": report.total(args.convention),
        "flops_attention_matmuls": report.attention_macs * scale, "flops_norms": report.norm_macs * scale,
        "flops_reference_adaln_extra": extra,
        "by_module": {name: {"params": params["by_module"].get(name, 0),
                             "flops": report.module_total(name, **options)}
                      for name in list(params["by_module"]) + ([""] if report.by_module[""] else [])},
        "by_operator": {k: v * scale for k, v in report.by_operator.most_common()},
        "skipped_ops": dict(report.skipped),
    }
    if backward:
        fwd, both = count_fwd_bwd_macs(backbone, inputs)
        attn = 0 if options["attention_matmuls"] else 3 * report.attention_macs  # fwd 2 + bwd 4 matmuls
        out["flops_fwd_bwd_estimate"] = 3 * out["flops"]
        out["flops_fwd_bwd_measured"] = (both - attn) * scale + 3 * extra
        out["fwd_bwd_over_fwd_measured"] = both / fwd if fwd else float("nan")
    if memory:
        out["activation_bytes"] = activation_bytes(backbone, inputs)
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def print_table(name: str, r: dict[str, Any]) -> None:
    unit = "FLOPs" if r["convention"] == "flop" else "MACs"
    print(f"{name}  input {tuple(r['input_shape'])}  ({unit}; attention matmuls "
          f"{'in' if r['attention_matmuls'] else 'out'}, norms {'in' if r['norms'] else 'out'}"
          f"{', Latte per-sequence adaLN' if r['adaln_per_sequence'] else ''})")
    print(f"{'module':<24}{'params':>16}{unit:>14}")
    for module, row in r["by_module"].items():
        print(f"{module or '(own ops)':<24}{row['params']:>16,}{human(row['flops']):>14}")
    if r["flops_reference_adaln_extra"]:
        print(f"{'(Latte adaLN repeats)':<24}{'':>16}{human(r['flops_reference_adaln_extra']):>14}")
    print(f"{'total':<24}{r['params_total']:>16,}{human(r['flops']):>14}")
    print(f"trainable params {r['params_trainable']:,}; full count (attention + norms) {human(r['flops_full'])}; "
          f"attention matmuls {human(r['flops_attention_matmuls'])}; norms {human(r['flops_norms'])}")
    print("by operator: " + ", ".join(f"{k} {human(v)}" for k, v in r["by_operator"].items()))
    if "flops_fwd_bwd_measured" in r:
        print(f"forward+backward: measured {human(r['flops_fwd_bwd_measured'])} "
              f"({r['fwd_bwd_over_fwd_measured']:.3f}× forward), 3× estimate {human(r['flops_fwd_bwd_estimate'])}")
    if "activation_bytes" in r:
        print(f"activation memory of a training step (saved for backward): {r['activation_bytes'] / 2**30:.2f} GiB")
    if r["skipped_ops"]:
        print("SKIPPED ops (no formula, not free): " + ", ".join(f"{k}×{v}" for k, v in r["skipped_ops"].items()))
