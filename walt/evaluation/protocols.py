"""The evaluation protocols of the papers' numbers (docs/evaluation.md has the table and the commands).

* ``stylegan-v`` — LAVITA §4.1 ("evaluation guidelines introduced by StyleGAN-V"; Latte's
  ``tools/calc_metrics_for_dataset.py``): FVD of 2,048 generated clips × 16 frames against 2,048 real clips
  (``fvd2048_16f``); FID of every generated frame against every real frame (``fid50k_full``, at most 50,000
  generated frames); video IS of the 2,048 clips with the UCF-101 C3D (``isv2048_ucf``: 10 splits after a
  ``RandomState(42)`` shuffle). Covariances with ``ddof=0`` (``FeatureStats.get_mean_cov``).
* ``adm`` — W.A.L.T §5.1 ImageNet ("we follow ADM", Dhariwal & Nichol 2021, ``evaluations/evaluator.py``): FID
  and IS of 50,000 generated images; real statistics over the whole training set; covariances ``np.cov``
  (``ddof=1``); IS over 10 splits of 5,000, unshuffled.
"""
from __future__ import annotations

from dataclasses import dataclass

# metric → (detector kind, what it measures)
METRICS = {
    "fvd": ("i3d", "Fréchet distance of I3D features of the first num_frames frames of each clip"),
    "fid": ("inception", "Fréchet distance of Inception pool features of every frame / image"),
    "is": ("inception", "Inception Score of every generated frame / image"),
    "isv": ("c3d", "video Inception Score of the first 16 frames of each clip, UCF-101 C3D"),
}
C3D_FRAMES = 16  # the C3D of TGAN-v2 takes 16-frame clips


@dataclass(frozen=True)
class Protocol:
    """Sample counts and conventions of one evaluation protocol."""

    name: str
    metrics: tuple[str, ...]
    num_samples: int             # generated clips (or images)
    num_frames: int | None       # frames per clip of FVD; None: images
    num_real_clips: int | None   # real clips of FVD
    max_fake_frames: int | None  # cap on the generated frames of FID/IS (fid50k_full's num_gen)
    cov_ddof: int
    is_splits: int = 10
    isv_shuffle_seed: int | None = 42
    source: str = ""

    def detector_kinds(self) -> set[str]:
        return {METRICS[m][0] for m in self.metrics}


PROTOCOLS = {
    "stylegan-v": Protocol(
        "stylegan-v", ("fvd", "fid", "isv"), num_samples=2048, num_frames=16, num_real_clips=2048,
        max_fake_frames=50000, cov_ddof=0,
        source="StyleGAN-V src/metrics (fvd2048_16f, fid50k_full, isv2048_ucf) as used by Latte / LAVITA §4.1"),
    "adm": Protocol(
        "adm", ("fid", "is"), num_samples=50000, num_frames=None, num_real_clips=None, max_fake_frames=None,
        cov_ddof=1, source="ADM evaluations/evaluator.py (FID, IS of 50k samples) as used by W.A.L.T §5.1"),
}

# The detector files each protocol names (sha256 not published by the protocols' authors: docs/evaluation.md).
DETECTOR_FILES = {
    "i3d": "i3d_torchscript.pt (StyleGAN-V: www.dropbox.com/s/ge9e5ujwgetktms/i3d_torchscript.pt)",
    "c3d": "c3d_ucf101.pt (StyleGAN-V: www.dropbox.com/s/jxpu7avzdc9n97q/c3d_ucf101.pt)",
    "inception": "inception-2015-12-05.pt (nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/)",
}


def get_protocol(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r}; known: {sorted(PROTOCOLS)}")
    return PROTOCOLS[name]
