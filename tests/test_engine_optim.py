"""walt.engine optimizers, lr schedule and EMA against their formulas."""
import math

import pytest
import torch
from torch import nn

from registry import OPTIMIZERS
from walt.engine.ema import EMA
from walt.engine.lr_schedule import WarmupSchedule, build_lr_scheduler
from walt.engine.optim import build_optimizer


def test_warmup_then_constant_and_cosine():
    constant = WarmupSchedule(warmup_steps=4)
    assert [constant(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    cosine = WarmupSchedule(warmup_steps=2, decay="cosine", total_steps=12, min_lr_ratio=0.1)
    for step in range(2, 13):
        progress = (step - 2) / 10
        assert cosine(step) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    assert cosine(12) == pytest.approx(0.1) and cosine(2) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="decay must be None or 'cosine'"):
        WarmupSchedule(decay="linear")


def test_scheduler_drives_the_optimizer_lr():
    model = nn.Linear(2, 2)
    opt = build_optimizer(dict(type="AdamW", lr=0.1), model)
    sched = build_lr_scheduler(dict(warmup_steps=2), opt, total_steps=10)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.05, 0.1, 0.1, 0.1])


def test_optimizers_take_paper_defaults_and_only_trainable_parameters():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 5).requires_grad_(False))
    adamw = build_optimizer(dict(type="AdamW"), model)
    assert adamw.defaults["lr"] == 1e-4 and adamw.defaults["weight_decay"] == 0.0
    assert [p.shape for p in adamw.param_groups[0]["params"]] == [(4, 3), (4,)]
    adafactor = build_optimizer(dict(type="Adafactor", lr=1e-3), model)
    assert isinstance(adafactor, torch.optim.Adafactor) and adafactor.defaults["lr"] == 1e-3
    assert set(OPTIMIZERS.module_dict) >= {"AdamW", "Adafactor"}
    with pytest.raises(ValueError, match="no trainable parameters"):
        build_optimizer(dict(type="AdamW"), nn.Linear(2, 2).requires_grad_(False))


def test_ema_average_and_swap_restore_training_weights():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema = EMA(model, decay=0.75)
    for value in (2.0, 4.0):
        with torch.no_grad():
            model.weight.fill_(value)
        ema.update(model)
    expected = 0.75 * (0.75 * 1.0 + 0.25 * 2.0) + 0.25 * 4.0
    assert ema.shadow["weight"].item() == expected
    with ema.applied_to(model):
        assert model.weight.item() == expected
    assert model.weight.item() == 4.0
    with pytest.raises(KeyError, match="missing"):
        ema.load_state_dict({})
