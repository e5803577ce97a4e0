"""Metadata tables, tar shards and streamed reading (issue 29): round trip, disjoint coverage per epoch, resume,
corrupt members, ``pipe:`` URLs."""
import json
import os
import tarfile
from collections import defaultdict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from engine_tiny import write_config
from registry import DATASETS, MODELS
from tool_loader import load_tool
from walt.data.loader import build_dataloader
from walt.data.shard_plan import merge_position
from walt.data.text_cache import encode_text_cache
from walt.data.video_table import read_table, write_table
from walt.data.video_io import read_video
from walt.engine.config import load_config
from walt.engine.stream_state import StreamingLoader
from walt.engine.trainer import Trainer
from walt.models.autoencoders.identity import IdentityAutoencoder

FRAMES, SIZE = 6, 16


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """14 demo videos (the tool writes 4 classes × 4 = 16; two are dropped from the table), their table and shards
    of 3 (shards of 3, 3, 3, 3, 2 members)."""
    out = tmp_path_factory.mktemp("shards")
    load_tool("make_demo_data").main(["--out", str(out / "demo"), "--num-per-class", "4", "--frames", str(FRAMES),
                                      "--size", str(SIZE)])
    rows, _ = load_tool("scan_videos").scan(str(out / "demo"), str(out / "table.parquet"), workers=1,
                                            label_from_folder=True, progress=False)
    write_table(rows[:14], str(out / "table.parquet"))
    load_tool("make_shards").make_shards(str(out / "table.parquet"), str(out / "shards"), 3, shuffle_seed=0,
                                         progress=False)
    return out


def shards_cfg(demo, **kw):
    return dict(dict(type="VideoShards", index=str(demo / "shards" / "index.json"), num_frames=2, frame_interval=2,
                     resolution=(8, 8), random_crop=True, hflip=0.5), **kw)


def member_shards(demo) -> dict[str, int]:
    """key → shard number, read with Python's tarfile (not webdataset)."""
    index = json.loads((demo / "shards" / "index.json").read_text())
    found = {}
    for k, shard in enumerate(index["shards"]):
        with tarfile.open(demo / "shards" / shard["name"]) as tar:
            found.update({name.split(".")[0]: k for name in tar.getnames()})
    return found


def take(dataset_or_loader, n):
    it = iter(dataset_or_loader)
    return [next(it) for _ in range(n)]


def test_shards_read_back_equal_the_source_clips(demo):
    index = json.loads((demo / "shards" / "index.json").read_text())
    assert [s["count"] for s in index["shards"]] == [3, 3, 3, 3, 2] and index["total"] == 14
    # whole videos at their own size, no flip: the clip is the source file's frames, scaled to [-1, 1]
    dataset = DATASETS.build(shards_cfg(demo, num_frames=None, frame_interval=1, resolution=None, hflip=0.0))
    items = take(dataset, 14)
    assert len({item["key"] for item in items}) == 14
    for item in items:
        source = demo / item["path"]
        frames = torch.from_numpy(read_video(source)).permute(3, 0, 1, 2).float() / 127.5 - 1
        assert torch.equal(item["video"], frames), item["path"]
        assert (item["num_frames"], item["height"], item["width"]) == (FRAMES, SIZE, SIZE)
    with tarfile.open(demo / "shards" / index["shards"][0]["name"]) as tar:  # the member is the file's bytes
        name = next(n for n in tar.getnames() if n.endswith(".mp4"))
        meta = json.loads(tar.extractfile(name.replace(".mp4", ".json")).read())
        assert tar.extractfile(name).read() == (demo / meta["path"]).read_bytes()


def test_a_pipe_url_reads_the_same_members_as_the_local_path(demo):
    local = take(DATASETS.build(shards_cfg(demo)), 8)
    urls = f"pipe:cat {demo / 'shards'}/shard-{{000000..000004}}.tar"
    piped = take(DATASETS.build(shards_cfg(demo, urls=urls)), 8)
    for a, b in zip(local, piped):
        assert a["key"] == b["key"] and torch.equal(a["video"], b["video"])


