"""End to end through tools/train.py on the real model: a demo config (shrunk to 2 layers of width 32) trains 3 steps
on generated demo videos, writes EMA samples, resumes for one more step."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from walt.engine import train_cli as train_tool

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo_data")
    subprocess.run([sys.executable, str(REPO / "tools" / "make_demo_data.py"), "--out", str(out),
                    "--num-per-class", "2"], check=True, capture_output=True, timeout=120)
    return out


@pytest.mark.parametrize("config", ["walt_demo.py", "walt_t2v_demo.py"])
def test_demo_config_trains_samples_and_resumes(config, demo_data, tmp_path, capsys):
    path = REPO / "configs" / "demo" / config
    work = tmp_path / "w"
    options = [f"data.train.root={demo_data}", "data.batch_size=2", "data.num_workers=0", "max_steps=3",
               "log_interval=1", "sample.interval=3", "sample.num=1", "sample.steps=2", "precision=fp32",
               "model.backbone.depth=2", "model.backbone.dim=32", "model.backbone.num_heads=2"]  # CPU-test size
    assert train_tool.main([str(path), "--work-dir", str(work), "--cfg-options", *options]) == 0
    assert (work / "samples" / "step_00000003.gif").is_file() and (work / "loss_curve.png").is_file()
    options[3] = "max_steps=4"
    assert train_tool.main([str(path), "--work-dir", str(work), "--resume", "--cfg-options", *options]) == 0
    assert "trained steps 3->4 of 4" in capsys.readouterr().out
    state = torch.load(work / "step_00000004.pth", weights_only=False)
    assert state["step"] == 4 and len(state["history"]) == 4
    assert all(torch.isfinite(torch.tensor([loss for _, loss in state["history"]])))
