"""``torchrun --nproc_per_node 2`` on CPU (gloo): DDP keeps both ranks' weights identical and resumes exactly, FSDP
(sharded weights, gradients and optimizer state) trains to the same weights as DDP from the same seed and data, and
2 ranks × micro-batch 2 × 2 accumulation steps (DDP ``no_sync`` / FSDP without gradient sync on the first
micro-step) give the weights of 1 rank × micro-batch 8 on the same samples — under plain SGD, whose step is
``lr × gradient``, so gradients summed over ranks or micro-steps instead of averaged would change the weights
(AdamW's step does not depend on the gradient's scale)."""
import torch

from engine_tiny import SGD, write_config
from torchrun_jobs import run_jobs
from walt.engine.checkpoint import load_checkpoint
from walt.engine.config import load_config
from walt.engine.trainer import Trainer


def test_ddp_ranks_agree_fsdp_matches_ddp_and_accumulation_matches_one_large_batch(tmp_path):
    data = dict(train=dict(type="EngineTinyVideos", length=16), batch_size=4, num_workers=0)  # 2 per rank
    configs = {p: write_config(tmp_path, name=p, max_steps=3, ckpt_interval=3, parallel=p, data=data)
               for p in ("ddp", "fsdp")}
    # global batch 8 of a deterministic loss: 2 ranks × 2 micro-steps × 2 samples
    accumulation = dict(model=dict(type="EngineTinyMLP", noise=False), optimizer=SGD, max_steps=3, ckpt_interval=3,
                        data=dict(data, batch_size=8, micro_batch_size=2))
    for p in ("ddp", "fsdp"):
        configs[f"accum_{p}"] = write_config(tmp_path, name=f"accum_{p}", parallel=p, **accumulation)
    jobs = [dict(name=name, config=str(path), work_dir=str(tmp_path / name), options=None, resume=False)
            for name, path in configs.items()]
    jobs += [dict(name=f"split{i}", config=str(configs["ddp"]), work_dir=str(tmp_path / "split"),
                  options={"max_steps": steps}, resume=i == 1) for i, steps in enumerate((2, 3))]
    runs = run_jobs(jobs)

    ddp = runs["ddp"]
    for part in ("model", "ema"):
        for key, value in ddp[0][part].items():
            assert torch.equal(value, ddp[1][part][key]), (part, key)
    assert ddp[0]["losses"] == ddp[1]["losses"] and len(ddp[0]["losses"]) == 3  # loss = mean over ranks
    saved = load_checkpoint(tmp_path / "ddp" / "step_00000003.pth")
    assert len(saved["rng"]) == 2  # every rank's RNG state, for an exact resume
    assert all(torch.equal(saved["ema"][k], ddp[0]["ema"][k]) for k in saved["ema"])
    assert sorted(saved["model"]) == ["mlp.0.bias", "mlp.0.weight", "mlp.2.bias", "mlp.2.weight"]

    fsdp = runs["fsdp"][0]
    torch.testing.assert_close(fsdp["losses"], ddp[0]["losses"], rtol=1e-5, atol=1e-6)
    for part in ("model", "ema"):
        for key, value in ddp[0][part].items():
            torch.testing.assert_close(fsdp[part][key], value, rtol=1e-5, atol=1e-6)
    fsdp_saved = load_checkpoint(tmp_path / "fsdp" / "step_00000003.pth")
    for key, value in fsdp["model"].items():
        if key in fsdp_saved["model"]:
            assert torch.equal(fsdp_saved["model"][key], value), key  # the gathered full weights were saved
    # stopping at step 2 and resuming with two processes continues exactly (every rank's RNG, sampler epoch/offset)
    split = runs["split0"][0]["losses"] + runs["split1"][0]["losses"]
    assert split == ddp[0]["losses"]
    for key, value in ddp[0]["model"].items():
        assert all(torch.equal(runs["split1"][rank]["model"][key], value) for rank in range(2)), key
    for p in ("ddp", "fsdp"):
        assert f"world size 2, device cpu, precision fp32, parallel {p}" in (tmp_path / p / "train.log").read_text()

    # one process, micro-batch 8: the epoch's permutation in the same order the two ranks split between them
    large = Trainer(load_config(configs["accum_ddp"], {"data.micro_batch_size": 8}), work_dir=tmp_path / "large")
    large_losses = large.train()
    for p in ("ddp", "fsdp"):
        run = runs[f"accum_{p}"][0]
        assert f"global batch 8 = micro-batch 2 × 2 accumulation step(s) × 2 process(es)" in \
            (tmp_path / f"accum_{p}" / "train.log").read_text()
        torch.testing.assert_close(run["losses"], large_losses, rtol=0, atol=1e-6)
        for part, reference in (("model", large.model.state_dict()), ("ema", large.ema.state_dict())):
            for key, value in reference.items():
                if key in run[part]:
                    torch.testing.assert_close(run[part][key], value, rtol=0, atol=1e-5, msg=f"{p} {part} {key}")
