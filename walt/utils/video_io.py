"""Writing generated videos: mp4 (H.264 through PyAV), gif (Pillow), a grid of samples, and reading a file back
(decord, with the PyAV fallback of :mod:`walt.data.video_io`: decord 0.6 fails on some frame widths, e.g. 16, 24
and 48). Videos are tensors ``(3, T, H, W)`` in ``[-1, 1]`` (the model output
convention) or ``uint8`` arrays ``(T, H, W, 3)``."""
from __future__ import annotations

import math
import os
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image
from torch import Tensor

from walt.data.video_io import open_video, read_frames


def to_uint8_frames(video: Tensor | np.ndarray) -> np.ndarray:
    """``(3, T, H, W)`` in ``[-1, 1]`` → ``uint8 (T, H, W, 3)``; a ``uint8 (T, H, W, 3)`` array passes through."""
    if isinstance(video, np.ndarray) and video.dtype == np.uint8:
        frames = video
    else:
        video = torch.as_tensor(video)
        if video.dim() != 4 or video.shape[0] != 3:
            raise ValueError(f"expected a video (3, T, H, W) in [-1, 1], got shape {tuple(video.shape)}")
        pixels = ((video.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        frames = pixels.permute(1, 2, 3, 0).cpu().numpy()
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got shape {frames.shape}")
    return frames


def make_grid(videos: Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = -1.0) -> Tensor:
    """``N`` videos ``(N, 3, T, H, W)`` tiled into one ``(3, T, H', W')`` with ``nrow`` videos per row (default
    ``ceil(sqrt(N))``), separated by ``padding`` pixels of ``pad_value``."""
    if videos.dim() != 5 or videos.shape[1] != 3:
        raise ValueError(f"make_grid: expected videos (N, 3, T, H, W), got shape {tuple(videos.shape)}")
    n, c, t, h, w = videos.shape
    nrow = nrow or math.ceil(math.sqrt(n))
    rows = math.ceil(n / nrow)
    grid = videos.new_full((c, t, rows * (h + padding) + padding, nrow * (w + padding) + padding), pad_value)
    for i in range(n):
        top, left = padding + (i // nrow) * (h + padding), padding + (i % nrow) * (w + padding)
        grid[:, :, top:top + h, left:left + w] = videos[i]
    return grid


def write_video(path: str | os.PathLike, video: Tensor | np.ndarray, fps: int = 8) -> Path:
    """Write an H.264 mp4 (yuv420p, playable everywhere; odd sizes are padded by one edge pixel)."""
    frames = to_uint8_frames(video)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "18"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_gif(path: str | os.PathLike, video: Tensor | np.ndarray, fps: int = 8) -> Path:
    """Write a looping gif."""
    images = [Image.fromarray(frame) for frame in to_uint8_frames(video)]
    path = Path(path)
    images[0].save(path, save_all=True, append_images=images[1:], duration=round(1000 / fps), loop=0)
    return path


def read_video(path: str | os.PathLike) -> np.ndarray:
    """All frames of a video file as ``uint8 (T, H, W, 3)``: decord, PyAV where decord fails."""
    video = open_video(str(path))
    return read_frames(video, range(len(video)))
