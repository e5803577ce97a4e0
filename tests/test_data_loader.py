"""build_dataloader, collate, distributed splitting, worker seeding, skip counting across workers, joint batches."""
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from registry import DATASETS
from walt.data.collate import collate
from walt.data.loader import build_dataloader
from walt.data.super_resolution import SuperResolutionPairs
from walt.data.text_cache import dataset_captions
from tool_loader import load_tool



@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    load_tool("make_demo_data").main(["--out", str(out), "--num-per-class", "4", "--frames", "16", "--size", "32"])
    return str(out)


def ucf(root, **kw):
    return dict(dict(type="UCF101", root=root, split="all", num_frames=4, frame_interval=2, resolution=16), **kw)


def test_collate_stacks_tensors_keeps_strings_and_concatenates_image_groups():
    # item i: 2 stacks of 5 images, image k of stack s labelled 100·i + 10·s + k and captioned alike
    items = [dict(video=torch.full((3, 2, 4, 4), float(i)), label=i, caption=f"c{i}",
                  images=torch.full((2, 3, 5, 4, 4), float(i)),
                  image_label=torch.tensor([[100 * i + 10 * s + k for k in range(5)] for s in range(2)]),
                  image_caption=[[f"i{i}s{s}k{k}" for k in range(5)] for s in range(2)])
             for i in range(3)]
    batch = collate(items)
    assert batch["video"].shape == (3, 3, 2, 4, 4) and torch.equal(batch["video"][:, 0, 0, 0, 0], torch.arange(3.0))
    assert batch["images"].shape == (6, 3, 5, 4, 4) and batch["images"][:, 0, 0, 0, 0].tolist() == [0, 0, 1, 1, 2, 2]
    # the clips' conditions stay the clips'; each stacked image keeps its own, aligned with the stacks
    assert batch["label"].dtype == torch.long and batch["label"].tolist() == [0, 1, 2]
    assert batch["caption"] == ["c0", "c1", "c2"]
    assert batch["image_label"].shape == (6, 5)
    assert batch["image_label"][3].tolist() == [110, 111, 112, 113, 114]  # item 1, stack 1
    assert len(batch["image_caption"]) == 6 and batch["image_caption"][3] == [f"i1s1k{k}" for k in range(5)]


def test_collate_rejects_mismatched_items():
    with pytest.raises(ValueError, match="'video'"):
        collate([dict(video=torch.zeros(3, 2, 4, 4)), dict(video=torch.zeros(3, 3, 4, 4))])
    with pytest.raises(ValueError, match="keys"):
        collate([dict(video=torch.zeros(1)), dict(label=1)])


def test_loader_batches_with_workers(demo_root):
    loader = build_dataloader(ucf(demo_root), batch_size=4, num_workers=2)
    batches = list(loader)
    assert len(batches) == 16 // 4
    batch = batches[0]
    assert batch["video"].shape == (4, 3, 4, 16, 16) and batch["label"].shape == (4,)
    assert isinstance(batch["caption"], list) and len(batch["caption"]) == 4


def test_worker_seeding_is_deterministic_given_the_seed(demo_root):
    def first_epoch(seed):  # random temporal crops and flips, drawn in 2 workers
        loader = build_dataloader(ucf(demo_root, hflip=0.5), batch_size=4, num_workers=2, seed=seed)
        return torch.cat([b["video"] for b in loader])

    a, b, c = first_epoch(0), first_epoch(0), first_epoch(1)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_distributed_sampler_splits_between_two_replicas_without_a_process_group(demo_root):
    dataset = DATASETS.build(ucf(demo_root))
    paths = {}
    for rank in (0, 1):
        loader = build_dataloader(ucf(demo_root), batch_size=2, num_workers=0, distributed=True, num_replicas=2,
                                  rank=rank, seed=3)
        indices = list(loader.sampler)
        assert len(indices) == 8
        paths[rank] = [p for batch in loader for p in batch["path"]]
        assert paths[rank] == [dataset.samples[i].path for i in indices]
    assert not set(paths[0]) & set(paths[1])
    assert set(paths[0]) | set(paths[1]) == {s.path for s in dataset.samples}


def test_loader_errors_are_explicit(demo_root):
    with pytest.raises(RuntimeError, match="process group"):
        build_dataloader(ucf(demo_root), batch_size=2, num_workers=0, distributed=True)
    with pytest.raises(ValueError, match="batch_size=32"):
        build_dataloader(ucf(demo_root), batch_size=32, num_workers=0)
    with pytest.raises(ValueError, match="data\\['train'\\]"):
        build_dataloader(dict(train=ucf(demo_root), batch_size=2), batch_size=2, num_workers=0)


