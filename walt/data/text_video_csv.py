"""Text–video pairs listed in a CSV: W.A.L.T §5.3 / LAVITA text-to-video, and the demo's captioned clips."""
from __future__ import annotations

import os

from registry import DATASETS
from walt.data.listing import check_root, log_missing, read_csv_rows, resolve_video_path
from walt.data.video_dataset import VideoDataset, VideoSample


@DATASETS.register_module()
class TextVideoCSV(VideoDataset):
    """W.A.L.T §5.3 text–video pairs: rows ``path,caption`` (optional integer ``label`` column, else 0) of the
    CSV ``csv`` (relative to ``root`` unless absolute); ``path`` is a video file or frame folder relative to
    ``root``. Rows whose file is missing are left out with one log line. Defaults: W.A.L.T's 17×128×128
    base-model clips."""

    def __init__(self, root: str, csv: str = "captions.csv", num_frames: int = 17, frame_interval: int = 1,
                 resolution: int | tuple[int, int] = 128, **kwargs):
        check_root(root, "TextVideoCSV")
        csv_path = os.path.join(root, csv)
        rows = read_csv_rows(csv_path, [["path", "caption"]], "TextVideoCSV")
        samples, missing = [], []
        for row in rows:
            path = resolve_video_path(os.path.join(root, row["path"]))
            if path is None:
                missing.append(os.path.join(root, row["path"]))
                continue
            samples.append(VideoSample(path, int(row["label"]) if row.get("label") else 0, row["caption"]))
        log_missing("TextVideoCSV", csv_path, missing, len(rows))
        super().__init__(samples, root=root, num_frames=num_frames, frame_interval=frame_interval,
                         resolution=resolution, **kwargs)
