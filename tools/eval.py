#!/usr/bin/env python
"""FVD (I3D features), FID and Inception Score (InceptionV3) of generated vs real videos/images.

Folders hold videos (mp4/gif/avi/..., or sub-folders of frames) and/or images (png/jpg). FVD uses the first
``--num-frames`` frames of each video resized to ``--i3d-size``²; FID uses every frame (and every image) resized to
``--inception-size``²; IS uses the generated frames. Feature networks load ONLY from local files: a state dict,
or ``{"config": {...}, "state_dict": {...}}`` whose config (e.g. ``{"width": 0.125}``) builds a tiny network;
``--feature-net-config`` JSON overrides it. See docs/evaluation.md for the protocols and weight conversion.

examples:
  python tools/eval.py --real data/ucf101_clips --fake work_dirs/walt_ucf/samples \\
      --i3d-weights weights/i3d_kinetics400.pt --inception-weights weights/pt_inception-2015-12-05.pt \\
      --max-samples 2048 --out fvd_report.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from walt.data.video_io import is_image_file, is_video_file, open_video, read_frames, read_image
from walt.evaluation.i3d import InceptionI3d
from walt.evaluation.inception import InceptionV3
from walt.evaluation.frechet import frechet_distance_from_features
from walt.evaluation.inception_score import inception_score


def list_media(folder: str, max_samples: int | None) -> tuple[list[str], list[str]]:
    """``(videos, images)`` in ``folder`` (sorted; frame sub-folders count as videos), each capped at max_samples."""
    if not os.path.isdir(folder):
        raise SystemExit(f"eval: {folder!r} is not a folder")
    entries = sorted(os.listdir(folder))
    videos = [os.path.join(folder, e) for e in entries
              if is_video_file(e) or os.path.isdir(os.path.join(folder, e))]
    images = [os.path.join(folder, e) for e in entries if is_image_file(e)]
    return videos[:max_samples], images[:max_samples]


def load_net(kind: str, path: str, override: dict[str, Any]) -> torch.nn.Module:
    """Build ``InceptionI3d`` / ``InceptionV3`` from a local weights file (no downloads)."""
    if not os.path.isfile(path):
        raise SystemExit(f"eval: --{kind}-weights file {path!r} not found (convert the weights locally, "
                         "see docs/evaluation.md)")
    blob = torch.load(path, map_location="cpu", weights_only=True)
    config, state = (blob.get("config", {}), blob["state_dict"]) if "state_dict" in blob else ({}, blob)
    config = {**config, **override}
    net = InceptionI3d(**config) if kind == "i3d" else InceptionV3(**config)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise SystemExit(f"eval: {path} does not match {type(net).__name__}({config}): missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return net.eval()


def _to_input(frames: np.ndarray, size: int) -> torch.Tensor:
    """``(T, H, W, 3)`` uint8 → ``(T, 3, size, size)`` float in ``[-1, 1]`` (bilinear resize)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def _all_frames(path: str) -> np.ndarray:
    video = open_video(path)
    return read_frames(video, list(range(len(video))))


@torch.no_grad()
def i3d_features(net: torch.nn.Module, videos: list[str], num_frames: int, size: int, batch: int) -> np.ndarray:
    """I3D features ``(N, D)`` of the first ``num_frames`` frames of each video."""
    device = next(net.parameters()).device
    feats, clips = [], []
    for i, path in enumerate(videos):
        video = open_video(path)
        if len(video) < num_frames:
            raise SystemExit(f"eval: {path} has {len(video)} frames, FVD needs {num_frames}")
        clips.append(_to_input(read_frames(video, list(range(num_frames))), size).transpose(0, 1))
        if len(clips) == batch or i == len(videos) - 1:
            feats.append(net(torch.stack(clips).to(device)).double().cpu().numpy())
            clips = []
    return np.concatenate(feats)


