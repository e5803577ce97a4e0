"""Shape buckets (walt/data/buckets.py, bucket_sampler.py, bucketed.py; walt/models/generative/clip_shapes.py): the
nearest-bucket rule, single-shape batches that every rank agrees on and that cover each item at most once, clips
loaded at their bucket's shape, and shapes a model cannot take refused when the data is built."""
import numpy as np
import pytest
import torch
from PIL import Image

from registry import MODELS
from walt.data.bucket_sampler import BucketBatchSampler
from walt.data.buckets import Bucket, batch_sizes, nearest_bucket, parse_buckets
from walt.data.loader import build_dataloader
from walt.models.generative.clip_shapes import clip_token_counts

BUCKETS = [(4, 16, 16), (4, 16, 32), (2, 16, 32)]


def test_nearest_bucket_takes_aspect_then_area_then_length_never_more_frames_than_the_clip():
    buckets = parse_buckets([(8, 32, 32), (8, 32, 64), (4, 32, 64), (8, 64, 128)])
    assert nearest_bucket(20, 36, 30, buckets) == 0        # near-square
    assert nearest_bucket(20, 40, 70, buckets) == 1        # wide: 16:9 closer to 2:1 than 1:1; 8 frames fit
    assert nearest_bucket(5, 40, 70, buckets) == 2         # only 5 frames: the 4-frame wide bucket
    assert nearest_bucket(9, 60, 130, buckets) == 3        # wide and large: the larger area
    assert nearest_bucket(3, 40, 70, buckets) is None      # shorter than every bucket
    with pytest.raises(ValueError, match=r"buckets\[1\]: .*listed twice"):
        parse_buckets([(8, 32, 32), (8, 32, 32)])
    assert batch_sizes([Bucket(4, 16, 16).volume, Bucket(4, 16, 32).volume], 4 * 4 * 16 * 32) == [8, 4]


def _batches(bucket_of, sizes, replicas, epoch, seed=3):
    out = []
    for rank in range(replicas):
        sampler = BucketBatchSampler(bucket_of, sizes, num_replicas=replicas, rank=rank, seed=seed)
        sampler.set_epoch(epoch)
        out.append(list(sampler))
    return out


def test_sampler_batches_hold_one_bucket_ranks_agree_and_no_item_repeats_in_an_epoch():
    rng = np.random.default_rng(0)
    bucket_of = [int(b) for b in rng.integers(0, 3, 101)] + [None] * 5
    sizes = [3, 2, 5]
    ranks = _batches(bucket_of, sizes, replicas=2, epoch=0)
    assert len(ranks[0]) == len(ranks[1]) == len(BucketBatchSampler(bucket_of, sizes, num_replicas=2))
    seen = []
    for step in zip(*ranks):
        buckets = {bucket_of[i] for batch in step for i in batch}
        assert len(buckets) == 1  # one shape per batch, the same on both ranks
        bucket = buckets.pop()
        assert all(len(batch) == sizes[bucket] for batch in step)
        seen += [i for batch in step for i in batch]
    assert len(seen) == len(set(seen)) and None not in {bucket_of[i] for i in seen}
    # every bucket loses less than one global batch to the epoch's remainder
    for b, size in enumerate(sizes):
        members = sum(x == b for x in bucket_of)
        assert members - 2 * size < sum(bucket_of[i] == b for i in seen) <= members
    assert _batches(bucket_of, sizes, 2, epoch=0) == ranks            # a function of (seed, epoch)
    assert _batches(bucket_of, sizes, 2, epoch=1) != ranks
    with pytest.raises(ValueError, match="no bucket fills one global batch"):
        BucketBatchSampler([0, 0, 1], [4, 4], num_replicas=2)


def _frame_folders(root, shapes):
    """One frame folder per (frames, height, width), frames of distinct grey levels."""
    for n, (frames, h, w) in enumerate(shapes):
        folder = root / f"clip{n:02d}"
        folder.mkdir(parents=True)
        for f in range(frames):
            Image.fromarray(np.full((h, w, 3), 10 * f + n, np.uint8)).save(folder / f"{f:03d}.png")


def test_bucketed_videos_load_each_clip_at_its_buckets_shape_in_single_shape_batches(tmp_path):
    sources = [(4, 20, 20), (5, 24, 18), (4, 18, 40), (6, 20, 44), (3, 16, 40), (2, 16, 30)] * 4
    _frame_folders(tmp_path, sources)
    cfg = dict(type="BucketedVideos", buckets=BUCKETS,
               dataset=dict(type="VideoFolder", root=str(tmp_path), num_frames=4, resolution=16, hflip=0.0))
    loaders = [build_dataloader(cfg, batch_size=2, num_workers=0, seed=1, distributed=True, num_replicas=2, rank=r)
               for r in range(2)]
    dataset = loaders[0].dataset
    # square and tall-ish clips go square, wide ones wide; the 3- and 2-frame wide clips the 2-frame wide bucket
    assert dataset.bucket_of == [0, 0, 1, 1, 2, 2] * 4 and dataset.unbucketed == 0
    # token budget = 2 × the largest bucket's volume (4·16·32): the square bucket gets twice the clips
    assert loaders[0].batch_sampler.batch_sizes == [4, 2, 4]
    steps = list(zip(*(iter(loader) for loader in loaders)))
    assert len(steps) == len(loaders[0].batch_sampler) == 4  # 8 square / (4·2) + 8 wide / (2·2) + 8 short / (4·2)
    paths = []
    for pair in steps:
        shapes = {tuple(batch["video"].shape[2:]) for batch in pair}
        assert len(shapes) == 1  # both ranks, one shape: each clip's own bucket
        shape = shapes.pop()
        for batch in pair:
            paths += batch["path"]
            assert all(BUCKETS[dataset.bucket_of[int(p[-2:])]] == shape for p in batch["path"])
    assert len(paths) == len(set(paths)) == 4 * 2 + 2 * 2 * 2 + 4 * 2
    with pytest.raises(ValueError, match="no item fits a bucket"):
        build_dataloader(dict(cfg, buckets=[(9, 16, 16)]), batch_size=2, num_workers=0)


