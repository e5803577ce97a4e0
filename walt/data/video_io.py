"""Reading frames of a video file (decord, PyAV as fallback), a folder of frame images, or one image.

Every reader returns ``uint8`` arrays ``(T, H, W, 3)`` (RGB). Whatever goes wrong inside a decoder (corrupt or
truncated file, unknown codec, fewer decodable frames than the container claims) surfaces as
:class:`VideoReadError`, the one exception the datasets catch to skip a sample.
"""
from __future__ import annotations

import os
import re
from typing import Sequence

import av
import decord
import numpy as np
from decord._ffi.base import DECORDError
from PIL import Image, UnidentifiedImageError

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


class DecordVideo:
    """A video file decoded with decord (one thread: the data-loader workers are the parallelism)."""

    def __init__(self, path: str):
        self.path = path
        self.reader = decord.VideoReader(path, ctx=decord.cpu(0), num_threads=1)
        self.fps = float(self.reader.get_avg_fps())

    def __len__(self) -> int:
        return len(self.reader)

    def read(self, indices: Sequence[int]) -> np.ndarray:
        return self.reader.get_batch(list(indices)).asnumpy()


class PyAVVideo:
    """A video file decoded with PyAV, frame by frame from the start (exact, no seeking)."""

    def __init__(self, path: str):
        self.path = path
        with av.open(path) as container:
            stream = container.streams.video[0]
            self.fps = float(stream.average_rate) if stream.average_rate else None
            # Some containers (AVI, WebM) do not store a frame count: count the video packets instead.
            self.length = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)

    def __len__(self) -> int:
        return self.length

    def read(self, indices: Sequence[int]) -> np.ndarray:
        wanted, last = set(indices), max(indices)
        frames: dict[int, np.ndarray] = {}
        with av.open(self.path) as container:
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
    try:
        return DecordVideo(path)
    except _DECODER_ERRORS as decord_err:
        try:
            return PyAVVideo(path)
        except _DECODER_ERRORS as pyav_err:
            raise VideoReadError(f"cannot open video {path!r}: decord: {decord_err}; PyAV: {pyav_err}") from pyav_err


def read_frames(video: DecordVideo | PyAVVideo | FrameFolderVideo, indices: Sequence[int]) -> np.ndarray:
    """``video.read(indices)`` with decoder failures turned into :class:`VideoReadError`; a decord failure
    is retried with PyAV before giving up."""
    try:
        return video.read(indices)
    except VideoReadError:
        raise
    except _DECODER_ERRORS as err:
        if isinstance(video, DecordVideo):
            try:
                return PyAVVideo(video.path).read(indices)
            except _DECODER_ERRORS as pyav_err:
                raise VideoReadError(f"cannot decode frames of {video.path!r}: decord: {err}; PyAV: {pyav_err}") \
                    from pyav_err
        raise VideoReadError(f"cannot decode frames of {video.path!r}: {err}") from err
