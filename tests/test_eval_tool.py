"""tools/eval.py end to end with TorchScript stand-ins of the protocol's detector files (the real files' call
signatures, scripted and saved with torch.jit.save): the report's FVD / FID / video IS equal the StyleGAN-V
computation written out here from the saved samples and the real videos; a second run takes the real statistics
from the cache without reading real data; a 2-rank gloo run equals the 1-rank run."""
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import torch
from PIL import Image

from registry import MODELS
from tool_loader import load_tool
from walt.data.demo_videos import write_demo_dataset
from walt.data.video_io import read_video
from walt.engine.config import load_config
from walt.evaluation import real_data
from walt.evaluation.detectors import Detector
from walt.evaluation.samples import save_samples
from walt.evaluation.standin_detectors import save_standins

ROOT = Path(__file__).resolve().parents[1]
N, BATCH = 12, 4  # 12 generated and 12 real clips (the demo set: 4 classes x 3 videos of 16 frames at 16x16)


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    write_demo_dataset(str(root / "demo"), num_per_class=3, frames=16, size=16)
    detectors = save_standins(str(root / "detectors"))
    (root / "cfg.py").write_text(
        f'_base_ = ["{ROOT}/configs/demo/walt_demo.py"]\n'
        "model = dict(backbone=dict(depth=1, dim=32, num_heads=2), video_size=(16, 16, 16))\n"
        f'data = dict(train=dict(root="{root}/demo", num_frames=16, frame_interval=1, resolution=16))\n')
    torch.manual_seed(0)
    model = MODELS.build(load_config(str(root / "cfg.py")).model)
    torch.save(dict(model=model.state_dict(), step=0), root / "ckpt.pth")
    args = [str(root / "cfg.py"), "--checkpoint", str(root / "ckpt.pth"), "--i3d", detectors["i3d"],
            "--c3d", detectors["c3d"], "--inception", detectors["inception"], "--num", str(N), "--num-real", str(N),
            "--batch-size", str(BATCH), "--steps", "2"]
    return dict(root=root, detectors=detectors, args=args)


def run_eval(args: list[str], out: Path) -> dict:
    assert load_tool("eval").main(args + ["--out", str(out)]) == 0
    return json.loads(out.read_text())


def frechet_reference(a: np.ndarray, b: np.ndarray) -> float:
    """StyleGAN-V's FVD / FID: float64 statistics of float32 features, covariance over N, scipy sqrtm."""
    stats = [(x.mean(0), np.cov(x, rowvar=False, ddof=0)) for x in (a.astype(np.float64), b.astype(np.float64))]
    (mu1, s1), (mu2, s2) = stats
    root, _ = scipy.linalg.sqrtm(s1 @ s2, disp=False)
    return float(np.real(np.square(mu1 - mu2).sum() + np.trace(s1 + s2 - 2 * root)))


