"""Pack the videos a metadata table lists (tools/scan_videos.py) into WebDataset tar shards for streaming
(``VideoShards``, walt/data/video_shards.py), optionally with each clip's cached latent and text features.

Each member holds the video file's bytes (``<key>.mp4``, ... under its own extension), its table row (``<key>.json``,
with ``index``: the row number) and, with ``--latents`` / ``--text-cache``, ``<key>.pth`` (``latent`` from a latent
cache written by tools/encode_latents.py from ``VideoTable`` over this table, aligned row for row; ``text_tokens``,
``text_mask``, ``text_pooled`` from tools/encode_text.py's cache, by caption). ``index.json``, written last, lists
the shards and their member counts. Rows whose file is missing are listed and left out. Training then reads::

    data = dict(train=dict(type="VideoShards", index="data/shards/index.json", num_frames=16, resolution=256))
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time

from tqdm import tqdm
from webdataset import TarWriter

from walt.data.latent_dataset import LatentDataset
from walt.data.listing import resolve_video_path
from walt.data.text_cache import TextEmbeddingCache
from walt.data.video_io import is_video_file
from walt.data.video_shards import SHARD_INDEX
from walt.data.video_table import read_table, table_root
from walt.utils.atomic import atomic_write

SHARD_PATTERN = "shard-{:06d}.tar"


def cached_features(rows: list[dict], latents: str | None, text_cache: str | None) -> list[dict]:
    """Per row, the ``.pth`` payload (empty without caches); ``ValueError`` when a cache does not fit the rows."""
    payloads: list[dict] = [{} for _ in rows]
    if latents is not None:
        cache = LatentDataset(latents)
        if len(cache) != len(rows):
            raise ValueError(f"latent cache {latents!r} holds {len(cache)} clips, the table {len(rows)} readable "
                             f"rows: encode VideoTable over this table (tools/encode_latents.py)")
        for i, (row, payload) in enumerate(zip(rows, payloads)):
            item = cache[i]
            if item.get("caption") not in (None, row["text"]):
                raise ValueError(f"latent cache {latents!r} item {i} has caption {item['caption']!r}, table row "
                                 f"{row['path']!r} has {row['text']!r}: the cache was not written from this table")
            payload["latent"] = item["latent"]
    if text_cache is not None:
        cache = TextEmbeddingCache(text_cache)
        for row, payload in zip(rows, payloads):
            payload.update(cache[row["text"]])
    return payloads


def make_shards(table: str, out: str, shard_size: int, *, root: str | None = None, shuffle_seed: int | None = None,
                latents: str | None = None, text_cache: str | None = None,
                progress: bool = True) -> tuple[dict, list[str]]:
    """Write the shards of ``table`` into ``out``; returns ``(the index, [missing files])``."""
    if shard_size < 1:
        raise ValueError(f"--shard-size must be >= 1, got {shard_size}")
    base, rows, missing = table_root(table, root), [], []
    for number, row in enumerate(read_table(table)):
        path = resolve_video_path(os.path.join(base, row["path"]))
        if path is None or not os.path.isfile(path) or not is_video_file(path):
            missing.append(os.path.join(base, row["path"]))
            continue
        rows.append(dict(row, index=number, file=path))
    if not rows:
        raise ValueError(f"{table!r}: none of its {len(missing)} rows names a readable video file")
    payloads = cached_features(rows, latents, text_cache)
    order = list(range(len(rows)))
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(order)
    os.makedirs(out, exist_ok=True)
    shards = []
    with tqdm(total=len(rows), desc="make_shards", unit="clip", disable=not progress) as bar:
        for start in range(0, len(order), shard_size):
            name = SHARD_PATTERN.format(len(shards))
            members = order[start:start + shard_size]
            with TarWriter(os.path.join(out, name + ".tmp"), mtime=0) as writer:
                for i in members:
                    row = rows[i]
                    with open(row["file"], "rb") as f:
                        video = f.read()
                    meta = {k: v for k, v in row.items() if k != "file"}
                    sample = {"__key__": f"{row['index']:09d}", "json": meta,
                              os.path.splitext(row["file"])[1][1:].lower(): video}
                    if payloads[i]:
                        sample["pth"] = payloads[i]
                    writer.write(sample)
                    bar.update(1)
            os.replace(os.path.join(out, name + ".tmp"), os.path.join(out, name))
            shards.append(dict(name=name, count=len(members)))
    fields = ["video"] + (["latent"] if latents else []) + (["text"] if text_cache else [])
    index = dict(version=1, shards=shards, total=len(rows), fields=fields, table=os.path.abspath(table))
    atomic_write(os.path.join(out, SHARD_INDEX), lambda f: f.write(json.dumps(index, indent=1).encode()))
    return index, missing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/make_shards.py data/demo/table.parquet --out data/demo_shards --shard-size 16 "
               "--shuffle 0")
    parser.add_argument("table", help="metadata table (.parquet or .csv) from tools/scan_videos.py")
    parser.add_argument("--out", required=True, help="shard folder to write (shard-000000.tar ..., index.json)")
    parser.add_argument("--shard-size", type=int, default=1000, help="members per shard (default: 1000)")
    parser.add_argument("--root", help="folder the table's relative paths start from (default: the table's folder)")
    parser.add_argument("--shuffle", type=int, default=None, metavar="SEED",
                        help="mix the rows before writing (readers shuffle whole shards, not members)")
    parser.add_argument("--latents", help="latent cache (tools/encode_latents.py of VideoTable over this table)")
    parser.add_argument("--text-cache", help="text feature cache (tools/encode_text.py)")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    start = time.time()
    try:
        index, missing = make_shards(args.table, args.out, args.shard_size, root=args.root, shuffle_seed=args.shuffle,
                                     latents=args.latents, text_cache=args.text_cache,
                                     progress=not args.no_progress)
    except (FileNotFoundError, ValueError, KeyError) as err:
        parser.exit(2, f"error: {err}\n")
    for path in missing:
        print(f"missing: {path}", file=sys.stderr)
    print(f"make_shards: {index['total']} clips in {len(index['shards'])} shards ({', '.join(index['fields'])}) -> "
          f"{args.out}, {len(missing)} missing rows left out in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
