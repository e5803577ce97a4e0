"""Real-world decoding: the mp4 files shipped with scikit-video, checked against PyAV's own decode."""
import logging
import os
import shutil

import av
import numpy as np
import pytest
import skvideo

from walt.data.video_folder import VideoFolder
from walt.data.video_io import DecordVideo, PyAVVideo, VideoReadError, open_video, read_frames

SKVIDEO_DATA = os.path.join(os.path.dirname(skvideo.__file__), "datasets", "data")
FILES = sorted(f for f in os.listdir(SKVIDEO_DATA) if f.endswith(".mp4"))


def pyav_reference(path):
    """All frames of ``path`` decoded by PyAV directly: the independent reference."""
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def test_skvideo_files_are_present():
    assert {"bikes.mp4", "carphone_pristine.mp4"} <= set(FILES)


@pytest.mark.parametrize("name", ["bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"])
def test_decord_frame_count_size_and_pixels_match_pyav(name):
    path = os.path.join(SKVIDEO_DATA, name)
    reference = pyav_reference(path)
    video = open_video(path)
    assert isinstance(video, DecordVideo)
    assert len(video) == len(reference)
    picks = [0, len(reference) // 2, len(reference) - 1]
    frames = read_frames(video, picks)
    assert frames.shape == (3, *reference.shape[1:]) and frames.dtype == np.uint8
    # decord and PyAV convert YUV→RGB with their own swscale settings: equal up to rounding.
    assert np.abs(frames.astype(int) - reference[picks].astype(int)).mean() < 2.0


def test_pyav_fallback_reads_the_same_frames_as_pyav():
    path = os.path.join(SKVIDEO_DATA, "carphone_pristine.mp4")
    reference = pyav_reference(path)
    video = PyAVVideo(path)
    assert len(video) == len(reference) == 120
    np.testing.assert_array_equal(video.read([5, 0, 119]), reference[[5, 0, 119]])


def test_corrupt_files_raise_video_read_error(tmp_path):
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video" * 100)
    with pytest.raises(VideoReadError, match="garbage.mp4"):
        open_video(str(garbage))


def test_truncated_copy_is_skipped_and_counted(tmp_path, caplog):
    for name in ("carphone_pristine.mp4", "carphone_distorted.mp4"):
        shutil.copy(os.path.join(SKVIDEO_DATA, name), tmp_path / name)
    data = (tmp_path / "carphone_pristine.mp4").read_bytes()
    (tmp_path / "carphone_truncated.mp4").write_bytes(data[: len(data) // 2])
    dataset = VideoFolder(str(tmp_path), num_frames=4, frame_interval=2, resolution=32, hflip=0.0,
                          temporal_sampling="center")
    assert len(dataset) == 3
    truncated = [s.path for s in dataset.samples].index(str(tmp_path / "carphone_truncated.mp4"))
    with caplog.at_level(logging.WARNING, logger="walt.data.skips"):
        item = dataset[truncated]
    assert dataset.skipped == 1
    assert "carphone_truncated.mp4" in caplog.text and "1 skipped so far" in caplog.text
    assert item["path"] != str(tmp_path / "carphone_truncated.mp4")
    assert item["video"].shape == (3, 4, 32, 32)
    # The replacement is drawn deterministically: the same index gives the same replacement.
    assert dataset[truncated]["path"] == item["path"] and dataset.skipped == 2


def test_too_short_video_is_skipped(tmp_path):
    shutil.copy(os.path.join(SKVIDEO_DATA, "carphone_distorted.mp4"), tmp_path / "a.mp4")  # 120 frames
    dataset = VideoFolder(str(tmp_path), num_frames=61, frame_interval=2, resolution=16)  # needs 121 frames
    with pytest.raises(RuntimeError, match="could not be decoded"):
        dataset[0]
    assert dataset.skipped == dataset.max_retries + 1


def test_gif_that_decord_rejects_falls_back_to_pyav(tmp_path):
    # decord raises DECORDError (not a RuntimeError) on PIL-written GIFs; the reader must fall back to PyAV.
    from PIL import Image

    rng = np.random.default_rng(0)
    frames = [Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(4)]
    path = str(tmp_path / "clip.gif")
    frames[0].save(path, save_all=True, append_images=frames[1:])
    video = open_video(path)
    assert isinstance(video, PyAVVideo) and len(video) == 4
