"""What a training run survives: each fault below is run in real processes (tools/train.py, torchrun of it) against a
tiny W.A.L.T (configs/demo/walt_demo.py with 2 layers of width 32, in fp32, on freshly generated demo videos) and
compared with an uninterrupted run of the same config. "Data lost" is what the fault cost beyond the steps since the
last checkpoint, which are retrained: "nothing lost" when the resumed run ends bit-identical to the uninterrupted
one, or when the checkpoint kept is intact and nothing was written or deleted.

    python benchmarks/faults.py                  # about 4 minutes on 2 CPU cores
    python benchmarks/faults.py --keep /tmp/f    # keep the runs' work dirs

Prints one markdown table (fault, expected, observed, data lost) and exits 1 if any row lost data; docs/reliability.md
records a run.
"""
from __future__ import annotations

import argparse
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from walt.data.demo_videos import write_demo_dataset
from walt.engine.checkpoint import checkpoint_name, latest_checkpoint, load_checkpoint

REPO = Path(__file__).resolve().parents[1]
TRAIN, ENCODE = str(REPO / "tools" / "train.py"), str(REPO / "tools" / "encode_latents.py")
DEMO, CONFIGS = str(REPO / "configs" / "demo" / "walt_demo.py"), REPO / "configs"
STEPS = 60
NOTHING_LOST = "nothing lost"


class Runs:
    """The demo data, the tiny config's options and the processes of one benchmark run, under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        write_demo_dataset(root / "demo", 8, 16, 16, 0)  # 32 videos of 16 frames at 16²: 8 steps of 4 per epoch
        self.options = {"data.train.root": str(root / "demo"), "data.batch_size": 4, "data.num_workers": 2,
                        "model.backbone.depth": 2, "model.backbone.dim": 32, "model.backbone.num_heads": 2,
                        "precision": "fp32", "max_steps": STEPS, "log_interval": 1, "ckpt_interval": 1000,
                        "sample.interval": 0}

    def command(self, name: str, *extra: str, ranks: int = 1, resume: bool = False, **options: Any) -> list[str]:
        launcher = [sys.executable] if ranks == 1 else [sys.executable, "-m", "torch.distributed.run", "--standalone",
                                                        "--nproc_per_node", str(ranks)]
        merged = {**self.options, **options}
        return [*launcher, TRAIN, *extra, "--work-dir", str(self.root / name), *(["--resume"] if resume else []),
                "--cfg-options", *(f"{k}={v}" for k, v in merged.items())]

    def start(self, command: list[str]) -> subprocess.Popen:
        """A new session, so that ``os.killpg`` reaches every process of the run, as a scheduler's signal does."""
        env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="disabled")
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                                start_new_session=True, cwd=self.root)

    def run(self, command: list[str]) -> subprocess.CompletedProcess:
        proc = self.start(command)
        out, err = proc.communicate(timeout=600)
        return subprocess.CompletedProcess(command, proc.returncode, out, err)

    def wait_for(self, proc: subprocess.Popen, name: str, text: str) -> None:
        log, deadline = self.root / name / "train.log", time.monotonic() + 300
        while not (log.is_file() and text in log.read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name}: never logged {text!r}: {proc.communicate()[1][-2000:]}")
            time.sleep(0.02)


def same_state(a: Path, b: Path) -> bool:
    """Weights, EMA and optimizer state of two checkpoints equal bit for bit."""
    sa, sb = load_checkpoint(a), load_checkpoint(b)
    return all(_equal(sa[part], sb[part]) for part in ("model", "ema", "optimizer"))


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return torch.equal(a, b) if torch.is_tensor(a) else a == b


def _final(runs: Runs, name: str) -> Path:
    return runs.root / name / checkpoint_name(STEPS)


def _error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    return lines[-1] if len(lines) == 1 and "Traceback" not in stderr else f"unexpected stderr: {stderr[-300:]!r}"


# ----------------------------------------------------------------------------------------------------------------
# the faults
# ----------------------------------------------------------------------------------------------------------------

def stop_signal(runs: Runs, sig: signal.Signals, ranks: int) -> tuple[str, ...]:
    name = f"{sig.name.lower()}_{ranks}"
    proc = runs.start(runs.command(name, DEMO, ranks=ranks))
    runs.wait_for(proc, name, "step 2 ")
    os.killpg(proc.pid, sig)
    proc.communicate(timeout=300)
    step = load_checkpoint(latest_checkpoint(runs.root / name))["step"]
    exited = f"exit {proc.returncode}" if ranks == 1 else f"ranks exit {128 + sig} (torchrun {proc.returncode})"
    logged = f"exiting with code {128 + sig}" in (runs.root / name / "train.log").read_text()
    resumed = runs.run(runs.command(name, DEMO, ranks=ranks, resume=True))
    same = resumed.returncode == 0 and same_state(_final(runs, name), _final(runs, f"reference_{ranks}"))
    where = "1 process" if ranks == 1 else f"torchrun, {ranks} ranks (gloo)"
    return (f"{sig.name} to the process group ({where}, 2 loader workers)",
            f"checkpoint, exit {128 + sig}, --resume bit-exact",
            f"saved step {step}, {exited}; --resume to {STEPS}: " + ("bit-identical" if same else "DIFFERENT"),
            NOTHING_LOST if same and logged else "resumed run differs")


