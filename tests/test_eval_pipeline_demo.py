"""scripts/pipeline_demo.sh: the README chain (data → causal VAE → latent cache + statistics → latent W.A.L.T →
tools/eval.py with stand-in detectors) runs end to end on the CPU and leaves the files each step hands on."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_pipeline_demo_runs_the_documented_chain(tmp_path):
    env = dict(os.environ, PYTHON=sys.executable, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    subprocess.run(["bash", "scripts/pipeline_demo.sh", str(tmp_path)], cwd=ROOT, env=env, check=True,
                   capture_output=True, timeout=600)
    assert (tmp_path / "vae" / "latest").is_file() and (tmp_path / "walt" / "latest").is_file()
    stats = json.loads((tmp_path / "latents" / "latent_stats.json").read_text())
    assert len(stats["mean"]) == len(stats["std"]) == 4
    report = json.loads((tmp_path / "eval.json").read_text())
    metrics = report["metrics"]
    assert set(metrics) == {"fvd", "fid", "isv"} and report["protocol"] == "stylegan-v"
    assert metrics["fvd"]["num_fake"] == 32 and metrics["fvd"]["num_real"] == 16 and metrics["fvd"]["value"] > 0
    assert metrics["fid"]["num_fake"] == 32 * 17 and metrics["isv"]["value"] >= 1.0
