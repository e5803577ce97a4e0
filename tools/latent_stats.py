"""Recompute the per-channel latent statistics (``latent_stats.json``, W.A.L.T §5.3 latent normalisation) of a latent
cache written by ``tools/encode_latents.py`` (which writes them too), e.g. after merging or editing shards."""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from tqdm import tqdm

from walt.data.latent_dataset import INDEX_FILE, STATS_FILE
from walt.models.autoencoders.latent_norm import LatentStats


def cache_stats(root: str | Path, progress: bool = True) -> LatentStats:
    """Per-channel statistics over every latent of the cache at ``root``."""
    root = Path(root)
    index_path = root / INDEX_FILE
    if not index_path.is_file():
        raise FileNotFoundError(f"latent_stats: {index_path} does not exist (write the cache with encode_latents)")
    stats = None
    for name in tqdm(json.loads(index_path.read_text())["shards"], desc="latent_stats", disable=not progress):
        for z in torch.load(root / name, map_location="cpu", weights_only=True)["latents"]:
            stats = stats or LatentStats(z.shape[0])
            stats.update(z[None])
    if stats is None:
        raise ValueError(f"latent_stats: the cache {root} holds no latents")
    return stats


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/latent_stats.py data/ucf101_latents  # writes data/ucf101_latents/"
               "latent_stats.json")
    parser.add_argument("root", help="latent cache directory (with index.json)")
    parser.add_argument("--out", help=f"statistics file (default: ROOT/{STATS_FILE})")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    start = time.time()
    out = args.out or str(Path(args.root) / STATS_FILE)
    result = cache_stats(args.root, progress=not args.no_progress).save(out)
    print(f"latent_stats: {result['latent_channels']} channels over {result['count']} values per channel -> {out} "
          f"(mean |mu| {sum(abs(m) for m in result['mean']) / len(result['mean']):.4f}, "
          f"mean std {sum(result['std']) / len(result['std']):.4f}) in {time.time() - start:.1f}s")
    return result


if __name__ == "__main__":
    main()
