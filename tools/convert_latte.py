"""Convert LAVITA weights between walt and the public layouts (Latte, diffusers Latte, DiT), checking the layout.

The config says what the weights are: IN is loaded into the config's backbone (any layout ``tools/sample.py``
reads: a walt checkpoint, Latte ``.pt``, diffusers folder or ``.safetensors``, DiT) with every tensor accounted for,
then written in the ``--to`` layout, which refuses a model it cannot express (a variant-1, variant-4 or RoPE model,
or one with other attention windows, is not a Latte model; only an image-mode class-conditional model is a DiT).

Example::

    python tools/convert_latte.py ffs.pt work_dirs/latte_ffs.pth --config configs/pretrained/latte_ffs.py
    python tools/convert_latte.py work_dirs/lavita_ffs/latest.pth latte_ffs.pt --to latte
    python tools/convert_latte.py t2v.pt latte_t2v_diffusers/ --to latte-diffusers \
        --config configs/pretrained/latte_t2v.py

With ``--lora ADAPTERS`` (a LoRA run's checkpoint; IN must be the base weights it was trained on, SHA-256
checked) the adapters are merged into IN before writing it in any layout (``--lora-scale`` scales them), or, with
``--to lora-diffusers``, exported alone in the PEFT format with diffusers' Latte key names
(``adapter_model.safetensors`` + ``adapter_config.json``, for ``PeftModel.from_pretrained(transformer, OUT)``)::

    python tools/convert_latte.py checkpoints/Latte-1/transformer latte1_mine/ --to latte-diffusers \
        --lora work_dirs/latte1_t2v_lora --config configs/finetune/latte1_t2v_lora.py
    python tools/convert_latte.py checkpoints/Latte-1/transformer latte1_mine_lora/ --to lora-diffusers \
        --lora work_dirs/latte1_t2v_lora --config configs/finetune/latte1_t2v_lora.py

``--to walt`` writes a checkpoint ``{model, ema, step=0, config}`` that ``tools/sample.py --checkpoint`` and
``tools/train.py --load-from`` read; ``latte`` / ``dit`` a bare state dict (what Latte's / DiT's ``find_model``
accepts); ``latte-diffusers`` / ``dit-diffusers`` a diffusers model folder (``config.json`` + safetensors). CONFIG
defaults to the config embedded in a walt checkpoint.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from mmengine.config import Config
from safetensors.torch import save_file

from walt.engine.config import apply_cfg_options, load_config, parse_cfg_options
from walt.engine.errors import CheckpointError, WaltError
from walt.engine.loading import (check_trained_layout, is_trainer_checkpoint, load_public_weights, read_any_checkpoint,
                                 saved_model_config)
from walt.engine.lora_run import apply_lora_checkpoint
from walt.models.adapters import merge_lora
from walt.models.convert import (LayoutError, dit_diffusers_config, dit_to_dit_diffusers, walt_to_diffusers_latte,
                                 walt_to_dit, walt_to_latte)
from walt.models.convert.lora_diffusers import save_peft_adapter, walt_lora_to_diffusers_latte
from walt.models.generative.build import build_backbone

TARGETS = ("walt", "latte", "latte-diffusers", "dit", "dit-diffusers", "lora-diffusers")


def _config(args: argparse.Namespace, state: object) -> Config:
    if args.config:
        return load_config(args.config, args.cfg_options)
    saved = state.get("config") if is_trainer_checkpoint(state) else None
    saved = saved_model_config(saved) if isinstance(saved, str) else saved  # read without running it
    if saved and saved.get("model"):
        cfg = Config(saved)
        apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
        return cfg
    raise CheckpointError(f"{args.input} has no embedded config: pass --config CONFIG (the model the weights are "
                          f"for; it decides their layout)")


def _load(backbone: torch.nn.Module, state: object, hf_config: dict | None, args: argparse.Namespace,
          cfg: Config) -> list[str]:
    if not is_trainer_checkpoint(state):
        return load_public_weights(backbone, state, hf_config, args.input)["report"]
    check_trained_layout(state.get("config"), cfg, Path(args.input))
    weights = state.get("ema") or state["model"]
    sd = {k[len("backbone."):]: v for k, v in weights.items() if k.startswith("backbone.")}
    result = backbone.load_state_dict(sd, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointError(f"{args.input} does not fit the backbone of the config: missing "
                              f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}")
    return [f"walt weights ({'ema' if state.get('ema') else 'model'}): {len(sd)} tensors loaded"]


def _write(backbone: torch.nn.Module, cfg: Config, target: str, out: Path) -> int:
    """Write ``backbone`` in the ``target`` layout to ``out``; returns the number of tensors."""
    if target == "walt":
        sd = {f"backbone.{k}": v for k, v in backbone.state_dict().items()}
        torch.save(dict(model=sd, ema=sd, step=0, config=cfg.pretty_text), out)
        return len(sd)
    if target in ("latte", "dit"):
        sd = walt_to_latte(backbone) if target == "latte" else walt_to_dit(backbone)
        torch.save(sd, out)
        return len(sd)
    if target == "latte-diffusers":
        sd, config = walt_to_diffusers_latte(backbone)
    else:
        sd = dit_to_dit_diffusers(walt_to_dit(backbone))
        config = dit_diffusers_config(backbone)
    out.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(out / "diffusion_pytorch_model.safetensors"))
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return len(sd)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="weights to convert (file or diffusers folder)")
    parser.add_argument("output", help="where to write them (a folder for the diffusers layouts)")
    parser.add_argument("--to", choices=TARGETS, default="walt", help="target layout (default: walt)")
    parser.add_argument("--config",
                        help="the walt config of the model (default: the one embedded in a walt checkpoint)")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    parser.add_argument("--lora", metavar="ADAPTERS",
                        help="LoRA adapters (a LoRA run's checkpoint or work dir) trained on INPUT: merged into it, "
                             "or exported alone with --to lora-diffusers")
    parser.add_argument("--lora-scale", type=float, default=1.0, help="scale of the adapters' update (default 1)")
    args = parser.parse_args(argv)
    try:
        state, hf_config = read_any_checkpoint(args.input)
        cfg = _config(args, state)
        backbone = build_backbone(cfg.model, device="cpu")
        report = _load(backbone, state, hf_config, args, cfg)
        if args.to == "lora-diffusers" and not args.lora:
            raise CheckpointError("--to lora-diffusers exports LoRA adapters: pass them with --lora ADAPTERS")
        if args.lora:
            settings = apply_lora_checkpoint(backbone, args.lora, args.input, scale=args.lora_scale)
            if args.to == "lora-diffusers":
                sd, config = walt_lora_to_diffusers_latte(backbone, settings)
                save_peft_adapter(args.output, sd, config, base=str(args.input))
                print(f"convert_latte: LoRA adapters {args.lora} -> {args.output} (PEFT, diffusers Latte names, "
                      f"{len(sd)} tensors)")
                return 0
            merge_lora(backbone)
            report.append(f"LoRA adapters {args.lora} merged with scale {args.lora_scale}")
        count = _write(backbone, cfg, args.to, Path(args.output))
    except (WaltError, LayoutError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    for line in report:
        print(line)
    print(f"convert_latte: {args.input} -> {args.output} ({args.to} layout, {count} tensors)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
