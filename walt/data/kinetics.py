"""Kinetics-600 (Carreira et al. 2018): W.A.L.T §5.1 frame prediction (5 conditioning frames)."""
from __future__ import annotations

import os

from registry import DATASETS
from walt.data.listing import check_root, index_video_files, log_missing, read_csv_rows
from walt.data.video_dataset import VideoDataset, VideoSample
from walt.data.video_io import natural_key


def clip_file_stem(youtube_id: str, time_start: str, time_end: str) -> str:
    """The name the common Kinetics downloaders give a clip: ``<youtube_id>_<start:06d>_<end:06d>``."""
    return f"{youtube_id}_{int(float(time_start)):06d}_{int(float(time_end)):06d}"


def _seconds(row: dict[str, str], name: str) -> float | None:
    return float(row[name]) if row.get(name) else None


@DATASETS.register_module()
class Kinetics600(VideoDataset):
    """W.A.L.T §5.1 frame prediction data: Kinetics clips listed in a CSV (``annotations``, relative to ``root``
    unless absolute). Accepted columns:

    * ``label`` (required): class name (classes = the sorted distinct names) or integer class index;
    * either ``path``: the video file relative to ``root``, with optional ``start``/``end`` in seconds selecting
      a segment of that file (``time_start``/``time_end`` are YouTube times and are ignored with ``path``);
    * or ``youtube_id``, ``time_start``, ``time_end`` (the official annotation files): the clip file
      ``<youtube_id>_<time_start:06d>_<time_end:06d>.<any video extension>`` anywhere under ``root``;
    * ``split`` (optional): rows are kept when it equals the ``split`` argument (when that is not ``None``).

    Rows whose file is missing are left out with one log line. Defaults: W.A.L.T's 17×128×128 clips."""

    def __init__(self, root: str, annotations: str = "train.csv", split: str | None = None, num_frames: int = 17,
                 frame_interval: int = 1, resolution: int | tuple[int, int] = 128, **kwargs):
        check_root(root, "Kinetics600")
        csv_path = os.path.join(root, annotations)
        rows = read_csv_rows(csv_path, [["label", "path"], ["label", "youtube_id", "time_start", "time_end"]],
                             "Kinetics600")
        if split is not None:
            rows = [r for r in rows if r.get("split") == split]
        names = sorted({r["label"] for r in rows}, key=natural_key)
        if all(n.lstrip("-").isdigit() for n in names):
            classes = [str(i) for i in range(max((int(n) for n in names), default=-1) + 1)]
            label_of = {n: int(n) for n in names}
        else:
            classes, label_of = names, {n: i for i, n in enumerate(names)}
        by_stem = index_video_files(root) if any(not r.get("path") for r in rows) else {}
        samples, missing = [], []
        for row in rows:
            label = label_of[row["label"]]
            if row.get("path"):
                path = os.path.join(root, row["path"])
                if not os.path.exists(path):
                    missing.append(path)
                    continue
                samples.append(VideoSample(path, label, row["label"], _seconds(row, "start"), _seconds(row, "end")))
            else:
                stem = clip_file_stem(row["youtube_id"], row["time_start"], row["time_end"])
                if stem not in by_stem:
                    missing.append(stem)
                    continue
                samples.append(VideoSample(by_stem[stem], label, row["label"]))
        log_missing("Kinetics600", csv_path, missing, len(rows))
        super().__init__(samples, root=root, num_frames=num_frames, frame_interval=frame_interval,
                         resolution=resolution, classes=classes, **kwargs)
