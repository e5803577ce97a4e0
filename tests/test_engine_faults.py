"""Faults, each in a real process (tools/train.py, or torchrun of it), none simulated:

* SIGTERM / SIGINT to the whole process group (a scheduler, a terminal) with 2 data-loader workers, one process and
  torchrun with 2 ranks: a checkpoint is saved, the trainer exits 128 + signal, ``--resume`` continues bit-exactly;
* ``kill -9`` in the middle of a checkpoint write: the previous checkpoint and ``latest`` load, the next run removes
  the half-written file;
* NaN loss and NaN gradient norm: exit code 3 naming the step, the last good checkpoint kept, the W&B run finished
  as failed, and after resuming W&B gets no step twice;
* a sampling exception: logged after the checkpoint of its step, training goes on unchanged;
* missing data root / weights / statistics files and an unreadable config: one ``error:`` line naming the path,
  exit code 1, no work dir created.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import torch

from engine_tiny import REPO, write_config
from tool_loader import load_benchmark
from torchrun_jobs import environment, run_jobs, torchrun_command
from walt.engine.checkpoint import latest_checkpoint, load_checkpoint
from walt.engine.config import load_config
from walt.engine.trainer import Trainer
from wandb_records import exit_code, history, wait_for

TRAIN = str(REPO / "tools" / "train.py")
FULL = ("model", "ema", "optimizer", "step", "rng", "data", "settings")


def _launch(command, cwd=None, **env):
    """A new session: ``os.killpg(proc.pid, sig)`` reaches the trainer and all its children, like a scheduler."""
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd,
                            env=environment(**env), start_new_session=True)


def _wait_for_line(proc, log: Path, text: str, seconds: float = 120):
    deadline = time.monotonic() + seconds
    while not (log.is_file() and text in log.read_text()):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)


def _assert_equal(a, b, where="state"):
    """Nested dicts of tensors and numbers, equal bit for bit."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_equal(a[key], b[key], f"{where}.{key}")
    else:
        assert torch.equal(a, b) if torch.is_tensor(a) else a == b, where


def _state(trainer: Trainer) -> dict:
    return dict(model=trainer.model.state_dict(), ema=trainer.ema.state_dict(),
                optimizer=trainer.optimizer.state_dict()["state"], losses=[])


def _stop_all(procs: dict, works: dict) -> dict:
    """Send each process group its signal as soon as its run has logged step 2; return ``{sig: (exit code, stdout)}``
    after checking the checkpoint each left."""
    pending, deadline = dict(procs), time.monotonic() + 120
    while pending:
        for sig, proc in list(pending.items()):
            log = works[sig] / "train.log"
            if log.is_file() and "step 2 " in log.read_text():
                os.killpg(proc.pid, sig)
                del pending[sig]
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    results = {}
    for sig, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        step = int(load_checkpoint(latest_checkpoint(works[sig]), required=FULL)["step"])
        assert 2 <= step < 40, (step, err[-2000:])
        assert f"received {sig.name} at step {step}: checkpoint saved, exiting with code {128 + sig}" in \
            (works[sig] / "train.log").read_text()
        results[sig] = proc.returncode, out
    return results


def _slow_config(tmp_path):
    """40 steps of 0.25 s (time to signal mid-run), 2 data-loader workers."""
    return write_config(tmp_path, model=dict(type="EngineTinyMLP", sleep=0.25), max_steps=40, log_interval=1,
                        ckpt_interval=100, data=dict(train=dict(type="EngineTinyVideos", length=16), batch_size=4,
                                                     num_workers=2))