def test_a_bucket_the_model_cannot_take_is_refused_when_the_data_is_built():
    with torch.device("meta"):
        model = MODELS.build(dict(
            type="LatentDiffusion", video_size=(4, 16, 16),
            autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
            backbone=dict(type="WALT", preset=None, depth=2, dim=32, num_heads=4, patch_size=2,
                          spatial_window=(1, 8, 8), spatiotemporal_window=(2, 4, 4))))
    # tokens: 4·8·8 and 4·8·16 (windows follow the grid: 1×8×16, 2×4×8), a shorter clip 2·8·16
    assert clip_token_counts(model, BUCKETS) == [256, 512, 256]
    assert clip_token_counts(model, [(4, 16, 24)]) == [4 * 8 * 12]  # the 4-wide STW window on 8 → 6 on 12
    with pytest.raises(ValueError, match=r"buckets\[1\] \(4, 16, 18\).*blocks.1.attn.*4·9/8 is not an integer"):
        clip_token_counts(model, [(4, 16, 16), (4, 16, 18)])  # 9 tokens wide: no whole number of 4-of-8 windows
    with pytest.raises(ValueError, match=r"buckets\[0\] \(4, 15, 16\).*not divisible by the patch"):
        clip_token_counts(model, [(4, 15, 16)])



def test_flops_tool_reports_each_bucket_as_the_same_count_at_its_input_shape(tmp_path, capsys):
    import json

    from tool_loader import load_tool

    config = tmp_path / "buckets.py"
    config.write_text(
        "model = dict(type='LatentDiffusion', video_size=(4, 16, 16),\n"
        "             autoencoder=dict(type='IdentityAutoencoder', latent_channels=3),\n"
        "             backbone=dict(type='WALT', preset=None, depth=2, dim=32, num_heads=4, patch_size=2,\n"
        "                           spatial_window=(1, 8, 8), spatiotemporal_window=(2, 4, 4)))\n"
        f"data = dict(train=dict(type='BucketedVideos', dataset=dict(), buckets={BUCKETS}))\n")
    flops = load_tool("flops")
    flops.main([str(config), "--buckets", "--batch-size", "2", "--json"])
    reports = json.loads(capsys.readouterr().out)
    assert [(r["bucket"], r["tokens"], r["batch"]) for r in reports] == [
        ([4, 16, 16], 256, 4), ([4, 16, 32], 512, 2), ([2, 16, 32], 256, 4)]  # budget 2 × 512 tokens
    for r in reports:
        flops.main([str(config), "--input-shape", ",".join(map(str, r["input_shape"])), "--json"])
        direct = json.loads(capsys.readouterr().out)
        assert r["input_shape"] == [r["batch"], 3, *r["bucket"]] and r["flops"] == direct["flops"] > 0


def test_trainer_on_buckets_resumes_mid_epoch_and_across_epochs_exactly(tmp_path):
    from engine_tiny import write_config
    from walt.engine.config import load_config
    from walt.engine.errors import ConfigError
    from walt.engine.trainer import Trainer

    _frame_folders(tmp_path / "clips", [(4, 20, 20), (4, 18, 40), (2, 16, 30)] * 4)  # 4 clips per bucket
    model = dict(type="LatentDiffusion", video_size=(4, 16, 16),
                 autoencoder=dict(type="IdentityAutoencoder", latent_channels=3),
                 backbone=dict(type="WALT", preset=None, depth=2, dim=32, num_heads=4, patch_size=2,
                               spatial_window=(1, 8, 8), spatiotemporal_window=(2, 4, 4)))
    data = dict(train=dict(type="BucketedVideos", buckets=BUCKETS, dataset=dict(
        type="VideoFolder", root=str(tmp_path / "clips"), num_frames=4, resolution=16)), batch_size=2, num_workers=0)
    config = write_config(tmp_path, model=model, data=data, max_steps=6, ckpt_interval=3)
    reference = Trainer(load_config(config), work_dir=tmp_path / "reference")
    assert len(reference.data.loader.batch_sampler) == 4  # 4/4 + 4/2 + 4/4: step 5 starts epoch 1
    losses = reference.train()
    assert "shape buckets (frames, height, width)×micro-batch: (4, 16, 16)×4, (4, 16, 32)×2, (2, 16, 32)×4" in (
        tmp_path / "reference" / "train.log").read_text()
    first = Trainer(load_config(config, {"max_steps": 3}), work_dir=tmp_path / "split").train()
    second = Trainer(load_config(config), work_dir=tmp_path / "split", resume=True).train()
    assert first + second == losses  # exact: the same buckets, items and noise after the resume
    bad = write_config(tmp_path, name="bad", model=model,
                       data=dict(data, train=dict(data["train"], buckets=[(4, 16, 16), (4, 16, 18)])))
    with pytest.raises(ConfigError, match=r"cannot build data: data.train.buckets\[1\] \(4, 16, 18\).*not an integer"):
        Trainer(load_config(bad), work_dir=tmp_path / "bad")