def kill_inside_checkpoint_write(proc: subprocess.Popen, work: Path) -> Path | None:
    """``kill -9`` the trainer ``proc`` while it writes a checkpoint (after a first one exists); return the temporary
    file it was writing (None: the run ended first). The trainer is stopped (SIGSTOP) when a temporary checkpoint
    file appears and killed only if the file is still there, i.e. before its ``os.replace``."""
    while proc.poll() is None:
        partial = sorted(work.glob(".step_*.pth.*.tmp")) if work.is_dir() else []
        if partial and (work / "latest").is_file():
            os.kill(proc.pid, signal.SIGSTOP)
            if partial[0].exists():
                os.kill(proc.pid, signal.SIGKILL)
                return partial[0]
            os.kill(proc.pid, signal.SIGCONT)
        time.sleep(0.002)
    return None


def kill_during_write(runs: Runs) -> tuple[str, ...]:
    # 63 MB checkpoints every step (width 256, 4 layers: weights, EMA, AdamW moments): time to stop the writer
    big = dict(**{"model.backbone.depth": 4, "model.backbone.dim": 256, "model.backbone.num_heads": 4},
               max_steps=8, ckpt_interval=1, ckpt_keep_last=2)
    reference = runs.run(runs.command("kill9_reference", DEMO, **big))
    work = runs.root / "kill9"
    proc = runs.start(runs.command("kill9", DEMO, **big))
    killed = kill_inside_checkpoint_write(proc, work)
    proc.communicate(timeout=120)
    if killed is None:
        return ("kill -9 during a checkpoint write", "", "the run finished before a write was caught", "not run")
    previous = load_checkpoint(latest_checkpoint(work))["step"]
    resumed = runs.run(runs.command("kill9", DEMO, resume=True, **big))
    final = work / checkpoint_name(8)
    same = reference.returncode == resumed.returncode == 0 and same_state(final, runs.root / "kill9_reference" /
                                                                            final.name)
    return ("kill -9 during a checkpoint write", "previous checkpoint and `latest` load; --resume bit-exact",
            f"killed inside {killed.name}; `latest` = step {previous} loads; --resume to 8: "
            + ("bit-identical, partial file removed" if same and not killed.exists() else "DIFFERENT"),
            NOTHING_LOST if same else "resumed run differs")


def nan_in_data(runs: Runs) -> tuple[str, ...]:
    cache = runs.root / "latents"
    encoded = runs.run([sys.executable, ENCODE, DEMO, "--out", str(cache), "--no-progress", "--cfg-options",
                        f"data.train.root={runs.root / 'demo'}"])
    if encoded.returncode != 0:
        raise RuntimeError(f"encode_latents failed: {encoded.stderr[-2000:]}")
    latents = dict(**{"data.train.type": "LatentDataset", "data.train.root": cache}, ckpt_interval=2,
                   ckpt_keep_last=None)
    clean = runs.run(runs.command("nan_clean", DEMO, **dict(latents, max_steps=8)))
    # corrupt the first item of step 5: epoch 0 draws the items in the order of a permutation seeded with the seed (0)
    shard = cache / "shard_00000.pt"
    state = torch.load(shard, weights_only=True)
    order = torch.randperm(len(state["latents"]), generator=torch.Generator().manual_seed(0))
    victim = int(order[4 * runs.options["data.batch_size"]])
    state["latents"][victim] = torch.full_like(state["latents"][victim], float("nan"))
    torch.save(state, shard)
    failed = runs.run(runs.command("nan_data", DEMO, **latents))
    kept = latest_checkpoint(runs.root / "nan_data")
    same = clean.returncode == 0 and same_state(kept, runs.root / "nan_clean" / kept.name)
    return ("NaN in the training data (a corrupt latent-cache entry)",
            "exit 3 naming the step, last good checkpoint kept",
            f"exit {failed.returncode}: {_stopped(failed)}; `latest` = {kept.name}, equal to a clean run's",
            NOTHING_LOST if failed.returncode == 3 and same else "kept checkpoint differs")


