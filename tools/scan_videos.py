"""Probe every video under a folder into an Open-Sora-style metadata table (walt/data/video_table.py): one row per
video file or frame folder with ``path`` (relative to the table's folder), ``text``, ``num_frames``, ``height``,
``width``, ``fps`` and, with ``--label-from-folder``, ``label``.

Probing runs in a pool of worker processes with a progress bar; a file that cannot be read is listed (with the
decoder's reason) and left out of the table, the scan goes on. Captions come from ``--captions`` (a CSV with
``path`` and ``caption`` or ``text`` columns, paths relative to ROOT), else ``text`` is empty.
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

from tqdm import tqdm

from walt.data.video_folder import find_videos
from walt.data.video_table import probe_columns, write_table


def read_captions(path: str) -> dict[str, str]:
    """``{path: caption}`` of a CSV with ``path`` and ``caption`` (or ``text``) columns."""
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        column = next((c for c in ("caption", "text") if c in (reader.fieldnames or [])), None)
        if "path" not in (reader.fieldnames or []) or column is None:
            raise ValueError(f"{path}: expected columns path and caption (or text), got {reader.fieldnames}")
        return {os.path.normpath(row["path"]): row[column] for row in reader}


def scan(root: str, out: str, workers: int = 2, captions: dict[str, str] | None = None,
         label_from_folder: bool = False, progress: bool = True) -> tuple[list[dict], list[tuple[str, str]]]:
    """Probe the videos under ``root``, write the table ``out``; returns ``(rows, [(path, reason) unreadable])``."""
    paths = find_videos(root)
    if not paths:
        raise FileNotFoundError(f"no video files or frame folders under {root!r}")
    classes = sorted({os.path.relpath(p, root).split(os.sep)[0] for p in paths if os.sep in os.path.relpath(p, root)})
    table_dir = os.path.dirname(os.path.abspath(out))
    rows, unreadable = [], []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        results = pool.map(probe_columns, paths, chunksize=max(1, len(paths) // (16 * workers)))
        for path, result in tqdm(zip(paths, results), total=len(paths), desc="scan_videos", unit="video",
                                 disable=not progress):
            if isinstance(result, str):
                unreadable.append((path, result))
                continue
            relative = os.path.normpath(os.path.relpath(path, root))
            row = dict(path=os.path.relpath(os.path.abspath(path), table_dir),
                       text=(captions or {}).get(relative, ""), **result)
            if label_from_folder:
                if os.sep not in relative:
                    raise ValueError(f"--label-from-folder: {path!r} is not inside a class folder of {root!r}")
                row["label"] = classes.index(relative.split(os.sep)[0])
            rows.append(row)
    write_table(rows, out)
    return rows, unreadable


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/scan_videos.py data/demo --out data/demo/table.parquet "
               "--captions data/demo/captions.csv --label-from-folder")
    parser.add_argument("root", help="folder to scan (video files and frame folders, at any depth)")
    parser.add_argument("--out", required=True, help="table to write: .parquet or .csv")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="probing processes")
    parser.add_argument("--captions", help="CSV with path,caption rows (paths relative to ROOT) for the text column")
    parser.add_argument("--label-from-folder", action="store_true",
                        help="label = index of the first-level folder under ROOT in sorted order")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.root):
        parser.exit(2, f"error: {args.root!r} is not a folder\n")
    if not args.out.endswith((".parquet", ".csv")):
        parser.exit(2, f"error: --out {args.out!r} must end in .parquet or .csv\n")
    start = time.time()
    try:
        captions = read_captions(args.captions) if args.captions else None
        rows, unreadable = scan(args.root, args.out, max(1, args.workers), captions, args.label_from_folder,
                                progress=not args.no_progress)
    except (FileNotFoundError, ValueError) as err:
        parser.exit(2, f"error: {err}\n")
    for path, reason in unreadable:
        print(f"unreadable: {path}: {reason}", file=sys.stderr)
    print(f"scan_videos: {len(rows)} videos -> {args.out}, {len(unreadable)} unreadable (listed above) "
          f"in {time.time() - start:.1f}s")


if __name__ == "__main__":
    main()
