"""Convert LAVITA checkpoints between the public Latte layout and walt's (lavita.md; keys in latte_convert.py).

Example::

    python tools/convert_latte.py ffs.pt work_dirs/lavita_ffs_from_latte.pth --to walt
    python tools/convert_latte.py work_dirs/lavita_ffs/latest.pth latte_ffs.pt --to latte --num-frames 16

IN may be a bare state dict or a checkpoint dict holding one under ``ema`` (preferred) or ``model``; keys of a
whole walt model (``backbone.`` prefix) are reduced to the backbone. OUT is a bare state dict (walt: the
``LAVITA`` backbone's, load with ``backbone.load_state_dict``; Latte: what Latte's ``find_model`` accepts).
"""
from __future__ import annotations

import argparse

import torch

from walt.models.backbones.latte_convert import latte_to_walt, walt_to_latte


def _state_dict(obj: dict) -> dict:
    for key in ("ema", "model", "state_dict"):
        if isinstance(obj.get(key), dict):
            return obj[key]
    return obj


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", help="checkpoint or state dict to convert")
    parser.add_argument("output", help="where to write the converted state dict")
    parser.add_argument("--to", choices=("latte", "walt"), default="walt", help="target layout (default: walt)")
    parser.add_argument("--num-frames", type=int, default=16, help="frames of temp_embed when writing Latte (16)")
    parser.add_argument("--input-size", type=int, default=32, help="latent side for pos_embed when writing Latte (32)")
    args = parser.parse_args(argv)

    sd = _state_dict(torch.load(args.input, map_location="cpu", weights_only=True))
    sd = {k.removeprefix("module."): v for k, v in sd.items()}
    if any(k.startswith("backbone.") for k in sd):
        sd = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    if args.to == "walt":
        out = latte_to_walt(sd)
    else:
        patch = sd["patch_embed.proj.weight"].shape[-1]
        side = args.input_size // patch
        out = walt_to_latte(sd, args.num_frames, (side, side))
    torch.save(out, args.output)
    params = sum(v.numel() for v in out.values())
    print(f"convert_latte: {args.input} -> {args.output} ({args.to} layout, {len(out)} tensors, {params:,} values)")


if __name__ == "__main__":
    main()
