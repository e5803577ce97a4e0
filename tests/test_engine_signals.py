"""SIGTERM (a preempted job) during training: the trainer saves a checkpoint at the step boundary and exits 0."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from engine_tiny import write_config

REPO = Path(__file__).resolve().parents[1]


def test_sigterm_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    path = write_config(tmp_path, model=dict(type="EngineTinyMLP", sleep=0.2), max_steps=1000, log_interval=1,
                        ckpt_interval=1000)
    work = tmp_path / "w"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(REPO / "tools" / "train.py"), str(path), "--work-dir", str(work)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        log = work / "train.log"
        deadline = time.monotonic() + 120
        while not (log.is_file() and "step 2 " in log.read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    name = (work / "latest").read_text().strip()
    step = torch.load(work / name, weights_only=False)["step"]
    assert 2 <= step < 1000 and name == f"step_{step:08d}.pth"
    assert f"received SIGTERM at step {step}: checkpoint saved, exiting" in log.read_text()
    assert f"trained steps 0->{step} of 1000" in out
