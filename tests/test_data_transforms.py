"""Clip sampling and transforms, checked on synthetic frames whose content is known."""
import numpy as np
import pytest
import torch
from PIL import Image

from walt.data.transforms import ClipTransform, crop_box, sample_frame_indices
from walt.data.video_folder import VideoFolder


def brightness_video(num_frames, height=8, width=8):
    """uint8 (T, H, W, 3) whose frame i is uniformly i."""
    return np.broadcast_to(np.arange(num_frames, dtype=np.uint8)[:, None, None, None],
                           (num_frames, height, width, 3)).copy()


def test_center_sampling_takes_every_interval_th_frame_around_the_middle():
    # 40 frames, 8 at interval 3 span 22 frames: slack 18, start 9.
    assert sample_frame_indices(40, 8, 3, "center") == [9 + 3 * k for k in range(8)]
    assert sample_frame_indices(22, 8, 3, "center") == list(range(0, 22, 3))


def test_random_sampling_covers_every_valid_start_and_keeps_the_interval():
    gen = torch.Generator().manual_seed(0)
    starts = set()
    for _ in range(200):
        idx = sample_frame_indices(10, 3, 2, "random", gen)
        assert np.all(np.diff(idx) == 2) and 0 <= idx[0] and idx[-1] <= 9
        starts.add(idx[0])
    assert starts == set(range(6))  # span 5 in 10 frames: starts 0..5


def test_too_short_video_raises():
    with pytest.raises(ValueError, match="needs 22"):
        sample_frame_indices(21, 8, 3)


def test_frame_interval_picks_frames_k_times_interval_end_to_end(tmp_path):
    # A frame folder (lossless PNG) whose frame i has brightness 10·i, read through VideoFolder.
    folder = tmp_path / "clip"
    folder.mkdir()
    for i in range(12):  # names out of lexicographic order on purpose: natural sort must order them
        Image.fromarray(np.full((12, 16, 3), 10 * i, np.uint8)).save(folder / f"frame_{i}.png")
    dataset = VideoFolder(str(tmp_path), num_frames=4, frame_interval=3, resolution=8, hflip=0.0,
                          temporal_sampling="center")
    video = dataset[0]["video"]
    assert video.shape == (3, 4, 8, 8)
    # 4 frames at interval 3 span 10 of the 12 frames: the centered crop starts at 1 → frames 1, 4, 7, 10.
    expected = torch.tensor([10.0 * (1 + 3 * k) for k in range(4)]) / 127.5 - 1
    torch.testing.assert_close(video.mean(dim=(0, 2, 3)), expected)
    torch.testing.assert_close(video.amax(dim=(0, 2, 3)), expected)


def test_horizontal_flip_mirrors_the_width_axis():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 16, 24, 3), dtype=np.uint8)
    plain = ClipTransform(16, hflip=0.0)(frames)
    flipped = ClipTransform(16, hflip=1.0)(frames)
    mirrored_input = ClipTransform(16, hflip=0.0)(np.ascontiguousarray(frames[:, :, ::-1]))
    torch.testing.assert_close(flipped, plain.flip(-1))
    torch.testing.assert_close(flipped, mirrored_input)


def test_center_crop_without_resize_is_the_middle_of_the_long_side():
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (2, 32, 64, 3), dtype=np.uint8)
    out = ClipTransform(32, hflip=0.0)(frames)
    reference = torch.from_numpy(frames[:, :, 16:48].astype(np.float32)).permute(3, 0, 1, 2) / 127.5 - 1
    torch.testing.assert_close(out, reference)


def test_random_crop_is_a_window_of_the_source():
    rng = np.random.default_rng(2)
    frames = rng.integers(0, 256, (1, 20, 30, 3), dtype=np.uint8)
    out = ClipTransform(20, random_crop=True, hflip=0.0)(frames, torch.Generator().manual_seed(3))
    source = torch.from_numpy(frames[0].astype(np.float32)).permute(2, 0, 1) / 127.5 - 1
    matches = [left for left in range(11) if torch.equal(out[:, 0], source[:, :, left:left + 20])]
    assert len(matches) == 1


@pytest.mark.parametrize("src, res, box", [((240, 320), (128, 128), (0, 40, 240, 240)),
                                           ((320, 240), (128, 128), (40, 0, 240, 240)),
                                           ((360, 640), (128, 224), (0, 5, 360, 630)),
                                           ((100, 100), (50, 100), (25, 0, 50, 100))])
def test_crop_box_keeps_the_output_aspect_and_the_full_short_side(src, res, box):
    assert crop_box(*src, *res) == box


@pytest.mark.parametrize("src, res", [((240, 320), 128), ((37, 91), (16, 24)), ((64, 64), 64), ((10, 12), 32)])
def test_output_size_and_range(src, res):
    frames = np.random.default_rng(0).integers(0, 256, (2, *src, 3), dtype=np.uint8)
    out = ClipTransform(res, random_crop=True)(frames)
    size = (res, res) if isinstance(res, int) else res
    assert out.shape == (3, 2, *size) and out.dtype == torch.float32
    assert out.min() >= -1 and out.max() <= 1


def test_resize_of_uniform_frames_keeps_their_value():
    out = ClipTransform(5, hflip=0.0)(brightness_video(3, 17, 23))
    torch.testing.assert_close(out[0, :, 0, 0], torch.tensor([0.0, 1.0, 2.0]) / 127.5 - 1)