@torch.no_grad()
def inception_outputs(net: torch.nn.Module, videos: list[str], images: list[str], size: int,
                      batch: int) -> tuple[np.ndarray, np.ndarray]:
    """Pool features ``(N, D)`` and softmax probabilities ``(N, K)`` of every frame and image, one source at a time
    (memory stays at one video)."""
    device = next(net.parameters()).device
    feats, probs = [np.zeros((0, net.feature_dim))], [np.zeros((0, net.num_classes))]
    sources = [lambda v=v: _all_frames(v) for v in videos] + [lambda p=p: read_image(p) for p in images]
    for read in sources:
        for chunk in _to_input(read(), size).split(batch):
            f, logits = net(chunk.to(device))
            feats.append(f.double().cpu().numpy())
            probs.append(torch.softmax(logits.double(), dim=1).cpu().numpy())
    return np.concatenate(feats), np.concatenate(probs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--real", required=True, help="folder of real videos/images")
    parser.add_argument("--fake", required=True, help="folder of generated videos/images")
    parser.add_argument("--i3d-weights", default=None, help="local I3D weights (.pt); FVD is skipped without it")
    parser.add_argument("--inception-weights", default=None, help="local InceptionV3 weights (.pt) for FID and IS")
    parser.add_argument("--feature-net-config", default="{}", metavar="JSON",
                        help='overrides for both nets, e.g. {"width": 0.125}')
    parser.add_argument("--max-samples", type=int, default=None, help="use at most N videos/images per folder")
    parser.add_argument("--num-frames", type=int, default=16, help="frames per clip for FVD (16)")
    parser.add_argument("--i3d-size", type=int, default=224, help="I3D input resolution (224)")
    parser.add_argument("--inception-size", type=int, default=299, help="InceptionV3 input resolution (299)")
    parser.add_argument("--is-splits", type=int, default=10, help="Inception Score splits (10)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                        help="device of the feature networks (default: cuda when available)")
    parser.add_argument("--seed", type=int, default=0, help="torch seed (recorded; the metrics are deterministic)")
    parser.add_argument("--out", default=None, help="write the JSON report here (default: print it)")
    args = parser.parse_args(argv)
    torch.manual_seed(args.seed)
    override = json.loads(args.feature_net_config)
    start = time.perf_counter()
    real_v, real_i = list_media(args.real, args.max_samples)
    fake_v, fake_i = list_media(args.fake, args.max_samples)
    report: dict[str, Any] = dict(real=args.real, fake=args.fake, seed=args.seed, device=args.device,
                                  num_frames=args.num_frames,
                                  i3d_size=args.i3d_size, inception_size=args.inception_size,
                                  num_real_videos=len(real_v), num_fake_videos=len(fake_v),
                                  num_real_images=len(real_i), num_fake_images=len(fake_i))
    if args.i3d_weights and real_v and fake_v:
        net = load_net("i3d", args.i3d_weights, override).to(args.device)
        real = i3d_features(net, real_v, args.num_frames, args.i3d_size, args.batch_size)
        fake = i3d_features(net, fake_v, args.num_frames, args.i3d_size, args.batch_size)
        report.update(fvd=frechet_distance_from_features(real, fake), i3d_weights=args.i3d_weights,
                      i3d_config=dict(width=net.width, num_classes=net.num_classes, features=net.features))
    if args.inception_weights:
        net = load_net("inception", args.inception_weights, override).to(args.device)
        real_f, _ = inception_outputs(net, real_v, real_i, args.inception_size, args.batch_size)
        fake_f, fake_p = inception_outputs(net, fake_v, fake_i, args.inception_size, args.batch_size)
        report.update(num_real_frames=len(real_f), num_fake_frames=len(fake_f),
                      inception_weights=args.inception_weights,
                      inception_config=dict(width=net.width, num_classes=net.num_classes,
                                            fid_variant=net.fid_variant))
        if len(real_f) >= 2 and len(fake_f) >= 2:
            report["fid"] = frechet_distance_from_features(real_f, fake_f)
        if len(fake_p) >= args.is_splits:
            report["inception_score"], report["inception_score_std"] = inception_score(fake_p, args.is_splits)
    report["seconds"] = round(time.perf_counter() - start, 2)
    text = json.dumps(report, indent=2)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    found = ", ".join(f"{k} {report[k]:.3f}" for k in ("fvd", "fid", "inception_score") if k in report)
    print(f"eval: {len(fake_v)} fake / {len(real_v)} real videos, {len(fake_i)} / {len(real_i)} images: "
          f"{found or 'no metric computed (give --i3d-weights / --inception-weights)'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
