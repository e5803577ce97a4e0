"""The registered datasets on the demo videos (tools/make_demo_data.py) and on small synthetic folders."""
import os
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from registry import DATASETS
from walt.data.video_io import open_video
from tool_loader import load_tool

CLASSES = ["MoveRight", "MoveLeft", "MoveUp", "MoveDown"]
DIRECTIONS = {"MoveRight": (1, 0), "MoveLeft": (-1, 0), "MoveUp": (0, -1), "MoveDown": (0, 1)}  # (dx, dy), y down


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    load_tool("make_demo_data").main(["--out", str(out), "--num-per-class", "8", "--frames", "16", "--size", "64"])
    return str(out)


def test_make_demo_data_writes_the_ucf101_layout(demo_root):
    lists = os.path.join(demo_root, "ucfTrainTestlist")
    assert open(os.path.join(lists, "classInd.txt")).read().split() == ["1", "MoveRight", "2", "MoveLeft", "3",
                                                                         "MoveUp", "4", "MoveDown"]
    train = open(os.path.join(lists, "trainlist01.txt")).read().split("\n")
    test = open(os.path.join(lists, "testlist01.txt")).read().split("\n")
    assert len([t for t in train if t]) == 4 * 4 and len([t for t in test if t]) == 4 * 4  # 2 groups of 4 clips
    assert train[0] == "MoveRight/v_MoveRight_g02_c01.mp4 1"
    assert re.fullmatch(r"v_MoveLeft_g\d\d_c\d\d\.mp4", sorted(os.listdir(os.path.join(demo_root, "MoveLeft")))[0])


def test_make_demo_data_is_deterministic_given_the_seed(tmp_path):
    tool = load_tool("make_demo_data")
    for name in ("a", "b"):
        tool.main(["--out", str(tmp_path / name), "--num-per-class", "1", "--frames", "4", "--size", "32"])
    for rel in ("captions.csv", "MoveUp/v_MoveUp_g01_c01.mp4"):
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()


def test_ucf101_reads_demo_labels_captions_and_shapes(demo_root):
    dataset = DATASETS.build(dict(type="UCF101", root=demo_root, split="all", num_frames=8, frame_interval=2,
                                  resolution=32, hflip=0.0))
    assert len(dataset) == 32 and dataset.classes == CLASSES
    assert len(DATASETS.build(dict(type="UCF101", root=demo_root, split="train"))) == 16
    for index in range(0, 32, 5):
        item = dataset[index]
        folder = os.path.basename(os.path.dirname(item["path"]))
        assert item["label"] == CLASSES.index(folder)  # classInd is 1-based, labels 0-based
        assert item["caption"] == {"MoveRight": "move right", "MoveLeft": "move left", "MoveUp": "move up",
                                   "MoveDown": "move down"}[folder]
        assert item["video"].shape == (3, 8, 32, 32) and item["video"].dtype == torch.float32
        assert -1 <= item["video"].min() and item["video"].max() <= 1


def test_keep_decoded_gives_the_decoded_items_and_decodes_each_video_once(demo_root, monkeypatch):
    import walt.data.video_dataset as video_dataset

    args = dict(type="UCF101", root=demo_root, split="all", num_frames=8, frame_interval=2, resolution=16,
                random_crop=True, hflip=0.5)
    plain, kept = DATASETS.build(dict(args)), DATASETS.build(dict(args, keep_decoded=True))
    opened = []
    monkeypatch.setattr(video_dataset, "open_video", lambda path: opened.append(path) or open_video(path))
    for epoch in (0, 1):  # new temporal crops, crop positions and flips each epoch, from frames decoded once
        for dataset in (plain, kept):
            dataset.set_epoch(epoch)
        for index in (0, 7, 31, 7):
            torch.testing.assert_close(kept[index]["video"], plain[index]["video"], rtol=0, atol=0)
    assert len(opened) == 2 * 4 + 3  # plain: every item; kept: videos 0, 7 and 31 once
    assert kept[7]["video"].shape == (3, 8, 16, 16)


