"""Finding the files of a dataset: root checks, video files under other extensions, CSV annotation rows.

Datasets list their samples once at construction; a bad root fails there with the path named, and listed files
that are missing are dropped with one summary log line (downloads of Kinetics always miss some videos).
"""
from __future__ import annotations

import csv
import logging
import os

from walt.data.video_io import VIDEO_EXTENSIONS, is_video_file, natural_key

logger = logging.getLogger(__name__)


def check_root(root: str, dataset: str) -> str:
    """``root`` after checking that it exists (``FileNotFoundError`` naming it otherwise)."""
    if not os.path.exists(root):
        raise FileNotFoundError(f"{dataset}: data root {root!r} does not exist")
    return root


def resolve_video_path(path: str) -> str | None:
    """``path`` if it exists, else the same path with another video extension (UCF-101 lists ``.avi`` files that
    are often re-encoded to ``.mp4``), else ``None``."""
    if os.path.exists(path):
        return path
    stem = os.path.splitext(path)[0]
    for ext in VIDEO_EXTENSIONS:
        if os.path.exists(stem + ext):
            return stem + ext
    return None


def index_video_files(root: str) -> dict[str, str]:
    """Map file name without extension → path, for every video file under ``root`` (first in sorted order wins)."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort(key=natural_key)
        for name in sorted(filenames, key=natural_key):
            if is_video_file(name):
                found.setdefault(os.path.splitext(name)[0], os.path.join(dirpath, name))
    return found


def log_missing(dataset: str, listing: str, missing: list[str], total: int) -> None:
    """One warning for the ``missing`` of ``total`` files that ``listing`` names."""
    if missing:
        logger.warning("%s: %d of %d files listed in %s are missing and left out (first: %s)",
                       dataset, len(missing), total, listing, missing[0])


def read_csv_rows(path: str, required: list[list[str]], dataset: str) -> list[dict[str, str]]:
    """Rows of a CSV with a header. ``required``: alternatives, each a list of columns that must all be present
    (e.g. ``[["path"], ["youtube_id", "time_start", "time_end"]]``); ``ValueError`` naming the file otherwise."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{dataset}: annotation file {path!r} does not exist")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        reader.fieldnames = columns
        rows = [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    if not any(all(c in columns for c in option) for option in required):
        raise ValueError(f"{dataset}: {path!r} has columns {columns}; expected one of "
                         f"{' or '.join('+'.join(option) for option in required)}")
    return rows