def test_skips_in_workers_are_counted_in_the_main_process(demo_root, tmp_path):
    for i, rel in enumerate(("MoveUp/v_MoveUp_g01_c01.mp4", "MoveLeft/v_MoveLeft_g01_c02.mp4",
                             "MoveDown/v_MoveDown_g01_c03.mp4")):
        shutil.copy(os.path.join(demo_root, rel), tmp_path / f"good{i}.mp4")
    data = (tmp_path / "good0.mp4").read_bytes()
    (tmp_path / "bad.mp4").write_bytes(data[: len(data) // 3])
    loader = build_dataloader(dict(type="VideoFolder", root=str(tmp_path), num_frames=4, resolution=16),
                              batch_size=2, num_workers=2)
    batches = list(loader)
    assert loader.dataset.skipped == 1  # the bad file, once per epoch; its replacement is a good one
    assert sum(len(b["path"]) for b in batches) == 4 and all("bad" not in p for b in batches for p in b["path"])


@pytest.fixture
def image_root(tmp_path):
    for cls in ("cat", "dog"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            value = 10 * i + (100 if cls == "dog" else 0)
            Image.fromarray(np.full((20, 20, 3), value, np.uint8)).save(tmp_path / cls / f"{i}.png")
    return str(tmp_path)


@pytest.mark.parametrize("same_class", [False, True])
def test_walt_joint_batches_carry_image_stacks_with_each_images_own_label_and_caption(demo_root, image_root,
                                                                                       same_class):
    cfg = dict(type="JointImageStacks", video=ucf(demo_root, num_frames=5, frame_interval=1),
               image=dict(type="ImageFolder", root=image_root, resolution=16, hflip=0.0),
               images_per_stack=2, stacks_per_item=3, same_class=same_class)
    loader = build_dataloader(cfg, batch_size=4, num_workers=0)
    batch = next(iter(loader))
    assert batch["video"].shape == (4, 3, 5, 16, 16)
    assert batch["images"].shape == (12, 3, 2, 16, 16)
    assert batch["label"].shape == (4,) and len(batch["caption"]) == 4
    assert batch["image_label"].shape == (12, 2) and [len(c) for c in batch["image_caption"]] == [2] * 12
    # every image is one of the image dataset's uniform images (cat: 0/10/20, dog: 100/110/120) ...
    torch.testing.assert_close(batch["images"], batch["images"][:, :, :, :1, :1].expand_as(batch["images"]))
    pixel = torch.round((batch["images"][:, 0, :, 0, 0] + 1) * 127.5)  # (12, 2)
    assert set(pixel.flatten().tolist()) <= {0.0, 10.0, 20.0, 100.0, 110.0, 120.0}
    # ... labelled and captioned with its own class
    image_class = (pixel >= 100).long()
    assert torch.equal(batch["image_label"], image_class)
    assert batch["image_caption"] == [["dog" if c else "cat" for c in stack] for stack in image_class.tolist()]
    mixed = image_class[:, 0] != image_class[:, 1]
    assert not mixed.any() if same_class else mixed.any()  # independent images mix classes within a stack
    # tools/encode_text.py caches the captions of the clips and of the images
    joint = loader.dataset
    expected = [s.caption for s in joint.video.samples] + [s.caption for s in joint.image.samples]
    assert dataset_captions(SuperResolutionPairs(joint)) == expected


def test_joint_stacks_need_matching_resolutions(demo_root, image_root):
    with pytest.raises(ValueError, match="resolution"):
        DATASETS.build(dict(type="JointImageStacks", video=ucf(demo_root),
                            image=dict(type="ImageFolder", root=image_root, resolution=8)))


def test_lavita_joint_appends_frames_of_other_videos_marked_in_image_mask(demo_root):
    video_cfg = ucf(demo_root, hflip=0.0, temporal_sampling="center")
    plain = DATASETS.build(video_cfg)
    center_frames = torch.stack([plain.load_clip(j, num_frames=1)[:, 0] for j in range(len(plain))])  # frame 7
    loader = build_dataloader(dict(type="JointAppendedFrames", dataset=video_cfg, num_images=3), batch_size=4,
                              num_workers=0, shuffle=False)
    batch = next(iter(loader))
    assert batch["video"].shape == (4, 3, 4 + 3, 16, 16)
    assert batch["image_mask"].dtype == torch.bool
    assert batch["image_mask"].tolist() == [[False] * 4 + [True] * 3] * 4
    assert batch["image_label"].shape == (4, 3) and [len(c) for c in batch["image_caption"]] == [3] * 4
    for i in range(4):
        torch.testing.assert_close(batch["video"][i, :, :4], plain[i]["video"])
        for f in range(4, 7):
            distance = (center_frames - batch["video"][i, :, f]).abs().flatten(1).amax(1)
            sources = torch.nonzero(distance < 1e-6).flatten().tolist()
            assert sources and i not in sources  # a frame of another video of the same dataset ...
            # ... with that video's label and caption, not the clip's
            own = {(plain.samples[j].label, plain.samples[j].caption) for j in sources}
            assert (int(batch["image_label"][i, f - 4]), batch["image_caption"][i][f - 4]) in own
