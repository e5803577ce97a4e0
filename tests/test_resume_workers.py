"""Bit-exact resume with data-loader workers: every random draw of an item is a function of (seed, epoch, index)."""
import os
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from engine_tiny import write_config
from registry import DATASETS, MODELS
from walt.data.collate import collate
from walt.data.transforms import ClipTransform, item_generator, sample_frame_indices
from walt.data.video_io import open_video, read_frames
from walt.engine.config import load_config
from walt.engine.trainer import Trainer
from tool_loader import load_tool

NUM_FRAMES, INTERVAL, RESOLUTION = 2, 2, (4, 6)  # 16×16 sources: a random crop of 11×16 rows, resized to 4×6


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    load_tool("make_demo_data").main(["--out", str(out), "--num-per-class", "2", "--frames", "8", "--size", "16"])  # 4 classes: 8 videos
    return str(out)


def ucf(root, **kw):
    return dict(dict(type="UCF101", root=root, split="all", num_frames=NUM_FRAMES, frame_interval=INTERVAL,
                     resolution=RESOLUTION, random_crop=True, hflip=0.5, temporal_sampling="random"), **kw)


@MODELS.register_module(force=True)
class ResumeProbeMLP(nn.Module):
    """Test model: its loss reads every pixel of the augmented clips and draws noise from the global RNG."""

    def __init__(self, dim: int, hidden: int = 8):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, batch: dict) -> dict:
        x = batch["video"].flatten(1)
        return dict(loss=F.mse_loss(self.mlp(x + torch.randn_like(x)), x))


def test_resume_with_two_workers_gives_the_identical_loss_sequence(demo_root, tmp_path):
    # 8 videos, batch 2: 4 batches per epoch; the interruption at step 5 is mid-epoch 1
    path = write_config(tmp_path, model=dict(type="ResumeProbeMLP", dim=3 * NUM_FRAMES * RESOLUTION[0] * RESOLUTION[1]),
                        data=dict(train=ucf(demo_root), batch_size=2, num_workers=2), ckpt_interval=100)
    full = Trainer(load_config(path, {"max_steps": 7}), work_dir=tmp_path / "full")
    full_losses = full.train()
    first = Trainer(load_config(path, {"max_steps": 5}), work_dir=tmp_path / "split").train()
    resumed = Trainer(load_config(path, {"max_steps": 7}), work_dir=tmp_path / "split", resume=True)
    assert resumed.data.state_dict() == dict(epoch=1, consumed=1)
    second = resumed.train()
    assert len(full_losses) == 7 and first + second == full_losses  # exact float equality
    for (name, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name


def reference_item(dataset, index, epoch):
    """Item ``index`` at ``epoch`` computed directly: temporal crop, then crop position and flip, all drawn from
    ``item_generator(seed, epoch, index)``."""
    generator = item_generator(dataset.seed, epoch, index)
    video = open_video(dataset.samples[index].path)
    offsets = sample_frame_indices(len(video), NUM_FRAMES, INTERVAL, "random", generator)
    frames = read_frames(video, offsets)
    return ClipTransform(RESOLUTION, random_crop=True, hflip=0.5)(frames, generator)


def items_by_path(dataset, order, num_workers):
    loader = DataLoader(dataset, batch_size=3, sampler=order, num_workers=num_workers, collate_fn=collate)
    return {p: v for batch in loader for p, v in zip(batch["path"], batch["video"])}


def test_item_at_an_epoch_is_the_same_in_any_order_and_worker(demo_root):
    dataset = DATASETS.build(ucf(demo_root))
    n = len(dataset)
    dataset.set_epoch(3)
    torch.manual_seed(1)  # the global RNG plays no part
    expected = {dataset.samples[i].path: reference_item(dataset, i, 3) for i in range(n)}
    in_order = {dataset.samples[i].path: dataset[i]["video"] for i in range(n)}
    torch.manual_seed(2)
    shuffled = items_by_path(dataset, [5, 0, 7, 2, 6, 1, 3, 4], num_workers=2)
    for p, video in expected.items():
        assert torch.equal(in_order[p], video) and torch.equal(shuffled[p], video), p
    dataset.set_epoch(4)  # another epoch, other draws
    assert not all(torch.equal(dataset[i]["video"], expected[dataset.samples[i].path]) for i in range(n))


def test_corrupt_video_replacement_is_the_same_in_any_order_and_worker(demo_root, tmp_path):
    videos = sorted(os.path.join(d, f) for d, _, fs in os.walk(demo_root) for f in fs if f.endswith(".mp4"))[:4]
    for i, src in enumerate(videos):
        shutil.copy(src, tmp_path / f"v{i}.mp4")
    data = (tmp_path / "v0.mp4").read_bytes()
    (tmp_path / "v1.mp4").write_bytes(data[: len(data) // 3])  # index 1 is replaced
    dataset = DATASETS.build(dict(type="VideoFolder", root=str(tmp_path), num_frames=NUM_FRAMES,
                                  frame_interval=INTERVAL, resolution=RESOLUTION, random_crop=True))
    dataset.set_epoch(1)
    in_order = [dataset[i] for i in range(4)]
    assert "v1.mp4" not in in_order[1]["path"]
    loader = DataLoader(dataset, batch_size=1, sampler=[3, 1, 2, 0], num_workers=2, collate_fn=collate)
    loaded = {index: batch for index, batch in zip([3, 1, 2, 0], loader)}
    for i in range(4):
        assert loaded[i]["path"] == [in_order[i]["path"]] and torch.equal(loaded[i]["video"][0], in_order[i]["video"])
    assert dataset.skipped == 1 + 1  # once in the main process, once in a worker


def test_joint_items_are_the_same_in_any_order(demo_root, tmp_path):
    from PIL import Image
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            rgb = np.random.default_rng(i + 10 * (cls == "b")).integers(0, 256, (8, 12, 3), dtype=np.uint8)
            Image.fromarray(rgb).save(tmp_path / cls / f"{i}.png")
    stacks = DATASETS.build(dict(type="JointImageStacks", video=ucf(demo_root), images_per_stack=3,
                                 image=dict(type="ImageFolder", root=str(tmp_path), resolution=RESOLUTION,
                                            random_crop=True)))
    appended = DATASETS.build(dict(type="JointAppendedFrames", dataset=ucf(demo_root), num_images=3))
    for dataset in (stacks, appended):
        dataset.set_epoch(2)
        torch.manual_seed(0)
        forward = [dataset[i] for i in range(3)]
        torch.manual_seed(1)
        backward = [dataset[i] for i in reversed(range(3))][::-1]
        for a, b in zip(forward, backward):
            assert all(torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k] for k in a)
