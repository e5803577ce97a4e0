"""Video files in and out: reading frames of a video file (decord, PyAV as fallback), a folder of frame images or one
image; writing generated videos as mp4 (H.264 through PyAV) or gif (Pillow), and a grid of samples.

Every reader returns ``uint8`` arrays ``(T, H, W, 3)`` (RGB); a video file's bytes already in memory (a member of a
tar shard, walt/data/video_shards.py) decode like a file (``open_video_file``); writers take that or a tensor
``(3, T, H, W)`` in ``[-1, 1]`` (the model output convention). Whatever goes wrong inside a decoder (corrupt or
truncated file, unknown codec, fewer decodable frames than the container claims) surfaces as
:class:`VideoReadError`, the one exception the datasets catch to skip a sample.
"""
from __future__ import annotations

import io
import math
import os
import re
from pathlib import Path
from typing import Sequence

import av
import decord
import numpy as np
import torch
from decord._ffi.base import DECORDError
from PIL import Image, UnidentifiedImageError
from torch import Tensor

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".gif")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


class VideoReadError(RuntimeError):
    """A sample could not be decoded; the message names the file and the reason."""


def natural_key(name: str) -> list:
    """Sort key that orders ``frame_2.png`` before ``frame_10.png``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


def is_video_file(path: str) -> bool:
    return path.lower().endswith(VIDEO_EXTENSIONS)


def is_image_file(path: str) -> bool:
    return path.lower().endswith(IMAGE_EXTENSIONS)


def read_image(path: str, min_size: int | None = None) -> np.ndarray:
    """One RGB image as ``(1, H, W, 3)`` uint8. ``min_size``: let the JPEG decoder downscale (by a power of two)
    as long as both sides stay ``>= min_size`` — decoding a 4× smaller JPEG is much faster."""
    try:
        with Image.open(path) as img:
            if min_size is not None:
                img.draft("RGB", (min_size, min_size))
            return np.array(img.convert("RGB"))[None]
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise VideoReadError(f"cannot read image {path!r}: {err}") from err


class FrameFolderVideo:
    """A video stored as a folder of frame images, in natural sort order of their file names."""

    def __init__(self, path: str):
        self.path = path
        self.frames = sorted((f for f in os.listdir(path) if is_image_file(f)), key=natural_key)
        self.fps = None

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return np.concatenate([read_image(os.path.join(self.path, self.frames[i])) for i in indices])


def _source(path: str, data: bytes | None) -> str | io.BytesIO:
    """What a decoder opens: the file ``path``, or the file's bytes ``data`` (``path`` then only names it)."""
    return path if data is None else io.BytesIO(data)


class DecordVideo:
    """A video file decoded with decord (one thread: the data-loader workers are the parallelism); ``data``: the
    file's bytes, decoded from memory (``path`` then names it in messages)."""

    def __init__(self, path: str, data: bytes | None = None):
        self.path, self.data = path, data
        self.reader = decord.VideoReader(_source(path, data), ctx=decord.cpu(0), num_threads=1)
        self.fps = float(self.reader.get_avg_fps())

    def __len__(self) -> int:
        return len(self.reader)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.reader.get_batch(list(indices)).asnumpy()


