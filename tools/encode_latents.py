"""Encode a config's dataset once with its (frozen) autoencoder into a sharded latent cache, with per-channel latent
statistics for the latent normalisation (W.A.L.T §5.3). Layout: walt/data/latent_dataset.py.

Resumable: a shard whose ``shard_XXXXX.json`` exists is finished and skipped on a rerun; shards are written to a
temporary file and renamed. Diffusion training then reads the cache with::

    data = dict(train=dict(type="LatentDataset", root="data/ucf101_latents"))
    model = dict(autoencoder=dict(type="IdentityAutoencoder", latent_channels=8),
                 latent_norm=dict(stats="data/ucf101_latents/latent_stats.json"))
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from registry import AUTOENCODERS, DATASETS
from walt.data.latent_dataset import INDEX_FILE, STATS_FILE, shard_name
from walt.engine.config import load_config
from walt.models.autoencoders.latent_norm import LatentStats
from walt.utils.atomic import atomic_write

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _collate(items: list[dict]) -> dict:
    return dict(video=torch.stack([item["video"] for item in items]), label=[item.get("label") for item in items],
                caption=[item.get("caption") for item in items])


@torch.no_grad()
def encode_shard(autoencoder: torch.nn.Module, dataset, start: int, end: int, *, batch_size: int, num_workers: int,
                 device: str, dtype: torch.dtype, sample: bool, bf16: bool = False
                 ) -> tuple[list[torch.Tensor], list[dict], LatentStats]:
    """Latents, item metadata and statistics of dataset items ``[start, end)``."""
    loader = DataLoader(Subset(dataset, range(start, end)), batch_size=batch_size, num_workers=num_workers,
                        collate_fn=_collate)
    latents, items, stats = [], [], LatentStats(autoencoder.latent_channels)
    for batch in loader:
        video = batch["video"].to(device)
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            z = (autoencoder.encode(video, sample=True) if sample else autoencoder.encode(video)).float()
        stats.update(z)
        for i in range(z.shape[0]):
            latents.append(z[i].to("cpu", dtype).clone())
            label = batch["label"][i]
            items.append(dict(label=None if label is None else int(label), caption=batch["caption"][i],
                              shape=list(z.shape[1:])))
    return latents, items, stats


def encode_dataset(autoencoder: torch.nn.Module, dataset, out: str | Path, *, shard_size: int = 256,
                   batch_size: int = 8, num_workers: int = 0, device: str = "cpu", dtype: torch.dtype = torch.float32,
                   sample: bool = False, bf16: bool = False, meta: dict | None = None, progress: bool = True) -> dict:
    """Write the cache of ``dataset`` to ``out`` (skipping finished shards); returns ``dict(items, shards,
    skipped, stats)``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    num_shards = (len(dataset) + shard_size - 1) // shard_size
    shards, index_items, total, skipped = [], [], LatentStats(autoencoder.latent_channels), 0
    with tqdm(total=len(dataset), desc="encode_latents", unit="clip", disable=not progress) as bar:
        for k in range(num_shards):
            start, end = k * shard_size, min((k + 1) * shard_size, len(dataset))
            pt_path, meta_path = out / shard_name(k), (out / shard_name(k)).with_suffix(".json")
            if meta_path.is_file() and pt_path.is_file():
                shard_meta = json.loads(meta_path.read_text())
                if shard_meta["start"] != start or len(shard_meta["items"]) != end - start:
                    raise ValueError(f"encode_latents: {meta_path} covers items from {shard_meta['start']} "
                                     f"({len(shard_meta['items'])} items), expected [{start}, {end}); the cache in "
                                     f"{out} was written with another --shard-size or dataset")
                skipped += 1
            else:
                latents, items, stats = encode_shard(autoencoder, dataset, start, end, batch_size=batch_size,
                                                     num_workers=num_workers, device=device, dtype=dtype,
                                                     sample=sample, bf16=bf16)
                atomic_write(pt_path, lambda f: torch.save(dict(latents=latents, start=start), f))
                shard_meta = dict(start=start, items=items, stats=stats.state_dict())
                atomic_write(meta_path, lambda f: f.write(json.dumps(shard_meta).encode()))
            shards.append(pt_path.name)
            total.merge(LatentStats.from_state_dict(shard_meta["stats"]))
            index_items += [dict(shard=k, offset=i, **item) for i, item in enumerate(shard_meta["items"])]
            bar.update(end - start)
    stats = total.save(out / STATS_FILE)
    index = dict(version=1, shards=shards, items=index_items, **(meta or {}))
    atomic_write(out / INDEX_FILE, lambda f: f.write(json.dumps(index).encode()))
    return dict(items=len(index_items), shards=len(shards), skipped=skipped, stats=stats)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/encode_latents.py configs/autoencoder/causal_vae_ucf.py --out "
               "data/ucf101_latents --checkpoint work_dirs/causal_vae_ucf")
    parser.add_argument("config", help="config with model.autoencoder and data.<split>")
    parser.add_argument("--out", required=True, help="cache directory (created; finished shards are kept)")
    parser.add_argument("--split", default="train", help="which data.<split> dataset to encode (default: train)")
    parser.add_argument("--checkpoint", help="autoencoder weights (sets model.autoencoder.pretrained)")
    parser.add_argument("--shard-size", type=int, default=256, help="items per shard file (default: 256)")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--limit", type=int, help="encode only the first N items")
    parser.add_argument("--sample", action="store_true", help="store posterior samples instead of means")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                        help="storage precision (float32 keeps cached = on-the-fly exactly)")
    parser.add_argument("--bf16", action="store_true", help="encode under bf16 autocast (faster, ~1e-2 latent error)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    cfg = load_config(args.config, args.cfg_options)
    ae_cfg = cfg.model.get("autoencoder")
    if ae_cfg is None:
        raise KeyError(f"{args.config}: model.autoencoder is not set; nothing to encode with")
    if args.split not in cfg.data:
        raise KeyError(f"{args.config}: data.{args.split} does not exist (data keys: {sorted(cfg.data)})")
    ae_cfg = ae_cfg.to_dict()
    if args.checkpoint:
        ae_cfg["pretrained"] = args.checkpoint
    start = time.time()
    autoencoder = AUTOENCODERS.build(ae_cfg).to(args.device).eval().requires_grad_(False)
    dataset = DATASETS.build(cfg.data[args.split])
    if args.limit is not None:
        dataset = Subset(dataset, range(min(args.limit, len(dataset))))
    meta = dict(autoencoder=ae_cfg, source=dict(config=str(args.config), split=args.split, sample=args.sample,
                                                bf16=args.bf16))
    result = encode_dataset(autoencoder, dataset, args.out, shard_size=args.shard_size, batch_size=args.batch_size,
                            num_workers=args.num_workers, device=args.device, dtype=DTYPES[args.dtype],
                            sample=args.sample, bf16=args.bf16, meta=meta, progress=not args.no_progress)
    print(f"encode_latents: {result['items']} items in {result['shards']} shards ({result['skipped']} resumed) "
          f"with {ae_cfg['type']} -> {args.out} (stats: {STATS_FILE}) in {time.time() - start:.1f}s")
    return result


if __name__ == "__main__":
    try:
        main()
    except (KeyError, ValueError, OSError) as err:  # a bad config, a missing file, a clip off the VAE's frame grid
        sys.exit(f"error: {err.args[0] if isinstance(err, KeyError) and err.args else err}")