def video_is_reference(probs: np.ndarray, splits: int = 10) -> float:
    """StyleGAN-V isv2048_ucf: RandomState(42) shuffle, split i = rows [i*n//splits, (i+1)*n//splits)."""
    probs = probs.astype(np.float64).copy()
    np.random.RandomState(42).shuffle(probs)
    n, scores = len(probs), []
    for i in range(splits):
        part = probs[i * n // splits:(i + 1) * n // splits]
        kl = part * (np.log(part) - np.log(part.mean(axis=0, keepdims=True)))
        scores.append(np.exp(kl.sum(axis=1).mean()))
    return float(np.mean(scores))


def converted(video: np.ndarray) -> np.ndarray:
    """StyleGAN-V's convert_videos_to_frames.py at the videos' own size: each frame saved with
    ``frame.save(f.jpg, q=95)`` (PIL's default quality) and read back."""
    out = []
    for f in video:
        buffer = io.BytesIO()
        Image.fromarray(f).save(buffer, format="JPEG", q=95)
        out.append(np.array(Image.open(buffer)))
    return np.stack(out)


def read_saved(folder: Path) -> torch.Tensor:
    """The saved samples (frame folders of PNGs) as uint8 (N, 3, T, H, W)."""
    videos = [np.stack([np.array(Image.open(f)) for f in sorted(d.iterdir())]) for d in sorted(folder.iterdir())]
    return torch.from_numpy(np.stack(videos)).permute(0, 4, 1, 2, 3)


def test_eval_tool_equals_the_protocol_computation_written_out(env, tmp_path):
    samples = tmp_path / "samples"
    report = run_eval(env["args"] + ["--save-samples", str(samples), "--stats-cache", str(tmp_path / "cache")],
                      tmp_path / "report.json")
    i3d, c3d, inception = (torch.jit.load(env["detectors"][k]) for k in ("i3d", "c3d", "inception"))
    fake = read_saved(samples)
    # every demo video has exactly 16 frames: each real clip is a whole video (interval 1), at its own 16x16 size,
    # as the converter writes it (JPEG quality 75)
    paths = sorted(p for p in (env["root"] / "demo").rglob("*.mp4"))
    real = torch.from_numpy(np.stack([converted(read_video(p)) for p in paths])).permute(0, 4, 1, 2, 3)
    assert fake.shape == real.shape == (N, 3, 16, 16, 16) and fake.dtype == torch.uint8
    with torch.no_grad():
        fvd = frechet_reference(*(i3d(v, rescale=True, resize=True, return_features=True).numpy()
                                  for v in (real, fake)))
        frames = [v.transpose(1, 2).reshape(-1, 3, 16, 16) for v in (real, fake)]
        fid = frechet_reference(*(inception(f, return_features=True).numpy() for f in frames))
        isv = video_is_reference(c3d(fake).numpy())
    metrics = report["metrics"]
    assert metrics["fvd"]["value"] == pytest.approx(fvd, rel=1e-6) and fvd > 0
    assert metrics["fid"]["value"] == pytest.approx(fid, rel=1e-6) and fid > 0
    assert metrics["isv"]["value"] == pytest.approx(isv, rel=1e-6)
    for name, kind in (("fvd", "i3d"), ("fid", "inception"), ("isv", "c3d")):
        entry = metrics[name]
        digest = hashlib.sha256(Path(env["detectors"][kind]).read_bytes()).hexdigest()
        assert entry["detector"] == dict(kind=kind, file=env["detectors"][kind], sha256=digest, format="torchscript")
        assert entry["protocol"] == "stylegan-v" and entry["seed"] == 0
    assert (metrics["fvd"]["num_fake"], metrics["fvd"]["num_real"]) == (N, N)
    assert (metrics["fid"]["num_fake"], metrics["fid"]["num_real"]) == (N * 16, N * 16)
    assert metrics["isv"]["num_fake"] == N and metrics["isv"]["shuffle_seed"] == 42
    # the saved samples are lossless: evaluating the folder gives the same numbers (real clips listed in another
    # order by --real DIR: sums in another order, equal to rounding)
    folder_args = ["--real", str(env["root"] / "demo")] + env["args"][3:] + ["--stats-cache", str(tmp_path / "c2")]
    again = run_eval(["--fake", str(samples)] + folder_args, tmp_path / "folder.json")["metrics"]
    assert again["isv"]["value"] == metrics["isv"]["value"]
    assert [again[k]["value"] for k in ("fvd", "fid")] == pytest.approx([metrics[k]["value"] for k in ("fvd", "fid")],
                                                                        rel=1e-12)
    # the real clips as "samples": FVD and FID vanish, the video IS is the reference's on real clips
    save_samples(str(tmp_path / "real_as_fake"), 0, real)
    real_report = run_eval(["--fake", str(tmp_path / "real_as_fake")] + folder_args, tmp_path / "real.json")
    with torch.no_grad():
        real_isv = video_is_reference(c3d(real).numpy())
    assert real_report["metrics"]["isv"]["value"] == pytest.approx(real_isv, rel=1e-6)
    assert [real_report["metrics"][k]["value"] for k in ("fvd", "fid")] == pytest.approx([0, 0], abs=1e-6)


def test_second_run_takes_real_statistics_from_the_cache(env, tmp_path, monkeypatch):
    args = env["args"] + ["--stats-cache", str(tmp_path / "cache")]
    first = run_eval(args, tmp_path / "first.json")["metrics"]
    assert first["fvd"]["real_stats"] == first["fid"]["real_stats"] == "computed"
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 2

    def no_real_data(*_, **__):
        raise AssertionError("real data read on a cached run")

    monkeypatch.setattr(real_data.RealData, "read_clip", no_real_data)
    monkeypatch.setattr(real_data.RealData, "video_frames", no_real_data)
    calls = []
    for method in ("features", "probabilities"):
        original = getattr(Detector, method)
        monkeypatch.setattr(Detector, method, lambda self, x, _f=original: calls.append(len(x)) or _f(self, x))
    second = run_eval(args, tmp_path / "second.json")["metrics"]
    assert second["fvd"]["real_stats"] == second["fid"]["real_stats"] == "cache"
    assert {k: v["value"] for k, v in second.items()} == {k: v["value"] for k, v in first.items()}
    # detector calls: 3 chunks of 4 generated clips x (I3D, C3D, Inception on 4 x 16 frames), none on real data
    assert sorted(calls) == sorted([BATCH, BATCH, BATCH * 16] * (N // BATCH))


def test_two_rank_gloo_run_equals_one_rank(env, tmp_path):
    env_vars = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    args = [a if a != "--num" else "--num-samples" for a in env["args"]] + ["--no-stats-cache"]
    subprocess.run([sys.executable, "tools/eval.py", *args, "--out", str(tmp_path / "one.json")], cwd=ROOT,
                   env=env_vars, check=True, capture_output=True)
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                    str(29500 + os.getpid() % 1000), "tools/eval.py", *args, "--out", str(tmp_path / "two.json")],
                   cwd=ROOT, env=env_vars, check=True, capture_output=True)
    one, two = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("one", "two"))
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert {k: v["value"] for k, v in two["metrics"].items()} == {k: v["value"] for k, v in one["metrics"].items()}
    assert two["metrics"]["fvd"]["num_real"] == N and two["metrics"]["fid"]["num_fake"] == N * 16
