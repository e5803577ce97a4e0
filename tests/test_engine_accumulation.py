"""Global batch semantics: data.batch_size = micro_batch_size × accumulation steps × world size; gradient accumulation
gives the gradients (and, under plain SGD, whose step follows the gradient's scale, the weights) one large batch
gives; indivisible batches are refused in one line naming the three numbers.
(2 ranks × micro-batch 2 × accumulation 2 against 1 rank × micro-batch 8: tests/test_ddp.py.)"""
import pytest
import torch

from engine_tiny import SGD, write_config
from walt.engine import train_cli
from walt.engine.accumulation import BatchPlan
from walt.engine.config import load_config
from walt.engine.errors import ConfigError
from walt.engine.trainer import Trainer

DATA = dict(train=dict(type="EngineTinyVideos", length=16), batch_size=8, num_workers=0)


def test_batch_plan_decomposes_the_global_batch():
    plan = BatchPlan.from_config(dict(batch_size=256, micro_batch_size=8), world_size=8)
    assert (plan.micro_batch_size, plan.accumulation) == (8, 4)
    assert str(plan) == "global batch 256 = micro-batch 8 × 4 accumulation step(s) × 8 process(es)"
    default = BatchPlan.from_config(dict(batch_size=256, micro_batch_size=None), world_size=8)
    assert (default.micro_batch_size, default.accumulation) == (32, 1)


@pytest.mark.parametrize("batch, micro, world, fragment", [
    (256, 6, 8, "data.batch_size=256 (the global batch) is not a multiple of data.micro_batch_size=6 × world size 8"),
    (4, 8, 1, "data.batch_size=4 (the global batch) is not a multiple of data.micro_batch_size=8 × world size 1"),
    (5, None, 2, "data.batch_size=5 (the global batch) does not split over world size 2 and data.micro_batch_size"),
])
def test_indivisible_batches_are_refused_naming_the_numbers(batch, micro, world, fragment):
    with pytest.raises(ConfigError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        BatchPlan.from_config(dict(batch_size=batch, micro_batch_size=micro), world_size=world)


def test_indivisible_batch_is_one_error_line_and_creates_nothing(tmp_path, capsys):
    path = write_config(tmp_path, data=dict(DATA, micro_batch_size=3))
    assert train_cli.main([str(path), "--work-dir", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip()
    assert err == ("error: data.batch_size=8 (the global batch) is not a multiple of data.micro_batch_size=3 × world "
                   "size 1 = 3: batch_size must equal micro_batch_size × accumulation steps × world size")
    assert not (tmp_path / "w").exists()


def _run(path, work, options):
    """Train; returns the trainer, the logged losses and the gradients each optimizer step applied."""
    trainer = Trainer(load_config(path, options), work_dir=work)
    grads = []
    trainer.optimizer.register_step_pre_hook(
        lambda opt, args, kwargs: grads.append([p.grad.clone() for g in opt.param_groups for p in g["params"]]))
    losses = trainer.train()
    return trainer, losses, grads


def test_accumulation_gives_the_gradients_and_weights_of_one_large_batch(tmp_path):
    # the same 8 samples per optimizer step (the epoch's permutation, consumed in order), deterministic loss, fp32
    common = dict(model=dict(type="EngineTinyMLP", noise=False), optimizer=SGD, max_steps=3, ckpt_interval=100,
                  log_interval=1)
    large, large_losses, large_grads = _run(write_config(tmp_path, data=DATA, **common), tmp_path / "large", None)
    accumulated, losses, grads = _run(write_config(tmp_path, name="micro", data=dict(DATA, micro_batch_size=2),
                                                   **common), tmp_path / "accumulated", None)
    assert len(grads) == len(large_grads) == 3
    for step, (got, want) in enumerate(zip(grads, large_grads)):  # the mean over the 8 samples, not the sum of 4
        for g, w in zip(got, want):
            torch.testing.assert_close(g, w, rtol=1e-5, atol=1e-7, msg=f"step {step + 1}")
    assert accumulated.plan.accumulation == 4 and large.plan.accumulation == 1
    torch.testing.assert_close(losses, large_losses, rtol=0, atol=1e-6)  # the logged loss is the global batch's
    for name, value in large.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[name], value, rtol=0, atol=1e-5)
    for name, value in large.ema.shadow.items():
        torch.testing.assert_close(accumulated.ema.shadow[name], value, rtol=0, atol=1e-5)
    # the schedule and optimizer counted 3 optimizer steps (3 gradients applied above), not 12 micro-steps
    assert accumulated.scheduler.last_epoch == 3
    assert accumulated.data.state_dict() == dict(epoch=1, consumed=4)  # 12 micro-batches of 8 per epoch
    log = (tmp_path / "accumulated" / "train.log").read_text()
    assert "global batch 8 = micro-batch 2 × 4 accumulation step(s) × 1 process(es)" in log
    assert "samples_per_s" in log and log.count(" step 3 loss ") == 1
