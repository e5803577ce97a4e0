"""scripts/slurm/train.sbatch run outside Slurm with stand-ins for ``srun`` and ``scontrol``: one torchrun agent per
node with a c10d rendezvous on the first node, ``--resume`` once the work dir has a checkpoint, and on the time-limit
warning (USR1) a SIGTERM to the training step (the trainer's checkpoint-and-exit) followed by ``scontrol requeue``."""
import os
import signal
import subprocess
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm" / "train.sbatch"
FAKE_SRUN = """#!/bin/bash
echo "$@" > "$FAKE_LOG/srun.args"
if [ -n "${FAKE_SRUN_WAIT:-}" ]; then
    trap 'echo TERM >> "$FAKE_LOG/events"; exit 143' TERM
    while true; do sleep 0.05; done
fi
"""
FAKE_SCONTROL = """#!/bin/bash
if [ "$1" = show ]; then printf 'node-a\\nnode-b\\n'; else echo "$*" >> "$FAKE_LOG/events"; fi
"""


def _launch(tmp_path, **env):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("srun", FAKE_SRUN), ("scontrol", FAKE_SCONTROL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    environment = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}", FAKE_LOG=str(tmp_path),
                       CONFIG="configs/walt_ucf.py", WORK_DIR=str(tmp_path / "work"), SLURM_JOB_ID="77",
                       SLURM_NNODES="2", SLURM_JOB_NODELIST="node-[a-b]", GPUS_PER_NODE="4", **env)
    return subprocess.Popen(["bash", str(SCRIPT), "--cfg-options", "seed=1"], env=environment,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sbatch_launches_one_torchrun_per_node_and_resumes_from_the_work_dirs_checkpoint(tmp_path):
    expected = ("--ntasks-per-node=1 --kill-on-bad-exit=1 torchrun --nnodes 2 --nproc_per_node 4 --rdzv_backend c10d "
                "--rdzv_endpoint node-a:29500 --rdzv_id 77 tools/train.py configs/walt_ucf.py --work-dir "
                f"{tmp_path / 'work'}")
    assert _launch(tmp_path).wait(timeout=30) == 0
    assert (tmp_path / "srun.args").read_text().strip() == expected + " --cfg-options seed=1"
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "latest").write_text("step_00000010.pth")
    assert _launch(tmp_path).wait(timeout=30) == 0
    assert (tmp_path / "srun.args").read_text().strip() == expected + " --resume --cfg-options seed=1"


def test_time_limit_warning_stops_the_step_then_requeues_the_job(tmp_path):
    job = _launch(tmp_path, FAKE_SRUN_WAIT="1")
    deadline = time.time() + 30
    while not (tmp_path / "srun.args").exists() and time.time() < deadline:
        time.sleep(0.05)
    job.send_signal(signal.SIGUSR1)
    out, _ = job.communicate(timeout=30)
    assert job.returncode == 143 and "time limit near" in out
    assert (tmp_path / "events").read_text().splitlines() == ["TERM", "requeue 77"]  # saved first, then requeued
