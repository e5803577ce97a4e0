"""``torchrun --nproc_per_node 2`` on CPU (gloo): DDP keeps both ranks' weights identical and resumes exactly, and
FSDP (sharded weights, gradients and optimizer state) trains to the same weights as DDP from the same seed and data."""
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from engine_tiny import write_config

REPO = Path(__file__).resolve().parents[1]

# one torchrun launch runs every job in turn (process start-up dominates the test's time)
WORKER = """
import json, sys, torch
from walt.engine.config import load_config
from walt.engine.distributed import unwrap
from walt.engine.trainer import Trainer
for job in json.loads(sys.argv[1]):
    trainer = Trainer(load_config(job["config"], job["options"]), work_dir=job["work_dir"], resume=job["resume"])
    losses = trainer.train()
    model = {k: v.full_tensor() if hasattr(v, "full_tensor") else v
             for k, v in unwrap(trainer.model).state_dict().items()}
    torch.save(dict(model=model, ema=trainer.ema.state_dict(), losses=losses),
               f"{job['work_dir']}/rank{trainer.dist.rank}_{job['name']}.pth")
trainer.close()
"""


def test_ddp_ranks_agree_and_fsdp_matches_ddp(tmp_path):
    data = dict(train=dict(type="EngineTinyVideos", length=16), batch_size=2, num_workers=0)
    configs = {p: write_config(tmp_path, name=p, max_steps=3, ckpt_interval=3, parallel=p, data=data)
               for p in ("ddp", "fsdp")}
    (tmp_path / "worker.py").write_text(WORKER)
    env = dict(os.environ, OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([str(REPO / "tests"), os.environ.get("PYTHONPATH", "")]))
    jobs = [dict(name=p, config=str(configs[p]), work_dir=str(tmp_path / p), options=None, resume=False)
            for p in configs]
    jobs += [dict(name=f"split{i}", config=str(configs["ddp"]), work_dir=str(tmp_path / "split"),
                  options={"max_steps": steps}, resume=i == 1) for i, steps in enumerate((2, 3))]
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(tmp_path / "worker.py"), json.dumps(jobs)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    runs = {job["name"]: [torch.load(f"{job['work_dir']}/rank{r}_{job['name']}.pth", weights_only=False)
                          for r in range(2)] for job in jobs}

    ddp = runs["ddp"]
    for part in ("model", "ema"):
        for key, value in ddp[0][part].items():
            assert torch.equal(value, ddp[1][part][key]), (part, key)
    assert ddp[0]["losses"] == ddp[1]["losses"] and len(ddp[0]["losses"]) == 3  # loss = mean over ranks
    saved = torch.load(tmp_path / "ddp" / "step_00000003.pth", weights_only=False)
    assert len(saved["rng"]) == 2  # every rank's RNG state, for an exact resume
    assert all(torch.equal(saved["ema"][k], ddp[0]["ema"][k]) for k in saved["ema"])
    assert sorted(saved["model"]) == ["mlp.0.bias", "mlp.0.weight", "mlp.2.bias", "mlp.2.weight"]

    fsdp = runs["fsdp"][0]
    torch.testing.assert_close(fsdp["losses"], ddp[0]["losses"], rtol=1e-5, atol=1e-6)
    for part in ("model", "ema"):
        for key, value in ddp[0][part].items():
            torch.testing.assert_close(fsdp[part][key], value, rtol=1e-5, atol=1e-6)
    fsdp_saved = torch.load(tmp_path / "fsdp" / "step_00000003.pth", weights_only=False)
    for key, value in fsdp["model"].items():
        if key in fsdp_saved["model"]:
            assert torch.equal(fsdp_saved["model"][key], value), key  # the gathered full weights were saved
    # stopping at step 2 and resuming with two processes continues exactly (every rank's RNG, sampler epoch/offset)
    split = runs["split0"][0]["losses"] + runs["split1"][0]["losses"]
    assert split == ddp[0]["losses"]
    for key, value in ddp[0]["model"].items():
        assert all(torch.equal(runs["split1"][rank]["model"][key], value) for rank in range(2)), key
    for p in configs:
        assert f"world size 2, device cpu, precision fp32, parallel {p}" in (tmp_path / p / "train.log").read_text()