def test_sigterm_and_sigint_to_the_process_group_save_and_resume_bit_exactly(tmp_path):
    path = _slow_config(tmp_path)
    works = {sig: tmp_path / sig.name for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = {sig: _launch([sys.executable, TRAIN, str(path), "--work-dir", str(work)]) for sig, work in works.items()}
    for sig, (code, out) in _stop_all(procs, works).items():
        assert code == 128 + sig and out.strip().splitlines()[-1].endswith(f"stopped by {sig.name}")
    fast = {"model.sleep": 0.0}
    reference = Trainer(load_config(path, dict(fast, **{"data.num_workers": 0})), work_dir=tmp_path / "reference")
    reference_losses = reference.train()
    for sig in procs:
        resumed = Trainer(load_config(path, fast), work_dir=tmp_path / sig.name, resume=True)
        losses = resumed.train()
        assert losses == reference_losses[-len(losses):]  # exact float equality
        _assert_equal(_state(resumed), _state(reference))


def test_sigterm_and_sigint_under_torchrun_save_and_resume_bit_exactly(tmp_path):
    path = _slow_config(tmp_path)  # global batch 4: 2 per rank
    works = {sig: tmp_path / sig.name for sig in (signal.SIGTERM, signal.SIGINT)}
    procs = {sig: _launch(torchrun_command(TRAIN, str(path), "--work-dir", str(work))) for sig, work in works.items()}
    for sig, (_, out) in _stop_all(procs, works).items():  # torchrun's own exit code is torchrun's (1)
        assert f"stopped by {sig.name}" in out
    fast = {"model.sleep": 0.0}
    jobs = [dict(name="reference", config=str(path), work_dir=str(tmp_path / "reference"), options=fast, resume=False)]
    jobs += [dict(name=sig.name, config=str(path), work_dir=str(tmp_path / sig.name), options=fast, resume=True)
             for sig in procs]
    runs = run_jobs(jobs)
    for sig in procs:
        for rank in range(2):
            resumed, reference = runs[sig.name][rank], runs["reference"][rank]
            assert resumed["losses"] == reference["losses"][-len(resumed["losses"]):]  # exact float equality
            _assert_equal(dict(resumed, losses=[]), dict(reference, losses=[]))


def test_kill_9_during_a_checkpoint_write_keeps_the_previous_checkpoint_and_latest(tmp_path):
    # ~90 MB checkpoints (weights, EMA, AdamW moments) written every step: wide windows to stop the writer in
    path = write_config(tmp_path, model=dict(type="EngineTinyMLP", hidden=30000), max_steps=8, ckpt_interval=1,
                        ckpt_keep_last=2)
    work = tmp_path / "w"
    proc = _launch([sys.executable, TRAIN, str(path), "--work-dir", str(work)])
    killed = load_benchmark("faults").kill_inside_checkpoint_write(proc, work)
    proc.communicate(timeout=60)
    assert killed is not None and proc.returncode == -signal.SIGKILL
    previous = latest_checkpoint(work)
    state = load_checkpoint(previous, required=FULL)
    assert state["step"] < int(killed.name[len(".step_"):][:8]) and killed.exists()  # the partial file is left
    resumed = Trainer(load_config(path, {"ckpt_interval": 100}), work_dir=work, resume=True)
    assert resumed.step == state["step"] and not killed.exists()
    assert f"removed {killed.name}, left by an interrupted checkpoint write" in (work / "train.log").read_text()
    resumed.train()
    assert resumed.step == 8 and not list(work.glob(".*.tmp"))


def test_nan_loss_and_nan_gradient_stop_with_exit_code_3_and_sampling_errors_do_not(tmp_path, monkeypatch):
    wandb_env = dict(WANDB_MODE="offline", WANDB_DIR=str(tmp_path), WANDB_SILENT="true")
    nan_loss = write_config(tmp_path, name="nan_loss", model=dict(type="EngineTinyMLP", nan_at_call=6), max_steps=8,
                            log_interval=1, ckpt_interval=3, wandb=dict(mode="offline", project="walt-test"))
    bad_sampling = dict(type="EngineTinyMLP", fail_sampling=True)
    nan_grad = write_config(tmp_path, name="nan_grad", model=dict(bad_sampling, nan_grad_at_call=5), max_steps=8,
                            ckpt_interval=2, sample=dict(interval=2, num=2, steps=2))
    procs = {name: _launch([sys.executable, TRAIN, str(path), "--work-dir", str(tmp_path / name)], **wandb_env)
             for name, path in (("nan_loss", nan_loss), ("nan_grad", nan_grad))}
    outputs = {name: proc.communicate(timeout=180) for name, proc in procs.items()}
    for name, what, step, kept in (("nan_loss", "loss is nan", 6, 3), ("nan_grad", "gradient norm is nan", 5, 4)):
        work = tmp_path / name
        stderr = outputs[name][1]  # also holds the progress bar
        assert procs[name].returncode == 3 and "Traceback" not in stderr
        assert [line for line in stderr.splitlines() if "error" in line] == [
            f"error: {what} at step {step}; stopped, the last good checkpoint in {work} is kept"]
        assert latest_checkpoint(work).name == f"step_{kept:08d}.pth"

    # the sampling failures were logged after their step's checkpoint, and changed nothing
    log = (tmp_path / "nan_grad" / "train.log").read_text()
    for step in (2, 4):
        saved, failed = f"checkpoint {tmp_path / 'nan_grad' / f'step_{step:08d}.pth'}", (
            f"error: sampling at step {step} failed (RuntimeError: EngineTinyMLP.sample failed on purpose); "
            "training continues")
        assert saved in log and failed in log and log.index(saved) < log.index(failed)
    assert "Traceback" in log
    reference = Trainer(load_config(nan_grad, {"model.nan_grad_at_call": None, "max_steps": 4, "sample.interval": 0}),
                        work_dir=tmp_path / "reference")
    reference.train()
    kept = load_checkpoint(tmp_path / "nan_grad" / "step_00000004.pth")
    assert all(torch.equal(kept["model"][k], v) for k, v in reference.model.state_dict().items() if k in kept["model"])

    # W&B: the stopped run finished as failed; the resumed one continues it from step 6, sending no step twice
    first = list(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(first) == 1 and wait_for(lambda: exit_code(first[0]) is not None) and exit_code(first[0]) == 3
    assert [step for step, keys in history(first[0]) if "loss" in keys] == [1, 2, 3, 4, 5]
    for key, value in wandb_env.items():
        monkeypatch.setenv(key, value)
    Trainer(load_config(nan_loss, {"model.nan_at_call": None}), work_dir=tmp_path / "nan_loss", resume=True).train()
    second = [run for run in tmp_path.glob("wandb/offline-run-*/run-*.wandb") if run != first[0]]
    assert len(second) == 1 and second[0].name == first[0].name  # the same run id
    assert wait_for(lambda: exit_code(second[0]) is not None) and exit_code(second[0]) == 0
    assert [step for step, _ in history(second[0])] == [6, 7, 8]


def test_missing_files_and_unreadable_config_are_one_error_line_and_create_nothing(tmp_path):
    configs = REPO / "configs"
    small_vae = "model.autoencoder.base_channels=16"
    garbage = tmp_path / "garbage.py"
    garbage.write_bytes(b"\x00\xff model = dict(\n")
    no_data = write_config(tmp_path, data=dict(train=dict(type="UCF101", root=str(tmp_path / "ucf101"), num_frames=2,
                                                          resolution=4), batch_size=4))
    cases = {  # relative paths resolve against the working directory, tmp_path, where none of them exists
        "vae": ([str(configs / "lavita_ffs.py")], "checkpoints/stable-diffusion-v1-4"),
        "stats": ([str(configs / "walt_ucf.py"), "--cfg-options", small_vae], "data/ucf101_latents/latent_stats.json"),
        "t5": ([str(configs / "walt_t2v_l.py"), "--cfg-options", small_vae, "model.latent_norm=None"],
               "checkpoints/t5-v1_1-xl"),
        "data": ([str(no_data)], str(tmp_path / "ucf101")),
        "config": ([str(garbage)], str(garbage)),
    }
    procs = {name: _launch([sys.executable, TRAIN, *args, "--work-dir", str(tmp_path / f"w_{name}")], cwd=tmp_path)
             for name, (args, _) in cases.items()}
    for name, proc in procs.items():
        _, err = proc.communicate(timeout=180)
        lines = err.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), (name, err[-2000:])
        assert cases[name][1] in lines[0], (name, lines[0])
        assert not (tmp_path / f"w_{name}").exists()
