"""tools/train.py: a run end to end, and every bad input as one ``error: ...`` line, exit 1, nothing overwritten."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from walt.engine import train_cli as train_tool

from engine_tiny import write_config

REPO = Path(__file__).resolve().parents[1]


def _env():
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))


def _snapshot(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.exists() else {}


def _one_error_line(capsys, *fragments):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in err, err
    return err


def test_train_runs_and_prints_a_summary(tmp_path, capsys):
    path = write_config(tmp_path, max_steps=3)
    assert train_tool.main([str(path), "--work-dir", str(tmp_path / "w")]) == 0
    assert "trained steps 0->3 of 3" in capsys.readouterr().out.strip().splitlines()[-1]
    assert (tmp_path / "w" / "latest").read_text() == "step_00000003.pth\n"
    assert train_tool.main([str(path), "--work-dir", str(tmp_path / "w"), "--resume",
                            "--cfg-options", "max_steps=5"]) == 0
    assert "trained steps 3->5 of 5" in capsys.readouterr().out
    assert train_tool.main([str(path), "--work-dir", str(tmp_path / "fresh"), "--load-from",
                            str(tmp_path / "w" / "step_00000005.pth")]) == 0
    loaded = torch.load(tmp_path / "fresh" / "step_00000003.pth", weights_only=False)
    assert loaded["step"] == 3


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A config and a work dir holding a finished 2-step run (checkpoint, latest, train.log)."""
    root = tmp_path_factory.mktemp("trained")
    path, work = write_config(root, max_steps=2), root / "w"
    assert train_tool.main([str(path), "--work-dir", str(work)]) == 0
    return path, work


def test_missing_config(tmp_path, capsys):
    assert train_tool.main([str(tmp_path / "nope.py"), "--work-dir", str(tmp_path / "w")]) == 1
    _one_error_line(capsys, "config file not found", "nope.py")
    assert not (tmp_path / "w").exists()


@pytest.mark.parametrize("options, fragments", [
    (["model.type=NoSuchModel"], ["unknown model type 'NoSuchModel'", "EngineTinyMLP"]),
    (["data.train.type=NoSuchData"], ["unknown dataset type 'NoSuchData'", "EngineTinyVideos"]),
    (["optimizer.lrr=0.1"], ["'optimizer.lrr'", "did you mean 'lr'"]),
    (["precision=fp8"], ["precision must be one of 'bf16', 'fp16', 'fp32', got 'fp8'"]),
    (["wandb.mode=onlin"], ["wandb.mode must be one of"]),
])
def test_config_errors_leave_the_work_dir_untouched(trained, capsys, options, fragments):
    path, work = trained
    capsys.readouterr()
    before = _snapshot(work)
    assert train_tool.main([str(path), "--work-dir", str(work), "--cfg-options", *options]) == 1
    _one_error_line(capsys, *fragments)
    assert _snapshot(work) == before


def test_corrupt_and_missing_checkpoints(trained, tmp_path, capsys):
    path, work = trained
    capsys.readouterr()
    (tmp_path / "corrupt.pth").write_bytes(b"\x80\x04 truncated")
    before = _snapshot(work)
    for args, fragment in [(["--resume", str(tmp_path / "corrupt.pth")], "cannot read checkpoint"),
                           (["--load-from", str(tmp_path / "absent.pth")], "checkpoint not found"),
                           (["--resume"], None)]:
        if args == ["--resume"]:  # a 'latest' that names a vanished file
            work = tmp_path / "vanished"
            work.mkdir()
            (work / "latest").write_text("step_00000099.pth\n")
            before = _snapshot(work)
            fragment = "step_00000099.pth"
        assert train_tool.main([str(path), "--work-dir", str(work), *args]) == 1
        _one_error_line(capsys, fragment)
        assert _snapshot(work) == before
    assert train_tool.main([str(path), "--work-dir", str(tmp_path / "empty"), "--resume"]) == 1
    _one_error_line(capsys, "nothing to resume")


def test_checkpoint_of_another_model_is_rejected(trained, tmp_path, capsys):
    path, work = trained
    capsys.readouterr()
    assert train_tool.main([str(path), "--work-dir", str(tmp_path / "w2"), "--cfg-options", "model.hidden=8",
                            "--load-from", str(work / "step_00000002.pth")]) == 1
    _one_error_line(capsys, "does not fit this model", "size mismatch")
    assert not (tmp_path / "w2").exists()


def test_work_dir_that_cannot_be_written(tmp_path, capsys):
    (tmp_path / "a_file").write_text("x")
    assert train_tool.main([str(write_config(tmp_path)), "--work-dir", str(tmp_path / "a_file" / "w")]) == 1
    _one_error_line(capsys, "a_file is not a directory")


def test_subprocess_exit_code_and_single_stderr_line(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tools" / "train.py"), str(tmp_path / "missing.py")],
                            capture_output=True, text=True, env=_env(), cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: config file not found: {tmp_path / 'missing.py'}"
    assert not (tmp_path / "work_dirs").exists()