def divergence(runs: Runs) -> tuple[str, ...]:
    failed = runs.run(runs.command("diverge", DEMO, **{"optimizer.lr": 1e4, "lr_schedule.warmup_steps": 0},
                                   ckpt_interval=1, ckpt_keep_last=None))
    kept = latest_checkpoint(runs.root / "diverge")
    state = load_checkpoint(kept)
    finite = all(torch.isfinite(t).all() for part in ("model", "ema") for t in state[part].values())
    return ("divergence (lr 1e4): inf/NaN loss or gradient norm", "exit 3 naming the step, last good checkpoint kept",
            f"exit {failed.returncode}: {_stopped(failed)}; `latest` = {kept.name}, finite",
            NOTHING_LOST if failed.returncode == 3 and finite else "kept checkpoint is not finite")


def _stopped(failed: subprocess.CompletedProcess) -> str:
    """What the one error line says, without the work dir."""
    return _error_line(failed.stderr).removeprefix("error: ").split(";")[0]


def sampling_failure(runs: Runs) -> tuple[str, ...]:
    # class 9 of a 4-class model: sample() raises at every sample interval
    failing = runs.run(runs.command("sampling", DEMO, ckpt_interval=20,
                                    **{"sample.interval": 20, "sample.num": 1, "sample.steps": 2, "sample.y": "[9]"}))
    log = (runs.root / "sampling" / "train.log").read_text()
    errors = log.count("error: sampling at step")
    after = log.index(f"checkpoint {runs.root / 'sampling' / checkpoint_name(20)}") < log.index("error: sampling")
    same = failing.returncode == 0 and same_state(_final(runs, "sampling"), _final(runs, "reference_1"))
    return ("exception while sampling", "checkpoint first, error logged, training continues",
            f"{errors} sampling errors logged{' after the checkpoint' if after else ''}; trained to {STEPS}: "
            + ("bit-identical to a run without sampling" if same else "DIFFERENT"),
            NOTHING_LOST if same and after else "training changed")


def bad_input(runs: Runs, fault: str, config: str, *options: str) -> tuple[str, ...]:
    """Point a broken run at an existing work dir (the reference run's): it must fail before touching it."""
    work = runs.root / "reference_1"
    before = {p.name: p.stat().st_mtime_ns for p in work.iterdir()}
    result = runs.run([sys.executable, TRAIN, config, "--work-dir", str(work), *options])
    unchanged = {p.name: p.stat().st_mtime_ns for p in work.iterdir()} == before
    return (fault, "exit 1, one `error:` line naming the path, work dir untouched",
            f"exit {result.returncode}: {_error_line(result.stderr)[:110]}",
            NOTHING_LOST if result.returncode == 1 and unchanged else "work dir changed")


def _cpu() -> str:
    """The CPU model and its vector / matrix flags (the timings depend on them)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.machine()
    model = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "")
    flags = set(next((line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")), []))
    return " ".join([model or platform.machine()] + [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
                                                     if f in flags])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", metavar="DIR", help="run in DIR and keep it (default: a temporary directory)")
    args = parser.parse_args(argv)
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep or tmp)
        root.mkdir(parents=True, exist_ok=True)
        runs = Runs(root)
        for ranks in (1, 2):
            reference = runs.run(runs.command(f"reference_{ranks}", DEMO, ranks=ranks))
            if reference.returncode != 0:
                raise RuntimeError(f"the reference run failed: {reference.stderr[-2000:]}")
        garbage = root / "garbage.py"
        garbage.write_bytes(b"\x00\xff model = dict(\n")
        small_vae = "model.autoencoder.base_channels=16"
        rows = [stop_signal(runs, sig, ranks) for ranks in (1, 2) for sig in (signal.SIGTERM, signal.SIGINT)]
        rows += [kill_during_write(runs), nan_in_data(runs), divergence(runs), sampling_failure(runs)]
        rows += [bad_input(runs, "missing data root", DEMO, "--cfg-options", f"data.train.root={root / 'nowhere'}"),
                 bad_input(runs, "missing VAE weights (LAVITA, SD VAE)", str(CONFIGS / "lavita_ffs.py")),
                 bad_input(runs, "missing latent statistics (W.A.L.T)", str(CONFIGS / "walt_ucf.py"),
                           "--cfg-options", small_vae),
                 bad_input(runs, "missing T5 weights (W.A.L.T T2V)", str(CONFIGS / "walt_t2v_l.py"), "--cfg-options",
                           small_vae, "model.latent_norm=None"),
                 bad_input(runs, "unreadable config", str(garbage))]
    print("| fault | expected | observed | data lost |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    lost = [row[0] for row in rows if row[3] != NOTHING_LOST]
    print(f"\nfaults: {len(rows)} faults, {len(rows) - len(lost)} with nothing lost in {time.time() - start:.0f}s "
          f"({_cpu()}, {os.cpu_count()} CPUs, torch {torch.__version__})")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
