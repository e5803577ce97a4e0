"""Trainer jobs under ``torchrun --nproc_per_node 2`` (gloo on the CPU), several per launch (process start-up
dominates a distributed test's time). :func:`run_jobs` launches this file; each job trains and leaves, per rank,
``work_dir/rank{r}_{name}.pth`` = ``{model, ema, optimizer, losses}`` (full, unsharded tensors).
:func:`run_two_node_jobs` launches it as two nodes of one process each on this machine (two ``torchrun --nnodes 2
--node_rank i`` agents meeting through a c10d rendezvous on localhost), as a cluster's nodes would."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import torch

TESTS = Path(__file__).resolve().parent


def torchrun_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", *args]


def environment(**extra: str) -> dict[str, str]:
    """The test's environment with tests/ importable (engine_tiny) and one thread per rank."""
    return dict(os.environ, OMP_NUM_THREADS="1", **extra,
                PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def run_jobs(jobs: list[dict[str, Any]], timeout: float = 240) -> dict[str, list[dict[str, Any]]]:
    """Run ``jobs`` (dicts: ``name, config, work_dir, options, resume``) in one launch; ``{name: [rank 0, rank 1]}``."""
    result = subprocess.run(torchrun_command(str(Path(__file__)), json.dumps(jobs)), capture_output=True, text=True,
                            env=environment(), timeout=timeout)
    assert result.returncode == 0, result.stderr[-4000:]
    return {job["name"]: [torch.load(Path(job["work_dir"]) / f"rank{rank}_{job['name']}.pth", weights_only=True)
                          for rank in range(2)] for job in jobs}


def run_two_node_jobs(jobs: list[dict[str, Any]], timeout: float = 240) -> dict[str, list[dict[str, Any]]]:
    """:func:`run_jobs` on two "nodes": two torchrun agents, ``--nnodes 2 --nproc_per_node 1``, c10d rendezvous."""
    with socket.socket() as probe:  # a free port for the rendezvous store
        probe.bind(("localhost", 0))
        port = probe.getsockname()[1]
    agents = [subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--node_rank", str(node), "--nproc_per_node",
         "1", "--rdzv_backend", "c10d", "--rdzv_endpoint", f"localhost:{port}", "--rdzv_id", "walt-test",
         str(Path(__file__)), json.dumps(jobs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment()) for node in range(2)]
    outputs = [agent.communicate(timeout=timeout) for agent in agents]
    for agent, (_, err) in zip(agents, outputs):
        assert agent.returncode == 0, err[-4000:]
    return {job["name"]: [torch.load(Path(job["work_dir"]) / f"rank{rank}_{job['name']}.pth", weights_only=True)
                          for rank in range(2)] for job in jobs}


def _train(jobs: list[dict[str, Any]]) -> None:
    from walt.engine.config import load_config
    from walt.engine.distributed import get_training_state, unwrap
    from walt.engine.trainer import Trainer

    trainer = None
    for job in jobs:
        trainer = Trainer(load_config(job["config"], job["options"]), work_dir=job["work_dir"], resume=job["resume"])
        losses = trainer.train()
        model = {k: v.full_tensor() if hasattr(v, "full_tensor") else v
                 for k, v in unwrap(trainer.model).state_dict().items()}
        _, optimizer = get_training_state(trainer.model, trainer.optimizer, skip=set())
        torch.save(dict(model=model, ema=trainer.ema.state_dict(), optimizer=optimizer.get("state", {}),
                        losses=losses), Path(job["work_dir"]) / f"rank{trainer.dist.rank}_{job['name']}.pth")
    if trainer is not None:
        trainer.close()


if __name__ == "__main__":
    _train(json.loads(sys.argv[1]))
