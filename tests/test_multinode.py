"""Two nodes on this machine: two ``torchrun --nnodes 2 --node_rank i`` agents (one process each, gloo, c10d
rendezvous on localhost) train a tiny config; stopped and resumed on two nodes, or resumed on one node with two
processes (the same world size: the resume rules keep every rank's data position and RNG), the run continues exactly
as the uninterrupted one."""
import torch

from engine_tiny import write_config
from torchrun_jobs import run_jobs, run_two_node_jobs


def test_two_nodes_train_and_resume_on_two_nodes_or_on_one_exactly(tmp_path):
    config = str(write_config(tmp_path, max_steps=4, ckpt_interval=2,
                              data=dict(train=dict(type="EngineTinyVideos", length=16), batch_size=4, num_workers=0)))
    job = dict(config=config, options=None, resume=False)
    runs = run_two_node_jobs([
        dict(job, name="reference", work_dir=str(tmp_path / "reference")),
        dict(job, name="first", work_dir=str(tmp_path / "split"), options={"max_steps": 2}),
        dict(job, name="second", work_dir=str(tmp_path / "split"), resume=True),
        dict(job, name="to_one_node", work_dir=str(tmp_path / "one"), options={"max_steps": 2})])
    runs |= run_jobs([dict(job, name="one_node", work_dir=str(tmp_path / "one"), resume=True)])  # 1 node × 2
    reference = runs["reference"]
    assert reference[0]["losses"] == reference[1]["losses"] and len(reference[0]["losses"]) == 4
    assert "world size 2" in (tmp_path / "reference" / "train.log").read_text()
    for first, second in (("first", "second"), ("to_one_node", "one_node")):
        assert runs[first][0]["losses"] + runs[second][0]["losses"] == reference[0]["losses"]  # exact
        for rank in range(2):
            for part in ("model", "ema"):
                for key, value in reference[rank][part].items():
                    assert torch.equal(runs[second][rank][part][key], value), (second, rank, part, key)