def test_kept_videos_are_kept_transformed_when_the_transform_draws_nothing(demo_root, monkeypatch):
    """With no random crop and no flip, a kept video is transformed once (every frame) and a clip is its frames of
    that: bit-identical to transforming the clip's frames; a size bucket or a larger output transforms each clip."""
    import walt.data.video_dataset as video_dataset

    args = dict(type="UCF101", root=demo_root, split="all", num_frames=8, frame_interval=1, resolution=16, hflip=0.0)
    plain, kept = DATASETS.build(dict(args)), DATASETS.build(dict(args, keep_decoded=True))
    transforms = []
    call = video_dataset.ClipTransform.__call__
    monkeypatch.setattr(video_dataset.ClipTransform, "__call__",
                        lambda self, frames, generator=None: transforms.append(len(frames)) or call(self, frames,
                                                                                                 generator))
    assert kept.keeps_transformed() and not plain.keeps_transformed()
    for epoch in (0, 1):  # other temporal crops each epoch (16 frames, 8 taken: 9 starts)
        for dataset in (plain, kept):
            dataset.set_epoch(epoch)
        for index in (0, 7, 31, 7):
            torch.testing.assert_close(kept[index]["video"], plain[index]["video"], rtol=0, atol=0)
    assert transforms.count(16) == 3 and transforms.count(8) == 2 * 4  # kept: videos 0, 7, 31 once, all frames
    bucket = kept.item_at(7, (8, 32, 32))["video"]
    assert bucket.shape == (3, 8, 32, 32) and transforms[-1] == 8
    larger = DATASETS.build(dict(args, keep_decoded=True, resolution=64))  # float32 at 64² > uint8 at 64²
    assert larger[0]["video"].shape == (3, 8, 64, 64) and not larger._transformed


def test_motion_direction_is_recoverable_from_decoded_frames(demo_root):
    dataset = DATASETS.build(dict(type="UCF101", root=demo_root, split="all", num_frames=8, frame_interval=2,
                                  resolution=32, hflip=0.0, temporal_sampling="center"))
    for index in range(len(dataset)):
        item = dataset[index]
        mass = (item["video"] + 1).sum(0).numpy()  # (T, H, W): background is black (-1 → 0)
        ys, xs = np.mgrid[:32, :32]
        cx = (mass * xs).sum((1, 2)) / mass.sum((1, 2))
        cy = (mass * ys).sum((1, 2)) / mass.sum((1, 2))
        dx, dy = cx[-1] - cx[0], cy[-1] - cy[0]
        # Frames 0, 2, ..., 14 of 16: 14 of the 15 steps of a shape travelling 32 px in 64 px frames, halved at 32².
        expected = np.array(DIRECTIONS[dataset.classes[item["label"]]]) * (32 * 14 / 15 / 2)
        assert np.abs(np.array([dx, dy]) - expected).max() < 1.0, (item["path"], dx, dy)


def test_motion_class_reads_the_direction_of_every_demo_video(demo_root):
    from walt.data.demo_videos import motion_class
    from walt.data.video_io import read_video
    for name in CLASSES:
        for path in sorted(os.listdir(os.path.join(demo_root, name))):
            video = read_video(os.path.join(demo_root, name, path))
            assert motion_class(video) == CLASSES.index(name), path
    still = np.repeat(video[:1], len(video), axis=0)
    assert motion_class(still) is None and motion_class(np.zeros_like(video)) is None
    assert motion_class(video[::-1]) == CLASSES.index("MoveUp")  # the last one moves down: reversed, up


def test_demo_motion_benchmark_scores_the_demo_videos_as_all_correct(demo_root):
    from tool_loader import load_benchmark
    bench = load_benchmark("demo_motion")
    result = bench.main(["--data", demo_root, "--json"])
    assert result["n"] == 32 and result["accuracy"] == 1.0 and result["static"] == 0
    assert result["classes"]["MoveLeft"] == dict(n=8, correct=8, static=0)
    black = np.zeros((8, 16, 16, 3), np.uint8)
    scored = bench.score([black, black], [0, 1])
    assert scored["accuracy"] == 0.0 and scored["static"] == 2 and scored["classes"]["MoveUp"]["n"] == 0


