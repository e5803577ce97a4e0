"""Resume that says what it does (walt/engine/resume_check.py), the loss-scaler state, and checkpoint retention."""
import math

import pytest
import torch

from engine_tiny import write_config
from walt.engine import train_cli
from walt.engine.checkpoint import load_checkpoint
from walt.engine.config import load_config
from walt.engine.errors import ConfigError
from walt.engine.resume_check import check_resume
from walt.engine.trainer import Trainer

DATA = dict(train=dict(type="EngineTinyVideos", length=16), batch_size=8, num_workers=0)


def _snapshot(directory):
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_changed_lr_is_refused_in_one_line_and_taken_with_override(tmp_path, capsys):
    path, work = write_config(tmp_path, max_steps=3, ckpt_interval=3), tmp_path / "w"
    assert train_cli.main([str(path), "--work-dir", str(work)]) == 0
    capsys.readouterr()
    before = _snapshot(work)
    args = [str(path), "--work-dir", str(work), "--resume", "--cfg-options", "optimizer.lr=0.0002", "max_steps=5"]
    assert train_cli.main(args) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"error: cannot resume from {work / 'step_00000003.pth'}: optimizer.lr is 0.0001 in the checkpoint "
                   f"and 0.0002 now (pass --resume-override to continue with the current values, or set them back)")
    assert _snapshot(work) == before
    assert train_cli.main(args + ["--resume-override"]) == 0
    log = (work / "train.log").read_text()
    assert "resume: optimizer.lr 0.0001 -> 0.0002 takes effect (--resume-override)" in log
    assert "resume: max_steps 3 -> 5 takes effect (the run now ends at this step)" in log
    assert "step 4 loss" in log and " lr 0.0002 " in log.split("step 4 loss")[1].splitlines()[0]  # warmup over
    assert load_checkpoint(work / "step_00000005.pth")["settings"]["optimizer.lr"] == 0.0002


def test_cosine_horizon_change_needs_override_and_then_follows_the_new_horizon(tmp_path):
    schedule = dict(warmup_steps=1, decay="cosine", min_lr_ratio=0.0)
    path = write_config(tmp_path, max_steps=4, ckpt_interval=2, lr_schedule=schedule)
    Trainer(load_config(path, {"max_steps": 2}), work_dir=tmp_path / "w").train()
    with pytest.raises(ConfigError, match="max_steps is 2 in the checkpoint and 4 now"):
        Trainer(load_config(path), work_dir=tmp_path / "w", resume=True)
    resumed = Trainer(load_config(path), work_dir=tmp_path / "w", resume=True, resume_override=True)
    progress = (2 - 1) / (4 - 1)  # step 2 of a cosine from step 1 (after warmup) to step 4
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(1e-4 * 0.5 * (1 + math.cos(math.pi * progress)))


def test_smaller_micro_batch_takes_effect_with_the_same_samples_per_step(tmp_path):
    model, data = dict(type="EngineTinyMLP", noise=False), dict(DATA, train=dict(type="EngineTinyVideos", length=32))
    whole = write_config(tmp_path, name="whole", model=model, data=data, max_steps=3, ckpt_interval=1)
    split = write_config(tmp_path, name="split", model=model, data=dict(data, micro_batch_size=2), max_steps=3,
                         ckpt_interval=1)
    reference = Trainer(load_config(whole), work_dir=tmp_path / "ref")
    reference.train()
    Trainer(load_config(whole, {"max_steps": 1}), work_dir=tmp_path / "w").train()  # 1 step of 1 × 8
    resumed = Trainer(load_config(split), work_dir=tmp_path / "w", resume=True)     # then 4 × 2 per step
    assert resumed.data.state_dict() == dict(epoch=0, consumed=4)  # 8 samples into the epoch, in micro-batches of 2
    resumed.train()
    for name, value in reference.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[name], value, rtol=0, atol=1e-5)
    assert "resume: data.micro_batch_size 8 -> 2 takes effect (same global batch" in \
        (tmp_path / "w" / "train.log").read_text()


def test_check_resume_policies():
    saved = {"optimizer.type": "AdamW", "optimizer.lr": 1e-4, "lr_schedule.decay": None, "max_steps": 10,
             "data.batch_size": 8, "data.micro_batch_size": 4, "world_size": 1, "precision": "bf16"}
    world = check_resume(saved, dict(saved, world_size=2, **{"data.micro_batch_size": 2}), override=False, path="c")
    assert world.optimizer_state and world.notes == [
        "resume: data.micro_batch_size 4 -> 2 takes effect (same global batch: the same samples per optimizer step; "
        "data position converted)",
        "resume: world_size 1 -> 2 takes effect (global batch kept; from here on the data order and per-rank noise "
        "differ from an uninterrupted run)"]
    changed = dict(saved, precision="fp32", **{"data.batch_size": 16, "optimizer.type": "Adafactor"})
    with pytest.raises(ConfigError, match="data.batch_size is 8 in the checkpoint and 16 now; optimizer.type is "
                                          "'AdamW' in the checkpoint and 'Adafactor' now; precision is 'bf16'"):
        check_resume(saved, changed, override=False, path="c")
    overridden = check_resume(saved, changed, override=True, path="c")
    assert not overridden.optimizer_state and len(overridden.notes) == 3


def test_loss_scaler_state_is_saved_and_restored(tmp_path):
    # fp16 loss scaling needs CUDA; the scaler's bookkeeping is the same on the CPU
    path = write_config(tmp_path, max_steps=3, ckpt_interval=3)
    trainer = Trainer(load_config(path), work_dir=tmp_path / "w")
    trainer.precision.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10, growth_interval=1)
    trainer.train()
    saved = load_checkpoint(tmp_path / "w" / "step_00000003.pth")["scaler"]
    assert saved["scale"] == 2.0**13 and saved == trainer.precision.scaler.state_dict()  # grew once per step
    resumed = Trainer(load_config(path), work_dir=tmp_path / "w2")
    resumed.precision.scaler = torch.amp.GradScaler("cpu", growth_interval=1)
    resumed._load(tmp_path / "w" / "step_00000003.pth", full=True, override=False)
    assert resumed.precision.scaler.state_dict() == saved


def test_retention_keeps_the_last_and_every_nth_checkpoints(tmp_path):
    path = write_config(tmp_path, max_steps=10, ckpt_interval=1, ckpt_keep_last=3, ckpt_keep_every=4)
    Trainer(load_config(path), work_dir=tmp_path / "w").train()
    names = sorted(p.name for p in (tmp_path / "w").glob("*.pth"))
    assert names == ["step_00000004.pth", "step_00000008.pth", "step_00000009.pth", "step_00000010.pth"]
    assert (tmp_path / "w" / "latest").read_text() == "step_00000010.pth\n"
    assert "checkpoint " + str(tmp_path / "w" / "step_00000005.pth") + " (deleted step_00000002.pth)" in \
        (tmp_path / "w" / "train.log").read_text()
