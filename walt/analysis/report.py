"""What ``tools/flops.py`` and ``tools/compare.py`` share: the command-line options of a model-cost report, building
the component to count from a config, and the JSON report of one component (parameters, MACs/FLOPs by module and
operator, optionally forward+backward and activation memory).

A component is any part of a config's model that runs on tensors: the denoiser ``backbone`` (zero latents and every
condition it was built for), the ``autoencoder`` (a pixel clip encoded and decoded: W.A.L.T Table 3f trades latent
channels against cost) or the first stage's ``discriminator``. The model is built as training builds it
(``build_model``; on the meta device: structure only, any size)."""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from registry import BACKBONES
from walt.analysis.flops import (activation_bytes, backbone_inputs, count_flops, count_fwd_bwd_macs,
                                 default_input_shape, default_pixel_shape, human, param_counts, reference_adaln_macs)

PIXEL_COMPONENTS = ("autoencoder", "discriminator")  # forward(x) on a pixel clip (B, 3, T, H, W)


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
    parser.add_argument("--component", default=None, metavar="NAME",
                        help="which part of the model to count: backbone (the default where there is one), "
                             "autoencoder (encode + decode of a clip), discriminator")
    parser.add_argument("--input-shape", type=parse_shape, default=None, metavar="B,C,T,H,W",
                        help="input of the component (default: the latent size the backbone is built for; a pixel "
                             "clip of model.video_size or of the training data for the others)")
    parser.add_argument("--batch-size", type=int, default=1, help="B of the default input shape (default 1)")
    parser.add_argument("--convention", choices=["mac", "flop"], default="mac",
                        help="mac: one multiply-accumulate = 1 (papers, fvcore); flop: 2 per MAC")
    parser.add_argument("--no-attention-matmuls", action="store_true",
                        help="leave out the attention score/value matmuls (LAVITA Table 3 convention)")
    parser.add_argument("--no-norms", action="store_true", help="leave out normalization layers (≈5·numel each)")
    parser.add_argument("--adaln-per-sequence", action="store_true",
                        help="add the adaLN regressions Latte recomputes per attention sequence (LAVITA Table 3)")
    parser.add_argument("--text-length", type=int, default=77, help="text tokens for cross-attention (default 77)")


def build_component(config: str | None, backbone_json: str | None, cfg_options: list[str] | None,
                    component: str | None = None, device: str = "meta") -> tuple[Any, str, torch.nn.Module]:
    """``(cfg, component name, module on device)`` from a config file (any component) or a JSON backbone dict."""
    if (config is None) == (backbone_json is None):
        raise SystemExit("give exactly one of CONFIG or --backbone JSON")
    if backbone_json is not None:
        if cfg_options or component not in (None, "backbone"):
            raise SystemExit("--backbone JSON is a backbone: put keys into the JSON, no --cfg-options / --component")
        backbone_cfg = json.loads(backbone_json)
        with torch.device(device):
            return {"model": {"backbone": backbone_cfg}}, "backbone", BACKBONES.build(backbone_cfg)
    from walt.engine.config import load_config
    from walt.models.generative.build import build_backbone, build_model

    cfg = load_config(config, cfg_options)
    with torch.device("meta"):
        model = build_model(cfg)
    name = component or ("backbone" if hasattr(model, "backbone") else "autoencoder")
    if name not in ("backbone",) + PIXEL_COMPONENTS or not hasattr(model, name):
        have = [n for n in ("backbone",) + PIXEL_COMPONENTS if hasattr(model, n)]
        raise SystemExit(f"error: {config}: no countable component {name!r}; its {type(model).__name__} has "
                         f"{', '.join(have)}")
    if torch.device(device).type == "meta":
        return cfg, name, getattr(model, name)
    if name == "backbone":
        return cfg, name, build_backbone(cfg.model, device)
    with torch.device(device):
        return cfg, name, getattr(build_model(cfg), name)


def component_inputs(cfg: Any, name: str, module: torch.nn.Module, args: argparse.Namespace) -> dict[str, Any]:
    """Zero inputs of one call of the component ``name``."""
    device = next(module.parameters()).device
    if name == "backbone":
        shape = args.input_shape or default_input_shape(module, args.batch_size)
        return backbone_inputs(module, shape, device=device, text_length=args.text_length)
    shape = args.input_shape or default_pixel_shape(cfg, args.batch_size)
    return {"x": torch.zeros(shape, device=device)}


def analyse(cfg: Any, name: str, module: torch.nn.Module, args: argparse.Namespace, backward: bool = False,
            memory: bool = False) -> dict[str, Any]:
    """The JSON report of one component (see ``--json``)."""
    inputs = component_inputs(cfg, name, module, args)
    shape = tuple(next(iter(inputs.values())).shape)
    device = next(module.parameters()).device
    start = time.perf_counter()
    report = count_flops(module, inputs, backend="torch" if device.type == "meta" else "fvcore")
    options = dict(convention=args.convention, attention_matmuls=not args.no_attention_matmuls,
                   norms=not args.no_norms)
    scale = 2 if args.convention == "flop" else 1
    extra = reference_adaln_macs(module, shape) * scale if args.adaln_per_sequence else 0
    params = param_counts(module)
    out: dict[str, Any] = {
        "component": name, "input_shape": list(shape), "backend": "torch" if device.type == "meta" else "fvcore",
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
        fwd, both = count_fwd_bwd_macs(module, inputs)
        attn = 0 if options["attention_matmuls"] else 3 * report.attention_macs  # fwd 2 + bwd 4 matmuls
        out["flops_fwd_bwd_estimate"] = 3 * out["flops"]
        out["flops_fwd_bwd_measured"] = (both - attn) * scale + 3 * extra
        out["fwd_bwd_over_fwd_measured"] = both / fwd if fwd else float("nan")
    if memory:
        out["activation_bytes"] = activation_bytes(module, inputs)
    out["seconds"] = round(time.perf_counter() - start, 3)
    return out


def print_table(name: str, r: dict[str, Any]) -> None:
    unit = "FLOPs" if r["convention"] == "flop" else "MACs"
    print(f"{name} ({r['component']})  input {tuple(r['input_shape'])}  ({unit}; attention matmuls "
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
