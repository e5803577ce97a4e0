"""Text-to-video with the W.A.L.T cascade (§4.5, §5.3): a base stage samples latents from a prompt, each
super-resolution stage samples the next 2× latent conditioned on the previous stage's latent (upsampled inside the
backbone by depth-to-space, noise-augmented to level ``t_sr``), and the last latent is decoded and written as mp4
and gif. Stages are built one at a time from their config + checkpoint (EMA weights by default), so only one
stage's model is in memory at once.

W.A.L.T: base 17×128×224 (configs/walt_t2v_base_9x16.py) → 17×256×448 (walt_t2v_sr1.py) → 17×512×896
(walt_t2v_sr2.py), classifier-free guidance in every stage (the scales are not stated in the paper).
"""
from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import torch

from walt.data.video_io import write_gif, write_video
from walt.engine.loading import load_model


def per_stage(values: list, n: int, name: str) -> list:
    """One value per stage: a single value is repeated, otherwise exactly ``n`` values are required."""
    if len(values) == 1:
        return values * n
    if len(values) != n:
        raise ValueError(f"{name}: give 1 value or one per stage ({n}), got {len(values)}")
    return values


def slug(text: str, limit: int = 48) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:limit] or "video"


@torch.no_grad()
def run_cascade(stages: list[tuple[str, str]], prompts: list[str], *, steps: list[int], cfg_scales: list[float],
                sr_noise_levels: list[int], seed: int = 0, device: str = "cpu", use_ema: bool = True,
                progress: bool = False) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Videos ``(N, 3, T, H, W)`` in ``[-1, 1]`` for ``prompts`` and the latent of every stage (unnormalized).
    ``stages``: ``(config, checkpoint)`` of the base stage, then of each super-resolution stage."""
    generator = torch.Generator(device).manual_seed(seed)
    latents: list[torch.Tensor] = []
    for i, (config, checkpoint) in enumerate(stages):
        model, _ = load_model(config, checkpoint, use_ema=use_ema, device=device)
        if (i > 0) != bool(model.super_resolution):
            raise ValueError(f"stage {i} ({config}): the first stage must be a base model and every later one a "
                             f"super-resolution model (super_resolution={model.super_resolution})")
        extra = dict(lowres=latents[-1], t_sr=sr_noise_levels[i - 1]) if i > 0 else {}
        latents.append(model.sample(len(prompts), prompts=prompts, steps=steps[i], cfg_scale=cfg_scales[i],
                                    generator=generator, decode=False, progress=progress, **extra))
        if i == len(stages) - 1:
            video = model.autoencoder.decode(latents[-1]).float().clamp(-1.0, 1.0)
        del model
    return video, latents


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example:\n  python tools/sample_cascade.py --prompt 'a red square moving left' \\\n"
               "      --configs configs/demo/walt_t2v_demo.py configs/demo/walt_t2v_sr_demo.py \\\n"
               "      --checkpoints work_dirs/walt_t2v_demo work_dirs/walt_t2v_sr_demo --cfg-scale 3 3 --steps 25 \\\n"
               "      --out samples/cascade")
    parser.add_argument("--prompt", nargs="+", required=True, help="one or more prompts (one video each)")
    parser.add_argument("--configs", nargs="+", required=True, help="base config, then one per SR stage")
    parser.add_argument("--checkpoints", nargs="+", required=True,
                        help="one checkpoint file or work dir (its latest) per config")
    parser.add_argument("--cfg-scale", type=float, nargs="+", default=[1.0],
                        help="classifier-free guidance scale, one value or one per stage (default 1)")
    parser.add_argument("--steps", type=int, nargs="+", default=[50], help="DDIM steps, one or per stage (50)")
    parser.add_argument("--sr-noise-level", type=int, nargs="+", default=[0],
                        help="noise-conditioning augmentation level t_sr of the low-resolution input, one value or "
                             "one per SR stage (default 0: the previous stage's latent as is)")
    parser.add_argument("--no-ema", action="store_true", help="use the training weights instead of the EMA")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fps", type=int, default=8, help="frames per second of the written videos (W.A.L.T: 8)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", default="samples/cascade", help="output folder")
    parser.add_argument("--progress", action="store_true", help="show a progress bar per stage")
    args = parser.parse_args(argv)
    if len(args.configs) != len(args.checkpoints):
        parser.error(f"--configs has {len(args.configs)} entries, --checkpoints {len(args.checkpoints)}")
    n = len(args.configs)
    start = time.time()
    video, latents = run_cascade(
        list(zip(args.configs, args.checkpoints)), args.prompt, steps=per_stage(args.steps, n, "--steps"),
        cfg_scales=per_stage(args.cfg_scale, n, "--cfg-scale"),
        sr_noise_levels=per_stage(args.sr_noise_level, max(n - 1, 1), "--sr-noise-level"), seed=args.seed,
        device=args.device, use_ema=not args.no_ema, progress=args.progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, prompt in enumerate(args.prompt):
        name = f"{i:02d}_{slug(prompt)}"
        write_video(out / f"{name}.mp4", video[i], fps=args.fps)
        write_gif(out / f"{name}.gif", video[i], fps=args.fps)
    shapes = " -> ".join("x".join(str(s) for s in z.shape[2:]) for z in latents)
    print(f"sample_cascade: {len(args.prompt)} video(s) {tuple(video.shape[2:])} through {n} stage(s) "
          f"(latents {shapes}) -> {out} in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
