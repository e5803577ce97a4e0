"""Unconditional video datasets stored as a folder: FaceForensics, SkyTimelapse, Taichi-HD (LAVITA §4)."""
from __future__ import annotations

import os

from registry import DATASETS
from walt.data.listing import check_root
from walt.data.video_dataset import VideoDataset, VideoSample
from walt.data.video_io import is_image_file, is_video_file, natural_key


def find_videos(root: str) -> list[str]:
    """Every video file under ``root`` and every folder that directly holds frame images (a frame folder),
    at any depth (SkyTimelapse nests ``<video>/<clip>/<frames>``), in natural sort order."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort(key=natural_key)
        filenames = sorted(filenames, key=natural_key)
        found += [os.path.join(dirpath, f) for f in filenames if is_video_file(f)]
        if any(is_image_file(f) for f in filenames):
            found.append(dirpath)
    return found


@DATASETS.register_module()
class VideoFolder(VideoDataset):
    """LAVITA §4 unconditional datasets: a folder of videos, or of frame folders, without labels (every item has
    label 0 and an empty caption). Defaults: LAVITA's 16 frames at 256×256 (the sampling interval is a config
    choice)."""

    def __init__(self, root: str, num_frames: int = 16, frame_interval: int = 1,
                 resolution: int | tuple[int, int] = 256, **kwargs):
        check_root(root, "VideoFolder")
        samples = [VideoSample(path) for path in find_videos(root)]
        super().__init__(samples, root=root, num_frames=num_frames, frame_interval=frame_interval,
                         resolution=resolution, **kwargs)
