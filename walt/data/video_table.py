"""Metadata tables (Open-Sora's format): one row per video with ``path``, ``text``, ``num_frames``, ``height``,
``width``, ``fps`` and an optional integer ``label``, stored as CSV or parquet (``pyarrow``).

``tools/scan_videos.py`` writes such a table by probing a folder; ``VideoTable`` trains on one;
``tools/make_shards.py`` packs one into tar shards (walt/data/video_shards.py). Relative paths are relative to the
table's folder unless the dataset names a ``root``.
"""
from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from registry import DATASETS
from walt.data.listing import log_missing, resolve_video_path
from walt.data.video_dataset import VideoDataset, VideoSample
from walt.data.video_io import VideoReadError, probe_video

REQUIRED_COLUMNS = ("path", "text", "num_frames", "height", "width", "fps")
COLUMN_TYPES = {"path": pa.string(), "text": pa.string(), "num_frames": pa.int64(), "height": pa.int64(),
                "width": pa.int64(), "fps": pa.float64(), "label": pa.int64()}
TABLE_FORMATS = (".csv", ".parquet")


def table_format(path: str) -> str:
    """``.csv`` or ``.parquet`` from ``path``'s extension; ``ValueError`` naming the path otherwise."""
    ext = os.path.splitext(path)[1].lower()
    if ext not in TABLE_FORMATS:
        raise ValueError(f"metadata table {path!r}: expected a {' or '.join(TABLE_FORMATS)} file")
    return ext


def read_table(path: str) -> list[dict]:
    """The rows of a CSV or parquet metadata table as dicts (``label`` absent where the table has none); checks
    the required columns (``ValueError`` naming the file and the missing ones)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"metadata table {path!r} does not exist")
    if table_format(path) == ".parquet":
        table = pq.read_table(path)
    else:
        table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=COLUMN_TYPES))
    missing = [c for c in REQUIRED_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"metadata table {path!r} lacks columns {missing}; it has {table.column_names} "
                         f"(tools/scan_videos.py writes all of them)")
    rows = table.to_pylist()
    for row in rows:
        if row.get("label") is None:
            row.pop("label", None)
    return rows


def write_table(rows: list[dict], path: str) -> None:
    """Write ``rows`` (dicts with :data:`REQUIRED_COLUMNS`, optional ``label``) as CSV or parquet by extension."""
    fmt = table_format(path)
    names = [c for c in COLUMN_TYPES if c in REQUIRED_COLUMNS or any(c in row for row in rows)]
    schema = pa.schema([(name, COLUMN_TYPES[name]) for name in names])
    table = pa.Table.from_pylist([{name: row.get(name) for name in names} for row in rows], schema=schema)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if fmt == ".parquet":
        pq.write_table(table, path)
    else:
        pa_csv.write_csv(table, path)


def probe_columns(path: str) -> dict | str:
    """``num_frames``, ``height``, ``width``, ``fps`` of the video at ``path``, or the reason it cannot be read
    (a picklable function of the library, for ``tools/scan_videos.py``'s process pool)."""
    try:
        return probe_video(path)
    except (VideoReadError, OSError) as err:
        return str(err)


def table_root(table: str, root: str | None) -> str:
    """The folder relative ``path`` values start from: ``root``, else the table's own folder."""
    return root if root is not None else os.path.dirname(os.path.abspath(table))


@DATASETS.register_module()
class VideoTable(VideoDataset):
    """Open-Sora-style metadata table (CSV or parquet): each row's ``path`` (relative to ``root``, default the
    table's folder) is a video file or frame folder, ``text`` its caption, ``label`` its class (0 without the
    column); rows whose file is missing are left out with one log line. ``metadata[i]`` holds row ``i``'s
    ``num_frames``, ``height``, ``width``, ``fps`` (what a shape-bucket sampler groups by) without decoding.
    Defaults: W.A.L.T's 17×128×128 base-model clips."""

    def __init__(self, table: str, root: str | None = None, num_frames: int = 17, frame_interval: int = 1,
                 resolution: int | tuple[int, int] = 128, **kwargs):
        rows, root = read_table(table), table_root(table, root)
        samples, missing, self.metadata = [], [], []
        for row in rows:
            path = resolve_video_path(os.path.join(root, row["path"]))
            if path is None:
                missing.append(os.path.join(root, row["path"]))
                continue
            samples.append(VideoSample(path, int(row.get("label", 0)), row["text"] or ""))
            self.metadata.append({k: row[k] for k in ("num_frames", "height", "width", "fps")})
        log_missing("VideoTable", table, missing, len(rows))
        super().__init__(samples, root=root, num_frames=num_frames, frame_interval=frame_interval,
                         resolution=resolution, **kwargs)
