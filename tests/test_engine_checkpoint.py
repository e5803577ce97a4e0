"""walt.engine.checkpoint and data_state: atomic writes, the ``latest`` pointer, retention, weights-only loading,
clear errors, data position."""
import os

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from walt.engine import checkpoint as ckpt
from walt.engine.data_state import ResumableLoader
from walt.engine.errors import CheckpointError
from walt.utils import atomic


def test_save_writes_step_file_and_latest_pointer(tmp_path):
    path = ckpt.save_checkpoint(tmp_path, dict(step=7, model={"w": torch.ones(2)}))
    assert path.name == "step_00000007.pth" and (tmp_path / "latest").read_text() == "step_00000007.pth\n"
    assert ckpt.latest_checkpoint(tmp_path) == path
    assert torch.equal(ckpt.load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_interrupted_write_keeps_previous_checkpoint_and_latest(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, dict(step=1, model={"w": torch.ones(3)}))

    def torch_save_dies_midway(obj, f):
        f.write(b"PK\x03\x04 partial zip")  # some bytes reach the temporary file, then the process "dies"
        raise KeyboardInterrupt

    monkeypatch.setattr(ckpt.torch, "save", torch_save_dies_midway)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save_checkpoint(tmp_path, dict(step=2, model={"w": torch.zeros(3)}))
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_00000001.pth"]  # no temp file left
    assert (tmp_path / "latest").read_text() == "step_00000001.pth\n"
    assert torch.equal(ckpt.load_checkpoint(ckpt.latest_checkpoint(tmp_path))["model"]["w"], torch.ones(3))


def test_interrupted_overwrite_of_same_step_keeps_old_content(tmp_path, monkeypatch):
    ckpt.save_checkpoint(tmp_path, dict(step=5, model={"w": torch.ones(1)}))
    monkeypatch.setattr(atomic.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        ckpt.save_checkpoint(tmp_path, dict(step=5, model={"w": torch.zeros(1)}))
    monkeypatch.undo()
    assert torch.equal(ckpt.load_checkpoint(tmp_path / "step_00000005.pth")["model"]["w"], torch.ones(1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest", "step_00000005.pth"]


def test_bad_checkpoints_raise_checkpoint_error_naming_the_file(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found: .*absent.pth"):
        ckpt.load_checkpoint(tmp_path / "absent.pth")
    (tmp_path / "garbage.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*garbage.pth"):
        ckpt.load_checkpoint(tmp_path / "garbage.pth")
    torch.save(dict(model={}), tmp_path / "partial.pth")
    with pytest.raises(CheckpointError, match=r"partial.pth lacks \['ema'\]"):
        ckpt.load_checkpoint(tmp_path / "partial.pth", required=("model", "ema"))
    with pytest.raises(CheckpointError, match="nothing to resume"):
        ckpt.latest_checkpoint(tmp_path)


def _touch(directory, *steps):
    for step in steps:
        (directory / ckpt.checkpoint_name(step)).write_bytes(b"x")


def _names(directory):
    return sorted(p.name for p in directory.iterdir())


def test_prune_keeps_last_every_nth_latest_and_later_steps(tmp_path):
    _touch(tmp_path, 2, 4, 6, 8, 10, 12, 14)
    (tmp_path / "latest").write_text("step_00000002.pth\n")  # a resumed run's pointer, still at an old step
    deleted = ckpt.prune_checkpoints(tmp_path, keep_last=2, keep_every=6, newest_step=10)
    assert sorted(p.name for p in deleted) == ["step_00000004.pth"]
    # kept: the last two up to step 10, the multiples of 6, the one latest names, and 12, 14 (later steps)
    assert _names(tmp_path) == ["latest"] + [ckpt.checkpoint_name(s) for s in (2, 6, 8, 10, 12, 14)]
    assert ckpt.prune_checkpoints(tmp_path, keep_last=None, keep_every=None, newest_step=14) == []


def test_partial_writes_are_found_and_removed(tmp_path):
    (tmp_path / ".step_00000003.pth.abc123.tmp").write_bytes(b"PK partial")
    (tmp_path / ".latest.x1.tmp").write_bytes(b"step_")
    (tmp_path / ".other.tmp").write_bytes(b"not ours")
    removed = ckpt.remove_partial_writes(tmp_path)
    assert sorted(p.name for p in removed) == [".latest.x1.tmp", ".step_00000003.pth.abc123.tmp"]
    assert _names(tmp_path) == [".other.tmp"]


class Payload:
    """An arbitrary object: the weights-only unpickler must refuse to build it."""


def test_a_checkpoint_holding_objects_is_refused(tmp_path):
    torch.save(dict(model={"w": torch.ones(1)}, extra=Payload()), tmp_path / "objects.pth")
    with pytest.raises(CheckpointError, match="cannot read checkpoint .*objects.pth: UnpicklingError"):
        ckpt.load_checkpoint(tmp_path / "objects.pth")


def _loader(shuffle=True):
    data = TensorDataset(torch.arange(10))
    return DataLoader(data, batch_size=3, shuffle=shuffle, drop_last=True, generator=torch.Generator())


def test_resumable_loader_continues_the_same_order_across_epochs():
    reference = ResumableLoader(_loader(), seed=3)
    order = [reference.next_batch()[0].tolist() for _ in range(10)]
    # 3 batches per epoch, each epoch a permutation drawn from seed + epoch, last item dropped
    for epoch in range(3):
        perm = torch.randperm(10, generator=torch.Generator().manual_seed(3 + epoch)).tolist()
        assert order[3 * epoch: 3 * epoch + 3] == [perm[0:3], perm[3:6], perm[6:9]]
    first = ResumableLoader(_loader(), seed=3)
    for _ in range(4):
        first.next_batch()
    assert first.state_dict() == dict(epoch=1, consumed=1)
    resumed = ResumableLoader(_loader(), seed=3)
    resumed.load_state_dict(first.state_dict())
    assert [resumed.next_batch()[0].tolist() for _ in range(6)] == order[4:10]
    at_epoch_end = ResumableLoader(_loader(), seed=3)
    at_epoch_end.load_state_dict(dict(epoch=0, consumed=3))  # all 3 batches of epoch 0 consumed
    assert at_epoch_end.next_batch()[0].tolist() == order[3] and at_epoch_end.state_dict() == dict(epoch=1, consumed=1)


def test_resumable_loader_rejects_an_empty_or_iterable_loader():
    empty = DataLoader(TensorDataset(torch.arange(2)), batch_size=3, drop_last=True)
    with pytest.raises(ValueError, match="yields no batches"):
        ResumableLoader(empty).next_batch()
    with pytest.raises(TypeError, match="map-style"):
        ResumableLoader(DataLoader(Numbers(), batch_size=None))


class Numbers(IterableDataset):
    def __iter__(self):
        return iter(range(4))


class EpochProbe(TensorDataset):
    """Items ``(epoch, index, pid)``: the epoch the process that read the item had set, and that process."""

    def __init__(self, n):
        super().__init__(torch.arange(n))
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def __getitem__(self, index):
        return torch.tensor([self.epoch, index, os.getpid()])


def test_resumable_loader_workers_start_once_and_read_each_item_at_its_epoch():
    # 2 workers kept over 4 epochs of 2 batches: prefetching crosses the epoch boundaries
    loader = DataLoader(EpochProbe(5), batch_size=2, shuffle=True, drop_last=True, num_workers=2,
                        generator=torch.Generator())
    data = ResumableLoader(loader, seed=1)
    batches = [data.next_batch() for _ in range(8)]
    assert [b[:, 0].tolist() for b in batches] == [[e, e] for e in range(4) for _ in range(2)]
    for epoch in range(4):
        perm = torch.randperm(5, generator=torch.Generator().manual_seed(1 + epoch)).tolist()
        assert torch.cat([b[:, 1] for b in batches[2 * epoch: 2 * epoch + 2]]).tolist() == perm[:4]
    assert len({pid for b in batches for pid in b[:, 2].tolist()} - {os.getpid()}) == 2
