"""tools/eval.py end to end on tiny randomly initialised feature networks saved to temporary files: the report's
FVD / FID / IS equal the metrics of features computed here, independently, from the same frames."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from walt.evaluation.i3d import InceptionI3d
from walt.evaluation.inception import InceptionV3
from walt.evaluation.frechet import frechet_distance_from_features
from walt.evaluation.inception_score import inception_score

ROOT = Path(__file__).resolve().parents[1]
WIDTH, FRAMES, I3D_SIZE, INC_SIZE = 0.0625, 8, 32, 75


def _write_clips(folder: Path, n: int, seed: int, scale: float) -> list[np.ndarray]:
    """``n`` videos as folders of PNG frames (walt.data.video_io reads these like video files)."""
    rng = np.random.default_rng(seed)
    clips = []
    for i in range(n):
        (folder / f"clip{i}").mkdir(parents=True)
        frames = (rng.random((FRAMES, 40, 40, 3)) * 255 * scale).astype(np.uint8)
        for j, frame in enumerate(frames):
            Image.fromarray(frame).save(folder / f"clip{i}" / f"{j:02d}.png")
        clips.append(frames)
    return clips


def _signal_preserving_init(net: nn.Module) -> nn.Module:
    """He-normal convolutions, so activations of a random deep net neither vanish nor explode."""
    torch.manual_seed(0)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d)):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    return net.eval()


def _frames(clip: np.ndarray, size: int) -> torch.Tensor:
    x = torch.tensor(clip, dtype=torch.float32).permute(0, 3, 1, 2) / 127.5 - 1
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def test_eval_tool_reports_fvd_fid_is_of_the_features(tmp_path):
    real = _write_clips(tmp_path / "real", 3, 0, 1.0)
    fake = _write_clips(tmp_path / "fake", 3, 1, 0.5)
    i3d = _signal_preserving_init(InceptionI3d(width=WIDTH))
    inc = _signal_preserving_init(InceptionV3(width=WIDTH))
    torch.save({"config": {"width": WIDTH}, "state_dict": i3d.state_dict()}, tmp_path / "i3d.pt")
    torch.save(inc.state_dict(), tmp_path / "inception.pt")  # bare state dict: width from --feature-net-config
    out = tmp_path / "report.json"
    subprocess.run([sys.executable, "tools/eval.py", "--real", str(tmp_path / "real"), "--fake", str(tmp_path / "fake"),
                    "--i3d-weights", str(tmp_path / "i3d.pt"), "--inception-weights", str(tmp_path / "inception.pt"),
                    "--feature-net-config", json.dumps({"width": WIDTH}), "--num-frames", str(FRAMES),
                    "--i3d-size", str(I3D_SIZE), "--inception-size", str(INC_SIZE), "--is-splits", "2",
                    "--device", "cpu", "--out", str(out)], cwd=ROOT, check=True, capture_output=True, text=True)
    report = json.loads(out.read_text())
    assert report["num_real_videos"] == report["num_fake_videos"] == 3
    assert report["num_real_frames"] == report["num_fake_frames"] == 3 * FRAMES
    assert report["seed"] == 0 and report["i3d_size"] == I3D_SIZE and report["i3d_config"]["width"] == WIDTH

    with torch.no_grad():
        video_feats = [np.stack([i3d(_frames(c, I3D_SIZE).transpose(0, 1)[None])[0].double().numpy() for c in s])
                       for s in (real, fake)]
        image_out = [inc(torch.cat([_frames(c, INC_SIZE) for c in s])) for s in (real, fake)]
    assert video_feats[0].std(axis=0).mean() > 1e-3  # the random features are not degenerate
    assert report["fvd"] == pytest.approx(frechet_distance_from_features(*video_feats), rel=1e-5)
    assert report["fid"] == pytest.approx(
        frechet_distance_from_features(*(o[0].double().numpy() for o in image_out)), rel=1e-5)
    probs = torch.softmax(image_out[1][1].double(), dim=1).numpy()
    assert report["inception_score"] == pytest.approx(inception_score(probs, splits=2)[0], rel=1e-5)
    assert report["fvd"] > 0 and report["fid"] > 0