class PyAVVideo:
    """A video file decoded with PyAV, frame by frame from the start (exact, no seeking); ``data`` as for
    :class:`DecordVideo`."""

    def __init__(self, path: str, data: bytes | None = None):
        self.path, self.data = path, data
        with av.open(_source(path, data)) as container:
            stream = container.streams.video[0]
            self.fps = float(stream.average_rate) if stream.average_rate else None
            # Some containers (AVI, WebM) do not store a frame count: count the video packets instead.
            self.length = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)

    def __len__(self) -> int:
        return self.length

    def read(self, indices: Sequence[int]) -> np.ndarray:
        wanted, last = set(indices), max(indices)
        frames: dict[int, np.ndarray] = {}
        with av.open(_source(self.path, self.data)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i > last:
                    break
                if i in wanted:
                    frames[i] = frame.to_ndarray(format="rgb24")
        missing = [i for i in indices if i not in frames]
        if missing:
            raise VideoReadError(f"{self.path!r}: frames {missing[:4]} not decodable (the container claims "
                                 f"{self.length} frames, {len(frames)} of the wanted ones decoded)")
        return np.stack([frames[i] for i in indices])


class DecodedVideo:
    """Every frame of a video, decoded once and held in memory (``VideoDataset(keep_decoded=True)``): reading a clip
    is then an index into an array, no decoder call."""

    def __init__(self, frames: np.ndarray, fps: float | None, path: str):
        self.frames, self.fps, self.path = frames, fps, path

    @classmethod
    def decode(cls, video: DecordVideo | PyAVVideo | FrameFolderVideo) -> DecodedVideo:
        return cls(read_frames(video, range(len(video))), video.fps, video.path)

    def __len__(self) -> int:
        return len(self.frames)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.frames[list(indices)]


Video = DecordVideo | PyAVVideo | FrameFolderVideo | DecodedVideo  # what open_video / VideoDataset.open return


# decord raises its own DECORDError (a RuntimeError) and sometimes a plain RuntimeError or ValueError.
# decord's DECORDError derives from Exception only, so it is named explicitly.
_DECODER_ERRORS = (RuntimeError, ValueError, OSError, IndexError, av.error.FFmpegError, DECORDError)


def open_video(path: str) -> DecordVideo | PyAVVideo | FrameFolderVideo:
    """Open ``path``: a folder of frames, or a video file with decord, falling back to PyAV when decord fails."""
    if os.path.isdir(path):
        video = FrameFolderVideo(path)
        if len(video) == 0:
            raise VideoReadError(f"frame folder {path!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return video
    return open_video_file(path)


def open_video_file(path: str, data: bytes | None = None) -> DecordVideo | PyAVVideo:
    """The video file ``path``, or its bytes ``data`` held in memory (``path`` then names it in errors): decord,
    falling back to PyAV."""
    try:
        return DecordVideo(path, data)
    except _DECODER_ERRORS as decord_err:
        try:
            return PyAVVideo(path, data)
        except _DECODER_ERRORS as pyav_err:
            raise VideoReadError(f"cannot open video {path!r}: decord: {decord_err}; PyAV: {pyav_err}") from pyav_err


def probe_video(path: str) -> dict[str, int | float | None]:
    """``num_frames``, ``height``, ``width`` and ``fps`` (``None`` for a frame folder) of a video file or frame
    folder; the size is read from the first frame, the only one decoded. Raises :class:`VideoReadError`."""
    video = open_video(path)
    if len(video) == 0:
        raise VideoReadError(f"{path!r} holds no frames")
    _, height, width, _ = read_frames(video, [0]).shape
    return dict(num_frames=len(video), height=int(height), width=int(width), fps=video.fps)


def read_frames(video: Video, indices: Sequence[int]) -> np.ndarray:
    """``video.read(indices)`` with decoder failures turned into :class:`VideoReadError`; a decord failure
    is retried with PyAV before giving up."""
    try:
        return video.read(indices)
    except VideoReadError:
        raise
    except _DECODER_ERRORS as err:
        if isinstance(video, DecordVideo):
            try:
                return PyAVVideo(video.path, video.data).read(indices)
            except _DECODER_ERRORS as pyav_err:
                raise VideoReadError(f"cannot decode frames of {video.path!r}: decord: {err}; PyAV: {pyav_err}") \
                    from pyav_err
        raise VideoReadError(f"cannot decode frames of {video.path!r}: {err}") from err


# ---------------------------------------------------------------------------------------------------- writing
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


def write_video(path: str | os.PathLike, video: Tensor | np.ndarray, fps: int = 8, crf: int = 18) -> Path:
    """Write an H.264 mp4 (yuv420p, playable everywhere; odd sizes are padded by one edge pixel; MPEG-4 part 2
    where this PyAV build has no libx264)."""
    frames = to_uint8_frames(video)
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if pad_h or pad_w:
        frames = np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")
    path = Path(path)
    with av.open(str(path), mode="w") as container:
        h264 = "libx264" in av.codecs_available
        stream = container.add_stream("libx264" if h264 else "mpeg4", rate=fps,
                                      options={"crf": str(crf), "threads": "1"} if h264 else {"qscale": "2"})
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
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
