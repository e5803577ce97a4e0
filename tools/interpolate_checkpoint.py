"""Prepare a W.A.L.T checkpoint for aspect-ratio finetuning (W.A.L.T §4.5, App. A): rebuild the backbone of
CONFIG, load the checkpoint's model and EMA weights, move them to a new latent size with
``WALT.interpolate_pos_embed`` (windows scaled with the grid, absolute and relative position embeddings
interpolated) and write a checkpoint that ``tools/train.py --load-from`` reads into the new-size config.
``--video-size`` is the new clip size in pixels (the config's ``model.video_size`` of the finetuning config); the
latent size follows from the autoencoder, as in training.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from walt.engine.checkpoint import load_checkpoint
from walt.engine.config import load_config
from walt.models.generative.build import build_backbone, build_model

PREFIX = "backbone."


def interpolate_weights(backbone: torch.nn.Module, weights: dict[str, torch.Tensor],
                        input_size: tuple[int, int, int]) -> dict[str, torch.Tensor]:
    """``weights`` (a LatentDiffusion state dict or EMA shadow, keys ``backbone.*`` plus others) with the backbone
    entries moved to ``input_size``; other entries are kept as they are."""
    own = {k[len(PREFIX):]: v for k, v in weights.items() if k.startswith(PREFIX)}
    if not own:
        raise KeyError(f"interpolate_checkpoint: no '{PREFIX}*' weights in the checkpoint")
    result = backbone.load_state_dict(own, strict=False)
    if result.unexpected_keys:
        raise KeyError(f"interpolate_checkpoint: checkpoint keys not in the backbone: {result.unexpected_keys[:5]}")
    backbone.interpolate_pos_embed(input_size)
    new = backbone.state_dict()
    out = {k: v for k, v in weights.items() if not k.startswith(PREFIX)}
    out.update({PREFIX + k: new[k].clone() for k in own})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/interpolate_checkpoint.py configs/walt_t2v_base.py "
               "work_dirs/walt_t2v_base/latest.pth --video-size 17 128 224 --out base_9x16_init.pth")
    parser.add_argument("config", help="config the checkpoint was trained with")
    parser.add_argument("checkpoint", help="trainer checkpoint {model, ema, ...}")
    parser.add_argument("--video-size", type=int, nargs=3, required=True, metavar=("T", "H", "W"),
                        help="new clip size in pixels, e.g. 17 128 224 (latents 5×16×28 with the causal VAE)")
    parser.add_argument("--out", required=True, help="checkpoint to write (model and EMA weights only)")
    args = parser.parse_args(argv)
    start = time.time()
    cfg = load_config(args.config)
    state = load_checkpoint(args.checkpoint)
    # the latent size of the new clips, from the autoencoder (a backbone built for them refuses the old windows)
    with torch.device("meta"):
        input_size = tuple(build_model(cfg).autoencoder.latent_grid(*args.video_size))
    out = {key: interpolate_weights(build_backbone(cfg.model, "cpu"), state[key], input_size)
           for key in ("model", "ema") if state.get(key) is not None}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(out, args.out)
    print(f"interpolate_checkpoint: {args.checkpoint} -> {args.out} at latent size {input_size} "
          f"({len(out['model'])} tensors{', with EMA' if 'ema' in out else ''}) in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
