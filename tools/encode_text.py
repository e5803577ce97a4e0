"""Precompute the text-encoder outputs of a dataset's captions into a cache file (walt/data/text_cache.py).

Training then wraps the dataset in ``CachedTextDataset`` and never runs T5-XL / CLIP (W.A.L.T §4.5, LAVITA §4.4)::

    data = dict(train=dict(type="CachedTextDataset", dataset=<the dataset>, cache="data/webvid/text_t5.pt"))

Captions come from ``--captions FILE.csv`` (column ``caption``) or from the config's ``data.train`` dataset.
"""
from __future__ import annotations

import argparse
import csv
import time

import torch

from registry import DATASETS, TEXT_ENCODERS
from walt.data.text_cache import dataset_captions, encode_text_cache
from walt.engine.config import load_config

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def read_caption_csv(path: str, column: str = "caption") -> list[str]:
    """The ``column`` of a CSV file with a header row."""
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise KeyError(f"{path}: no column {column!r} (columns: {reader.fieldnames})")
        return [row[column] for row in reader]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/encode_text.py configs/demo/walt_t2v_demo.py --out data/demo/text_minilm.pt")
    parser.add_argument("config", help="config whose model.text_encoder (and data.train) to use")
    parser.add_argument("--out", required=True, help="cache file to write")
    parser.add_argument("--captions", help="CSV file with a 'caption' column instead of the config's dataset")
    parser.add_argument("--column", default="caption", help="caption column of --captions")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="float32",
                        help="storage precision (float32 keeps cached = on-the-fly exactly)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    cfg = load_config(args.config, args.cfg_options)
    if cfg.model.get("text_encoder") is None:
        raise KeyError(f"{args.config}: model.text_encoder is not set; nothing to encode")
    captions = (read_caption_csv(args.captions, args.column) if args.captions
                else dataset_captions(DATASETS.build(cfg.data.train)))
    start = time.time()
    encoder = TEXT_ENCODERS.build(cfg.model.text_encoder).to(args.device)
    stored = encode_text_cache(encoder, captions, args.out, batch_size=args.batch_size, dtype=DTYPES[args.dtype],
                               encoder_config=cfg.model.text_encoder.to_dict())
    print(f"encode_text: {len(captions)} captions ({stored} unique) with {cfg.model.text_encoder.type} "
          f"(dim {encoder.dim}) -> {args.out} in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
