"""walt.engine.trainer on a 2-layer MLP: bit-exact resume, NaN stop, W&B offline logging, frozen weights."""
import pytest
import torch

from engine_tiny import write_config
from walt.engine.checkpoint import latest_checkpoint, load_checkpoint
from walt.engine.config import load_config
from walt.engine.errors import ConfigError, NonFiniteLossError
from walt.engine.trainer import Trainer
from wandb_records import exit_code, history, wait_for


def _train(path, work_dir, options=None, **kwargs):
    trainer = Trainer(load_config(path, options), work_dir=work_dir, **kwargs)
    return trainer, trainer.train()


def test_resume_gives_the_identical_loss_sequence(tmp_path):
    # 14 items, batch 4, drop_last: 3 shuffled batches per epoch; the interruption at step 4 is mid-epoch
    path = write_config(tmp_path, data=dict(train=dict(type="EngineTinyVideos", length=14), batch_size=4,
                                            num_workers=0), ckpt_interval=100)
    full, full_losses = _train(path, tmp_path / "full", {"max_steps": 7})
    _, first = _train(path, tmp_path / "split", {"max_steps": 4})
    resumed, second = _train(path, tmp_path / "split", {"max_steps": 7}, resume=True)
    assert len(full_losses) == 7 and first + second == full_losses  # exact float equality
    for (name, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), name
    assert all(torch.equal(full.ema.shadow[k], resumed.ema.shadow[k]) for k in full.ema.shadow)
    assert resumed.data.state_dict() == dict(epoch=2, consumed=1)
    assert len(load_checkpoint(tmp_path / "split" / "step_00000007.pth")["history"]) == 4  # steps 2, 4, 6, 7


def test_checkpoint_holds_trainable_weights_only_and_optimizer_sees_only_them(tmp_path):
    trainer, _ = _train(write_config(tmp_path, max_steps=2), tmp_path / "w")
    state = load_checkpoint(latest_checkpoint(tmp_path / "w"))
    assert sorted(state["model"]) == ["mlp.0.bias", "mlp.0.weight", "mlp.2.bias", "mlp.2.weight"]
    assert sorted(state["ema"]) == sorted(state["model"])
    assert {"model", "ema", "optimizer", "scaler", "step", "rng", "config", "data", "settings"} <= set(state)
    dim = 3 * 2 * 4 * 4
    assert sum(p.numel() for g in trainer.optimizer.param_groups for p in g["params"]) == dim * 16 + 16 + 16 * dim + dim
    assert "type='EngineTinyMLP'" in state["config"] and state["step"] == 2  # the config as its text


def test_lr_warmup_and_ema_follow_their_formulas(tmp_path):
    path = write_config(tmp_path, max_steps=3, lr_schedule=dict(warmup_steps=4), ema=dict(decay=0.5))
    trainer = Trainer(load_config(path), work_dir=tmp_path / "w")
    start = {k: v.clone() for k, v in trainer.ema.shadow.items()}
    weights, lrs = [], []
    for _ in range(3):
        lrs.append(trainer.optimizer.param_groups[0]["lr"])
        trainer.optimizer_step(trainer.data.next_batch, trainer.scheduler, trainer.step + 1, lambda: 0)
        weights.append(trainer.model.mlp[0].weight.detach().clone())
    assert lrs == pytest.approx([1e-4 * 1 / 4, 1e-4 * 2 / 4, 1e-4 * 3 / 4])
    expected = start["mlp.0.weight"]
    for w in weights:
        expected = 0.5 * expected + 0.5 * w
    torch.testing.assert_close(trainer.ema.shadow["mlp.0.weight"], expected, rtol=0, atol=1e-7)
    trainer.log.close()


def test_nan_loss_stops_naming_the_step_and_keeps_the_last_good_checkpoint(tmp_path):
    path = write_config(tmp_path, model=dict(type="EngineTinyMLP", nan_at_call=5), max_steps=8, ckpt_interval=2)
    with pytest.raises(NonFiniteLossError, match="loss is nan at step 5"):
        _train(path, tmp_path / "w")
    assert latest_checkpoint(tmp_path / "w").name == "step_00000004.pth"
    assert sorted(p.name for p in (tmp_path / "w").glob("*.pth")) == ["step_00000002.pth", "step_00000004.pth"]
    assert "error: loss is nan at step 5" in (tmp_path / "w" / "train.log").read_text()


def test_grad_checkpointing_needs_a_switch_on_the_backbone(tmp_path):
    with pytest.raises(ConfigError, match="EngineTinyMLP has no 'grad_checkpointing' switch"):
        Trainer(load_config(write_config(tmp_path, grad_checkpointing=True)), work_dir=tmp_path / "w")


def test_bf16_autocast_trains_on_a_cpu_with_native_bf16(tmp_path, monkeypatch):
    from walt.engine import precision
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    trainer, losses = _train(write_config(tmp_path, precision="bf16", max_steps=2), tmp_path / "w")
    assert trainer.precision.dtype == torch.bfloat16 and all(torch.isfinite(torch.tensor(losses)))
    assert trainer.model.mlp[0].weight.dtype == torch.float32  # fp32 master weights
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(UserWarning, match="no native bf16"):
        assert precision.resolve_precision("bf16", torch.device("cpu")).name == "fp32"
    with pytest.warns(UserWarning, match="fp16' needs CUDA"):
        assert precision.resolve_precision("fp16", torch.device("cpu")).scaler is None


def test_wandb_offline_run_logs_scalars_samples_and_artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    path = write_config(tmp_path, wandb=dict(mode="offline", project="walt-test"), max_steps=4,
                        sample=dict(interval=4, num=2, steps=2))
    _train(path, tmp_path / "w")
    runs = list((tmp_path / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(runs) == 1
    expected = {"loss", "lr", "grad_norm", "steps_per_s", "samples_per_s", "noise_std",
                "samples/_type", "parameters/_type"}  # the last two: wandb.Video and the parameter wandb.Table

    def logged_keys():
        return set().union(*(keys for _, keys in history(runs[0])))
    assert wait_for(lambda: expected <= logged_keys() and exit_code(runs[0]) is not None), logged_keys()
    assert exit_code(runs[0]) == 0  # finished, not failed
    work = tmp_path / "w"
    assert (work / "loss_curve.png").is_file()
    from PIL import Image
    with Image.open(work / "samples" / "step_00000004.gif") as gif:  # 2 samples of 2 frames 4×4, padded grid
        assert gif.n_frames == 2 and gif.size == (2 + 2 * (4 + 2), 2 + 4 + 2)
    log = (work / "train.log").read_text()
    assert "step 4 loss" in log and "grad_norm" in log and "parameters: mlp 3,184 (3,184 trainable)" in log