@pytest.mark.parametrize("config, sampler", [("walt_demo.py", "DDIM-2"), ("walt_demo_rflow.py", "Euler-2")])
def test_demo_motion_samples_with_the_diffusions_own_sampler(config, sampler, tmp_path):
    from tool_loader import load_benchmark
    from walt.engine.config import load_config
    from walt.models.generative.build import build_model

    path = os.path.join(os.path.dirname(__file__), "..", "configs", "demo", config)
    tiny = ["model.backbone.depth=2", "model.backbone.dim=32", "model.backbone.num_heads=2"]
    torch.manual_seed(0)
    torch.save(dict(model=build_model(load_config(path, tiny)).state_dict()), tmp_path / "tiny.pth")
    result = load_benchmark("demo_motion").main([path, "--checkpoint", str(tmp_path / "tiny.pth"), "--per-class", "1",
                                                 "--steps", "2", "--cfg-options", *tiny, "--json"])
    assert result["source"]["sampler"] == sampler and result["n"] == 4


def test_demo_sampling_benchmark_scores_every_setting_against_the_demo_videos(demo_root, tmp_path):
    from tool_loader import load_benchmark
    from walt.engine.config import load_config
    from walt.models.generative.build import build_model

    path = os.path.join(os.path.dirname(__file__), "..", "configs", "demo", "walt_demo.py")
    tiny = ["model.backbone.depth=2", "model.backbone.dim=32", "model.backbone.num_heads=2"]
    torch.manual_seed(0)
    torch.save(dict(model=build_model(load_config(path, tiny)).state_dict()), tmp_path / "tiny.pth")
    settings = ["DDIM-50", "DPMSolverPP-20", "DDIM-50 + TeaCache 0.1"]
    result = load_benchmark("demo_sampling").main(
        [path, "--checkpoint", str(tmp_path / "tiny.pth"), "--data", demo_root, "--per-class", "1", "--seeds", "0",
         "--repeats", "1", "--settings", *settings, "--cfg-options", *tiny])
    rows = result["rows"]
    assert list(rows) == settings and rows["DDIM-50"]["speedup"] == 1.0
    for row in rows.values():
        assert len(row["times"]) == 2 and len(row["motion"]) == len(row["fvd"]) == len(row["fid"]) == 1
        assert 0 <= row["motion"][0] <= 1 and row["fvd"][0] > 0 and row["fid"][0] > 0
    assert rows["DDIM-50"]["cache"] is None and rows["DDIM-50 + TeaCache 0.1"]["cache"].endswith("of 50")


def test_text_video_csv_reads_demo_captions(demo_root):
    dataset = DATASETS.build(dict(type="TextVideoCSV", root=demo_root, num_frames=4, resolution=16))
    assert len(dataset) == 32
    item = dataset[1]
    assert re.fullmatch(r"a \w+ (square|circle|triangle) moving right", item["caption"])
    assert item["video"].shape == (3, 4, 16, 16) and item["label"] == 0


def test_kinetics600_csv_with_youtube_ids_and_with_paths(demo_root, tmp_path):
    (tmp_path / "abseiling").mkdir()
    shutil.copy(os.path.join(demo_root, "MoveUp/v_MoveUp_g01_c01.mp4"), tmp_path / "abseiling/abc_000010_000020.mp4")
    shutil.copy(os.path.join(demo_root, "MoveDown/v_MoveDown_g01_c01.mp4"), tmp_path / "xyz_000001_000011.mkv")
    (tmp_path / "train.csv").write_text("label,youtube_id,time_start,time_end,split\n"
                                        "abseiling,abc,10,20,train\nzumba,xyz,1,11,train\n"
                                        "zumba,gone,5,15,train\nzumba,xyz,1,11,val\n")
    dataset = DATASETS.build(dict(type="Kinetics600", root=str(tmp_path), split="train", num_frames=4,
                                  resolution=16))
    assert dataset.classes == ["abseiling", "zumba"] and len(dataset) == 2  # the "gone" clip is left out
    assert [s.label for s in dataset.samples] == [0, 1]
    assert dataset[1]["video"].shape == (3, 4, 16, 16)
    # path + start/end (seconds): the demo videos are 2 s at 8 fps, [0.5, 1.5) s is frames 4..11.
    (tmp_path / "paths.csv").write_text("path,label,start,end\nabseiling/abc_000010_000020.mp4,3,0.5,1.5\n")
    segment = DATASETS.build(dict(type="Kinetics600", root=str(tmp_path), annotations="paths.csv", num_frames=8,
                                  resolution=16))
    assert segment.classes == ["0", "1", "2", "3"] and segment.samples[0].label == 3
    assert segment[0]["video"].shape == (3, 8, 16, 16)
    too_long = DATASETS.build(dict(type="Kinetics600", root=str(tmp_path), annotations="paths.csv", num_frames=9,
                                   resolution=16, max_retries=0))
    with pytest.raises(RuntimeError, match="could not be decoded"):
        too_long[0]


