"""Sample videos from a trained latent diffusion model and write them as mp4 and gif.

Loads ``CONFIG`` (mmengine, ``_base_`` inheritance, ``--cfg-options``), builds ``cfg.model``, loads a trainer
checkpoint ``{model, ema, optimizer, scheduler, step, rng, config}`` (EMA weights by default) or public weights
(an original Latte checkpoint, bare or ``{ema, model}``; a diffusers ``LatteTransformer3DModel`` folder or
``.safetensors``; the layout is told from the keys and checked against the config), samples with any registered
sampler (the config's ``sample.sampler``, else the diffusion's own: DDIM, W.A.L.T's 50 steps with η = 0, for a
``GaussianDiffusion``; Euler for a ``RectifiedFlow``), optionally extends the videos autoregressively
(frame-prediction models), decodes through the config's autoencoder and writes ``sample_XXX.mp4`` / ``.gif`` (and
``grid.mp4`` / ``grid.gif`` with ``--grid``) to ``--out``. ``--steps``, ``--cfg-scale`` and ``--fps`` default to the
config's ``sample`` section (``configs/pretrained/*`` reproduce the public Latte sampling setups there), and so do
the inference switches ``sample.compile`` (frozen-weight inductor compile) and ``sample.cache`` (TeaCache step
caching; the skipped network calls are printed), e.g. ``--cfg-options sample.cache.type=TeaCache``.
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
from walt.engine.config import load_config
from walt.engine.errors import WaltError
from walt.engine.loading import load_model
from walt.engine.lora_run import apply_lora_checkpoint
from walt.models.generative.inference import sample_switches
from walt.models.generative.long_video import extend_video
from walt.utils.allocator import keep_freed_memory

EXAMPLE = """example:
  python tools/sample.py configs/demo/walt_demo.py --checkpoint work_dirs/walt_demo/latest \\
      --num 4 --steps 50 --class 0 1 2 3 --grid --out samples/ --seed 0
  python tools/sample.py configs/walt_t2v_base.py --checkpoint ckpt.pth --prompt "a red fox in snow" --cfg-scale 5
  python tools/sample.py configs/demo/walt_demo_rflow.py --checkpoint work_dirs/walt_demo_rflow/latest \\
      --sampler Heun --steps 10 --shift 2 --class 0 1 2 3
  python tools/sample.py configs/pretrained/latte_ffs.py --checkpoint ffs.pt
  python tools/sample.py configs/demo/walt_demo.py --checkpoint work_dirs/walt_demo --sampler DPMSolverPP --steps 20 \
      --cfg-options sample.compile=True sample.cache.type=TeaCache sample.cache.threshold=0.1
  python tools/sample.py configs/pretrained/latte_t2v.py --checkpoint checkpoints/Latte-1/transformer \\
      --prompt "Yellow and black tropical fish dart through the sea."
  python tools/sample.py configs/finetune/latte1_t2v_lora.py --checkpoint checkpoints/Latte-1/transformer \
      --lora work_dirs/latte1_t2v_lora --lora-scale 1.0 --prompt "a timelapse of my garden"
