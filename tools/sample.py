"""Sample videos from a trained latent diffusion model and write them as mp4 and gif.

Loads ``CONFIG`` (mmengine, ``_base_`` inheritance, ``--cfg-options``), builds ``cfg.model``, loads a trainer
checkpoint ``{model, ema, optimizer, scheduler, step, rng, config}`` (EMA weights by default), samples with any
registered sampler (the diffusion's own by default: DDIM, W.A.L.T's 50 steps with η = 0, for a ``GaussianDiffusion``;
Euler for a ``RectifiedFlow``), optionally extends the videos autoregressively (frame-prediction models),
decodes through the config's autoencoder and writes ``sample_XXX.mp4`` / ``.gif`` (and ``grid.mp4`` / ``grid.gif``
with ``--grid``) to ``--out``.
"""
from __future__ import annotations

import argparse
import inspect
import sys
import time
from pathlib import Path

import torch

from registry import SAMPLERS, registered_names
from walt.data.video_io import make_grid, write_gif, write_video
from walt.engine.errors import WaltError
from walt.engine.loading import load_model
from walt.models.generative.long_video import extend_video

EXAMPLE = """example:
  python tools/sample.py configs/demo/walt_demo.py --checkpoint work_dirs/walt_demo/latest \\
      --num 4 --steps 50 --class 0 1 2 3 --grid --out samples/ --seed 0
  python tools/sample.py configs/walt_t2v_base.py --checkpoint ckpt.pth --prompt "a red fox in snow" --cfg-scale 5
  python tools/sample.py configs/demo/walt_demo_rflow.py --checkpoint work_dirs/walt_demo_rflow/latest \\
      --sampler Heun --steps 10 --shift 2 --class 0 1 2 3
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="model config (.py)")
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint file, a work dir or its 'latest' file (the newest checkpoint)")
    p.add_argument("--num", type=int, default=4, help="number of videos")
    p.add_argument("--steps", type=int, default=50,
                   help="sampling steps (DDIM / DDPM: respaced from the 1000 training steps; Euler / Heun: ODE steps)")
    p.add_argument("--sampler", choices=registered_names(SAMPLERS), default=None,
                   help="DDIM / DDPM sample a GaussianDiffusion, Euler / Heun a RectifiedFlow (default: the "
                        "diffusion's own, DDIM or Euler)")
    p.add_argument("--eta", type=float, default=None, help="DDIM η (default 0: deterministic)")
    p.add_argument("--shift", type=float, default=None,
                   help="Euler / Heun: shift α of the time grid (SD3 Eq. 23; default: the diffusion's training shift)")
    p.add_argument("--cfg-scale", type=float, default=1.0, help="classifier-free guidance scale (1: off)")
    cond = p.add_mutually_exclusive_group()
    cond.add_argument("--class", dest="classes", type=int, nargs="+", help="class label(s): one, or one per video")
    cond.add_argument("--prompt", dest="prompts", nargs="+", help="text prompt(s): one, or one per video")
    p.add_argument("--extend", type=int, default=0, help="autoregressive chunks to append (frame-prediction models)")
    p.add_argument("--num-observed", type=int, default=2, help="latent frames each new chunk is conditioned on")
    p.add_argument("--out", default="samples", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", action="store_true", help="also write all videos tiled into grid.mp4 / grid.gif")
    p.add_argument("--fps", type=int, default=8)
    p.add_argument("--upscale", type=int, default=1,
                   help="enlarge the written videos N× (nearest neighbour), for viewing small samples")
    p.add_argument("--use-ema", dest="use_ema", action="store_true", default=True,
                   help="sample with the EMA weights (the default)")
    p.add_argument("--no-ema", dest="use_ema", action="store_false", help="sample with the raw training weights")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE", help="override config keys")
    return p.parse_args(argv)


def _per_video(values: list | None, num: int, what: str) -> list | None:
    if values is None or len(values) == num:
        return values
    if len(values) == 1:
        return values * num
    raise ValueError(f"--{what}: give one value or {num} (one per video), got {len(values)}")


def sampler_config(name: str, steps: int, eta: float | None = None, shift: float | None = None) -> dict:
    """The ``SAMPLERS`` config of ``name``; ``--eta`` / ``--shift`` only for a sampler that takes them."""
    params = inspect.signature(SAMPLERS.get(name)).parameters
    cfg = dict(type=name, num_steps=steps)
    for key, value in (("eta", eta), ("shift", shift)):
        if value is not None:
            if key not in params:
                raise ValueError(f"--{key} does not apply to the {name} sampler")
            cfg[key] = value
    return cfg


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.upscale < 1:
        raise ValueError(f"--upscale must be >= 1, got {args.upscale}")
    start = time.time()
    model, info = load_model(args.config, args.checkpoint, args.use_ema, args.cfg_options, args.device)
    classes = _per_video(args.classes, args.num, "class")
    prompts = _per_video(args.prompts, args.num, "prompt")
    generator = torch.Generator(args.device).manual_seed(args.seed)
    name = args.sampler or type(model.diffusion.default_sampler(args.steps)).__name__
    sampler = sampler_config(name, args.steps, args.eta, args.shift)
    y = torch.tensor(classes, device=args.device) if classes else None
    if y is None and getattr(model, "num_classes", None) is not None:
        # The random classes are drawn here, as model.sample would draw them (same generator, same draw), so that
        # the chunks of --extend continue each video's class: one class for the whole video.
        y = torch.randint(model.num_classes, (args.num,), generator=generator, device=args.device)
    kwargs = dict(y=y, prompts=prompts, steps=args.steps, cfg_scale=args.cfg_scale, sampler=sampler,
                  generator=generator, progress=not args.no_progress)
    videos = model.sample(args.num, **kwargs)
    if args.extend:
        videos = extend_video(model, videos, args.extend, args.num_observed, **kwargs)
    if args.upscale > 1:
        videos = videos.repeat_interleave(args.upscale, dim=-2).repeat_interleave(args.upscale, dim=-1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, video in enumerate(videos.cpu()):
        files += [write_video(out / f"sample_{i:03d}.mp4", video, args.fps),
                  write_gif(out / f"sample_{i:03d}.gif", video, args.fps)]
    if args.grid:
        grid = make_grid(videos.cpu())
        files += [write_video(out / "grid.mp4", grid, args.fps), write_gif(out / "grid.gif", grid, args.fps)]
    _, _, t, h, w = videos.shape
    print(f"sampled {args.num} videos of {t}x{h}x{w} with {name}-{args.steps} cfg {args.cfg_scale} "
          f"({info['weights']} weights, step {info['step']}) in {time.time() - start:.1f}s -> {out}/ "
          f"({len(files)} files)")
    return dict(files=[str(f) for f in files], shape=tuple(videos.shape), **info)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (WaltError, ValueError, KeyError) as err:
        sys.exit(f"error: {err}")