def test_image_folder_gives_one_frame_videos_with_sorted_class_labels(tmp_path):
    for cls, value in (("n02", 200), ("n01", 100)):
        (tmp_path / cls).mkdir()
        for i in range(2):
            Image.fromarray(np.full((24, 40, 3), value + i, np.uint8)).save(tmp_path / cls / f"{i}.png")
    dataset = DATASETS.build(dict(type="ImageFolder", root=str(tmp_path), resolution=16, hflip=0.0))
    assert dataset.classes == ["n01", "n02"] and len(dataset) == 4
    item = dataset[3]
    assert item["video"].shape == (3, 1, 16, 16) and item["label"] == 1 and item["caption"] == "n02"
    torch.testing.assert_close(item["video"], torch.full((3, 1, 16, 16), 201 / 127.5 - 1))


def test_video_folder_finds_nested_frame_folders_and_video_files(demo_root, tmp_path):
    clip = tmp_path / "video0" / "clip0"  # SkyTimelapse nesting
    clip.mkdir(parents=True)
    for i in range(5):
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(clip / f"{i:05d}.jpg")
    shutil.copy(os.path.join(demo_root, "MoveUp/v_MoveUp_g01_c01.mp4"), tmp_path / "video1.mp4")
    dataset = DATASETS.build(dict(type="VideoFolder", root=str(tmp_path), num_frames=4, resolution=8))
    assert [os.path.relpath(s.path, tmp_path) for s in dataset.samples] == ["video1.mp4", "video0/clip0"]
    assert dataset[1]["video"].shape == (3, 4, 8, 8) and dataset[0]["label"] == 0


@pytest.mark.parametrize("cfg", [dict(type="UCF101"), dict(type="VideoFolder"), dict(type="ImageFolder"),
                                 dict(type="Kinetics600"), dict(type="TextVideoCSV")])
def test_bad_root_fails_at_construction_naming_the_path(cfg, tmp_path):
    bad = str(tmp_path / "no_such_dir")
    with pytest.raises(FileNotFoundError, match=re.escape(bad)):
        DATASETS.build(dict(cfg, root=bad))


def test_empty_dataset_fails_at_construction_naming_the_path(tmp_path):
    (tmp_path / "notes.txt").write_text("no videos here")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        DATASETS.build(dict(type="VideoFolder", root=str(tmp_path)))
    with pytest.raises(ValueError, match=re.escape(str(tmp_path))):
        DATASETS.build(dict(type="ImageFolder", root=str(tmp_path)))


def test_missing_split_files_and_bad_csv_columns_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="classInd.txt"):
        DATASETS.build(dict(type="UCF101", root=str(tmp_path)))
    (tmp_path / "captions.csv").write_text("file,text\na.mp4,hello\n")
    with pytest.raises(ValueError, match=r"captions.csv.*path\+caption"):
        DATASETS.build(dict(type="TextVideoCSV", root=str(tmp_path)))


def test_unknown_options_are_rejected(demo_root):
    with pytest.raises(ValueError, match="split"):
        DATASETS.build(dict(type="UCF101", root=demo_root, split="val"))
    with pytest.raises(ValueError, match="temporal_sampling"):
        DATASETS.build(dict(type="UCF101", root=demo_root, temporal_sampling="middle"))