def test_two_ranks_two_workers_read_disjoint_shards_covering_every_epoch_once(demo):
    shard_of = member_shards(demo)
    by_stream = defaultdict(list)
    for rank in range(2):
        loader = build_dataloader(shards_cfg(demo), batch_size=1, num_workers=2, distributed=True, num_replicas=2,
                                  rank=rank)
        for batch in take(loader, 24):
            by_stream[int(batch["shard_stream"])].append((int(batch["epoch"]), batch["key"][0]))
    assert sorted(by_stream) == [0, 1, 2, 3]
    for epoch in (0, 1):
        keys = [key for items in by_stream.values() for e, key in items if e == epoch]
        assert sorted(keys) == sorted(shard_of), epoch  # every member once
        shards = [{shard_of[key] for e, key in items if e == epoch} for items in by_stream.values()]
        assert sum(len(s) for s in shards) == len(set().union(*shards)) == 5  # each shard read by one stream
    for items in by_stream.values():
        assert [e for e, _ in items] == sorted(e for e, _ in items)  # a stream finishes an epoch before the next


def keys_of(batches):
    return [key for batch in batches for key in batch["key"]]


def test_resume_mid_epoch_continues_with_the_next_unseen_member(demo):
    full = StreamingLoader(build_dataloader(shards_cfg(demo), batch_size=2, num_workers=2))
    expected = [full.next_batch() for _ in range(9)]
    first = StreamingLoader(build_dataloader(shards_cfg(demo), batch_size=2, num_workers=2))
    before = [first.next_batch() for _ in range(3)]
    state = first.state_dict()
    resumed = StreamingLoader(build_dataloader(shards_cfg(demo), batch_size=2, num_workers=2))
    resumed.load_state_dict(json.loads(json.dumps(state)))  # as a checkpoint stores it
    after = [resumed.next_batch() for _ in range(6)]
    assert keys_of(before + after) == keys_of(expected)
    for a, b in zip(before + after, expected):
        assert torch.equal(a["video"], b["video"])
    with pytest.raises(ValueError, match="configured shards are 5 of 14"):
        resumed.load_state_dict(dict(state, shards=state["shards"][:4] + [1, 1]))


def test_resume_under_another_world_size_reads_each_member_of_the_epoch_once(demo):
    # 2 ranks x 2 workers stop after 2 batches of 2 each; 1 rank x 1 worker finishes the epoch
    loaders = [StreamingLoader(build_dataloader(shards_cfg(demo), batch_size=2, num_workers=2, distributed=True,
                                                num_replicas=2, rank=rank)) for rank in range(2)]
    seen = [(int(e), k) for loader in loaders for _ in range(2)
            for batch in [loader.next_batch()] for e, k in zip(batch["epoch"], batch["key"])]
    plans = [plan for loader in loaders for plan in loader.dataset.plans(2)]
    position = merge_position(plans, [n for loader in loaders for n in loader.consumed])  # what gather joins
    single = StreamingLoader(build_dataloader(shards_cfg(demo), batch_size=1, num_workers=0))
    single.load_state_dict(dict(position, turn=0, shards=single.dataset.counts))
    while True:
        batch = single.next_batch()
        if int(batch["epoch"]) > position["next_epoch"]:
            break
        seen.append((int(batch["epoch"]), batch["key"][0]))
    for epoch in range(position["next_epoch"]):
        keys = [k for e, k in seen if e == epoch]
        assert sorted(keys) == sorted(member_shards(demo)), epoch  # none twice, none left out