"""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=EXAMPLE,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="model config (.py)")
    p.add_argument("--checkpoint", required=True,
                   help="checkpoint file, a work dir or its 'latest' file (the newest checkpoint), or public weights "
                        "(Latte .pt, diffusers Latte folder or .safetensors)")
    p.add_argument("--partial", action="store_true",
                   help="public weights may hold more than the model uses (e.g. the spatial blocks of a video "
                        "checkpoint for an image-mode config, LAVITA App. A.4); the unused keys are listed")
    p.add_argument("--lora", metavar="FILE",
                   help="LoRA adapters (a LoRA run's checkpoint or work dir) to apply to the --checkpoint weights, "
                        "which must be the base they were trained on (SHA-256 checked)")
    p.add_argument("--lora-scale", type=float, default=1.0,
                   help="multiply the adapters' update by this (0: the base model, 1: as trained; default 1)")
    p.add_argument("--num", type=int, default=4, help="number of videos")
    p.add_argument("--steps", type=int, default=None,
                   help="sampling steps (DDIM / DDPM: respaced from the 1000 training steps; Euler / Heun: ODE "
                        "steps; default: the config's sample.steps, else 50)")
    p.add_argument("--sampler", choices=registered_names(SAMPLERS), default=None,
                   help="DDIM / DDPM sample a GaussianDiffusion, Euler / Heun a RectifiedFlow, DPMSolverPP / "
                        "DPMSolverSDE / UniPC either (diffusers' solvers; default: the config's sample.sampler, "
                        "else the diffusion's own, DDIM or Euler)")
    p.add_argument("--eta", type=float, default=None, help="DDIM η (default 0: deterministic)")
    p.add_argument("--shift", type=float, default=None,
                   help="Euler / Heun: shift α of the time grid (SD3 Eq. 23; default: the diffusion's training shift)")
    p.add_argument("--cfg-scale", type=float, default=None,
                   help="classifier-free guidance scale (1: off; default: the config's sample.cfg_scale, else 1)")
    cond = p.add_mutually_exclusive_group()
    cond.add_argument("--class", dest="classes", type=int, nargs="+", help="class label(s): one, or one per video")
    cond.add_argument("--prompt", dest="prompts", nargs="+", help="text prompt(s): one, or one per video")
    p.add_argument("--extend", type=int, default=0, help="autoregressive chunks to append (frame-prediction models)")
    p.add_argument("--num-observed", type=int, default=2, help="latent frames each new chunk is conditioned on")
    p.add_argument("--out", default="samples", help="output directory")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--grid", action="store_true", help="also write all videos tiled into grid.mp4 / grid.gif")
    p.add_argument("--fps", type=int, default=None, help="frames per second (default: the config's sample.fps, else 8)")
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


def sampler_config(name: str | dict, steps: int, eta: float | None = None, shift: float | None = None) -> dict:
    """The ``SAMPLERS`` config of ``name`` (a name, or a config's ``sample.sampler`` dict); ``--eta`` / ``--shift``
    only for a sampler that takes them."""
    cfg = dict(name, num_steps=steps) if isinstance(name, dict) else dict(type=name, num_steps=steps)
    name = cfg["type"]
    params = inspect.signature(SAMPLERS.get(name)).parameters
    for key, value in (("eta", eta), ("shift", shift)):
        if value is not None:
            if key not in params:
                raise ValueError(f"--{key} does not apply to the {name} sampler")
            cfg[key] = value
    return cfg


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    keep_freed_memory()
    if args.upscale < 1:
        raise ValueError(f"--upscale must be >= 1, got {args.upscale}")
    start = time.time()
    defaults = dict(load_config(args.config, args.cfg_options).get("sample") or {})
    steps = args.steps or int(defaults.get("steps") or 50)
    cfg_scale = args.cfg_scale if args.cfg_scale is not None else float(defaults.get("cfg_scale") or 1.0)
    fps = args.fps or int(defaults.get("fps") or 8)
    model, info = load_model(args.config, args.checkpoint, args.use_ema, args.cfg_options, args.device, args.partial)
    if args.lora:
        settings = apply_lora_checkpoint(model, args.lora, args.checkpoint, args.use_ema, args.lora_scale)
        model.to(args.device)
        info["report"].append(f"LoRA adapters {args.lora} (r={settings.r}, {', '.join(settings.target)}) applied "
                              f"with scale {args.lora_scale}")
    for line in info["report"]:
        print(line)
    classes = _per_video(args.classes, args.num, "class")
    prompts = _per_video(args.prompts, args.num, "prompt")
    generator = torch.Generator(args.device).manual_seed(args.seed)
    sampler = sampler_config(args.sampler or defaults.get("sampler")
                             or type(model.diffusion.default_sampler(steps)).__name__, steps, args.eta, args.shift)
    name = sampler["type"]
    y = torch.tensor(classes, device=args.device) if classes else None
    if y is None and getattr(model, "num_classes", None) is not None:
        # The random classes are drawn here, as model.sample would draw them (same generator, same draw), so that
        # the chunks of --extend continue each video's class: one class for the whole video.
        y = torch.randint(model.num_classes, (args.num,), generator=generator, device=args.device)
    switches = sample_switches(defaults)
    kwargs = dict(y=y, prompts=prompts, steps=steps, cfg_scale=cfg_scale, sampler=sampler,
                  generator=generator, progress=not args.no_progress, **switches)
    tic = time.time()
    videos = model.sample(args.num, **kwargs)
    if args.extend:
        videos = extend_video(model, videos, args.extend, args.num_observed, **kwargs)
    seconds = time.time() - tic
    if switches["cache"] is not None:
        print(switches["cache"].report())
    if args.upscale > 1:
        videos = videos.repeat_interleave(args.upscale, dim=-2).repeat_interleave(args.upscale, dim=-1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for i, video in enumerate(videos.cpu()):
        files += [write_video(out / f"sample_{i:03d}.mp4", video, fps),
                  write_gif(out / f"sample_{i:03d}.gif", video, fps)]
    if args.grid:
        grid = make_grid(videos.cpu())
        files += [write_video(out / "grid.mp4", grid, fps), write_gif(out / "grid.gif", grid, fps)]
    _, _, t, h, w = videos.shape
    print(f"sampled {args.num} videos of {t}x{h}x{w} with {name}-{steps} cfg {cfg_scale} "
          f"({info['weights']} weights, step {info['step']}{', compiled' if switches['compile'] else ''}) in "
          f"{time.time() - start:.1f}s ({seconds:.1f}s sampling) -> {out}/ ({len(files)} files)")
    return dict(files=[str(f) for f in files], shape=tuple(videos.shape), sampling_seconds=seconds, **info)


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except (WaltError, ValueError, KeyError) as err:
        sys.exit(f"error: {err}")
