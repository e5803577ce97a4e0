"""FLOPs and activation memory of one training micro-batch of each shape bucket of a config (``tools/flops.py
--buckets``): the bucket's pixel shape, its latent and token grid, the micro-batch the token budget gives it
(``walt/data/buckets.py``), and the backbone's MACs and saved activations on that batch (meta device)."""
from __future__ import annotations

import argparse
import copy
from typing import Any

import torch

from walt.analysis.flops import human
from walt.analysis.report import analyse
from walt.data.buckets import batch_sizes, parse_buckets
from walt.models.generative.build import build_model
from walt.models.generative.clip_shapes import clip_token_counts


def bucket_reports(cfg: Any, backbone: torch.nn.Module, args: argparse.Namespace) -> list[dict[str, Any]]:
    """One report per bucket of ``cfg.data.train.buckets`` (``analyse``'s keys plus ``bucket``, ``tokens``,
    ``batch``); the micro-batch of the largest bucket is ``args.batch_size`` unless the config sets a
    ``token_budget``."""
    train = cfg.get("data", {}).get("train", {})
    if "buckets" not in train:
        raise ValueError("--buckets: the config has no data.train.buckets (a BucketedVideos dataset)")
    buckets = parse_buckets(train["buckets"], "data.train.buckets")
    with torch.device("meta"):
        model = build_model(cfg)
    tokens = clip_token_counts(model, buckets, "data.train.buckets")
    sizes = batch_sizes(tokens, train.get("token_budget") or args.batch_size * max(tokens))
    reports = []
    for bucket, count, size in zip(buckets, tokens, sizes):
        latent = model.autoencoder.latent_grid(*bucket)
        bucket_args = copy.copy(args)
        bucket_args.input_shape = (size, model.autoencoder.latent_channels, *latent)
        report = analyse(cfg, "backbone", backbone, bucket_args, memory=True)
        reports.append(dict(report, bucket=list(bucket), tokens=count, batch=size))
    return reports


def print_buckets(name: str, reports: list[dict[str, Any]]) -> None:
    unit = "FLOPs" if reports[0]["convention"] == "flop" else "MACs"
    print(f"{name}: one micro-batch per shape bucket (backbone forward; activations saved for backward)")
    print(f"{'bucket (T, H, W)':<20}{'latent input':<26}{'tokens/clip':>12}{'batch':>7}{'tokens/batch':>14}"
          f"{unit:>12}{'activations':>14}")
    for r in reports:
        print(f"{str(tuple(r['bucket'])):<20}{str(tuple(r['input_shape'])):<26}{r['tokens']:>12,}{r['batch']:>7}"
              f"{r['tokens'] * r['batch']:>14,}{human(r['flops']):>12}{r['activation_bytes'] / 2**30:>11.2f} GiB")