def test_corrupt_members_are_skipped_and_counted(demo, tmp_path):
    rows = read_table(str(demo / "table.parquet"))[:6]
    for row in rows:
        row["path"] = os.path.relpath(demo / row["path"], tmp_path)
    bad = tmp_path / "bad.mp4"
    data = (tmp_path / rows[2]["path"]).read_bytes()
    bad.write_bytes(data[: len(data) // 3])  # truncated: no moov atom
    rows[2] = dict(rows[2], path="bad.mp4")
    write_table(rows, str(tmp_path / "table.csv"))
    load_tool("make_shards").make_shards(str(tmp_path / "table.csv"), str(tmp_path / "shards"), 2, progress=False)
    cfg = shards_cfg(demo, index=str(tmp_path / "shards" / "index.json"), shuffle=False)
    dataset = DATASETS.build(cfg)
    assert [item["key"] for item in take(dataset, 5)] == [f"{i:09d}" for i in (0, 1, 3, 4, 5)]
    assert dataset.skipped == 1
    loader = build_dataloader(cfg, batch_size=1, num_workers=2)  # shards 0, 2 in worker 0; shard 1 in worker 1
    batches = take(loader, 10)
    assert sorted(b["key"][0] for b in batches if int(b["epoch"]) == 0) == [f"{i:09d}" for i in (0, 1, 3, 4, 5)]
    assert loader.dataset.skipped >= 1  # counted in worker 1, read in the main process


def test_table_dataset_reads_csv_and_parquet_alike(demo, tmp_path):
    rows = read_table(str(demo / "table.parquet"))
    write_table(rows, str(demo / "table_copy.csv"))
    kw = dict(num_frames=2, frame_interval=2, resolution=(8, 8), hflip=0.0, temporal_sampling="center")
    parquet = DATASETS.build(dict(type="VideoTable", table=str(demo / "table.parquet"), **kw))
    csv = DATASETS.build(dict(type="VideoTable", table=str(demo / "table_copy.csv"), **kw))
    assert len(parquet) == len(csv) == 14 and parquet.metadata == csv.metadata
    assert parquet.metadata[0] == dict(num_frames=FRAMES, height=SIZE, width=SIZE, fps=8.0)
    for i in (0, 7):
        a, b = parquet[i], csv[i]
        assert (a["path"], a["label"], a["caption"]) == (b["path"], b["label"], b["caption"])
        assert torch.equal(a["video"], b["video"])
        frames = torch.from_numpy(read_video(a["path"])[[1, 3]]).permute(3, 0, 1, 2).float()
        reference = F.interpolate(frames.permute(1, 0, 2, 3), size=(8, 8), mode="bilinear", antialias=True,
                                  align_corners=False).permute(1, 0, 2, 3) / 127.5 - 1
        assert torch.allclose(a["video"], reference, atol=1e-6)
    (tmp_path / "bad.csv").write_text("path,caption\na.mp4,x\n")
    with pytest.raises(ValueError, match="lacks columns"):
        DATASETS.build(dict(type="VideoTable", table=str(tmp_path / "bad.csv")))


def test_scan_videos_lists_an_unreadable_file_and_goes_on(tmp_path, capsys):
    load_tool("make_demo_data").main(["--out", str(tmp_path / "videos"), "--num-per-class", "1", "--frames", "5",
                                      "--size", "16"])
    (tmp_path / "videos" / "MoveUp" / "broken.mp4").write_bytes(b"not a video")
    load_tool("scan_videos").main([str(tmp_path / "videos"), "--out", str(tmp_path / "t.csv"), "--workers", "2",
                                   "--captions", str(tmp_path / "videos" / "captions.csv"), "--no-progress"])
    captured = capsys.readouterr()
    assert "broken.mp4" in captured.err and "4 videos" in captured.out and "1 unreadable" in captured.out
    rows = read_table(str(tmp_path / "t.csv"))
    assert len(rows) == 4 and all(r["text"] for r in rows)
    for row in rows:
        frames = read_video(tmp_path / row["path"])
        assert (row["num_frames"], row["height"], row["width"], row["fps"]) == (*frames.shape[:3], 8.0)


@MODELS.register_module(force=True)
class ShardProbeMLP(nn.Module):
    """Test model: its loss reads every pixel of the streamed clips and draws noise from the global RNG."""

    def __init__(self, dim: int):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(dim, 8), nn.GELU(), nn.Linear(8, dim))

    def forward(self, batch: dict) -> dict:
        x = batch["video"].flatten(1)
        return dict(loss=F.mse_loss(self.mlp(x + torch.randn_like(x)), x))


def test_trainer_resumes_streamed_shards_with_the_identical_loss_sequence(demo, tmp_path):
    path = write_config(tmp_path, model=dict(type="ShardProbeMLP", dim=3 * 2 * 8 * 8),
                        data=dict(train=shards_cfg(demo), batch_size=2, num_workers=2), ckpt_interval=100)
    full = Trainer(load_config(path, {"max_steps": 6}), work_dir=tmp_path / "full").train()
    first = Trainer(load_config(path, {"max_steps": 4}), work_dir=tmp_path / "split").train()
    second = Trainer(load_config(path, {"max_steps": 6}), work_dir=tmp_path / "split", resume=True).train()
    assert len(full) == 6 and first + second == full  # exact float equality


def fake_text_encoder(captions):
    """Deterministic stand-in text features: token ``j`` of a caption holds its length + j."""
    lengths = torch.tensor([float(len(c)) for c in captions])
    tokens = lengths[:, None, None] + torch.arange(3.0)[None, :, None].expand(-1, -1, 4)
    return dict(tokens=tokens, mask=torch.ones(len(captions), 3, dtype=torch.bool), pooled=tokens.mean(1))


def test_shards_carry_the_cached_latents_and_text_features_of_their_rows(demo, tmp_path):
    table = str(demo / "table.parquet")
    clips = DATASETS.build(dict(type="VideoTable", table=table, num_frames=2, resolution=8, hflip=0.0,
                                temporal_sampling="center"))
    load_tool("encode_latents").encode_dataset(IdentityAutoencoder(3), clips, tmp_path / "latents", shard_size=5,
                                               progress=False)  # the "latents" are the clips themselves
    encode_text_cache(fake_text_encoder, [s.caption for s in clips.samples], tmp_path / "text.pt")
    load_tool("make_shards").make_shards(table, str(tmp_path / "shards"), 4, latents=str(tmp_path / "latents"),
                                         text_cache=str(tmp_path / "text.pt"), progress=False)
    streamed = DATASETS.build(dict(type="VideoShards", index=str(tmp_path / "shards" / "index.json"),
                                   fields=("latent", "text")))
    row_of = {os.path.normpath(str(demo / row["path"])): i for i, row in enumerate(read_table(table))}
    for item in take(streamed, 14):
        i = row_of[os.path.normpath(str(demo / item["path"]))]
        assert "video" not in item and "caption" not in item
        assert torch.equal(item["latent"], clips[i]["video"])
        assert torch.equal(item["text_tokens"], fake_text_encoder([clips.samples[i].caption])["tokens"][0])
    with pytest.raises(ValueError, match="written without"):
        DATASETS.build(dict(type="VideoShards", index=str(demo / "shards" / "index.json"), fields=("latent",)))


def test_two_process_run_saves_a_position_that_resumes_on_one_process_reading_each_member_once(demo, tmp_path):
    from torchrun_jobs import run_jobs
    from walt.engine.checkpoint import load_checkpoint
    cfg = shards_cfg(demo, resolution=(4, 4))  # EngineTinyMLP's clips: 3 × 2 × 4 × 4
    path = write_config(tmp_path, max_steps=3, ckpt_interval=3, data=dict(train=cfg, batch_size=4, num_workers=0))
    run_jobs([dict(name="ddp", config=str(path), work_dir=str(tmp_path / "ddp"), options=None, resume=False)])
    position = load_checkpoint(tmp_path / "ddp" / "step_00000003.pth")["data"]
    seen = []  # what each rank read in its 3 micro-batches of 2: the first 6 members of its stream
    for rank in range(2):
        dataset = DATASETS.build(cfg)
        dataset.distribute(rank, 2)
        seen += [(item["epoch"], item["key"]) for item in take(dataset, 6)]
    single = StreamingLoader(build_dataloader(cfg, batch_size=1, num_workers=0))
    single.load_state_dict(position)
    while True:
        batch = single.next_batch()
        if int(batch["epoch"]) >= position["next_epoch"]:
            break
        seen.append((int(batch["epoch"]), batch["key"][0]))
    for epoch in range(position["next_epoch"]):
        assert sorted(k for e, k in seen if e == epoch) == sorted(member_shards(demo)), epoch
