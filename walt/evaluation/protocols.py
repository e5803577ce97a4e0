"""The evaluation protocols of the papers' numbers, each named for the public code it reproduces step by step
(docs/evaluation.md lists the file and line of every step):

* ``stylegan-v`` — StyleGAN-V ``src/metrics/metric_main.py`` ``fvd2048_16f``, ``fid50k_full``, ``isv2048_ucf``
  (LAVITA §4.1: "evaluation guidelines introduced by StyleGAN-V"): real frames converted by
  ``convert_videos_to_frames.py`` (Lanczos resize, center crop, JPEG quality 75); FVD of the **first** 2,048 real
  videos in plain sorted path order (16 frames at interval 1, random start) against the first 2,048 generated ones
  (their first 16 frames); FID of every real frame against the first 50,000 generated frames; video IS of 2,048
  clips (C3D, ``RandomState(42)`` shuffle, 10 splits); covariances over N (``ddof=0``).
* ``latte`` — Latte's fork ``tools/metrics/`` (since July 2024, ``fvd2048_16f``): the same, except that the 2,048
  real and 2,048 generated videos are a ``random.sample`` of each folder, real clips are taken every 3rd frame
  (``realdata_subsample_factor=3``), the converter crops before it resizes, and generated samples are rounded to
  uint8 (``sample_ddp.py``) and go through the converter like the real ones.
* ``adm`` — ADM ``evaluations/evaluator.py`` (W.A.L.T §5.1 ImageNet): FID, sFID, IS, precision and recall of 50,000
  samples against a reference batch ``.npz`` (``--ref-batch``), covariances ``np.cov`` (``ddof=1``), IS over
  consecutive splits of 5,000, labels ``randint(0, C)``, samples ``((x + 1)·127.5)`` truncated.
* ``tgan`` — TGAN-v2 ``scripts/compute_inception_score.py`` (the UCF-101 IS of W.A.L.T Table 1's comparisons): the
  mean and std over 10 runs of the IS of 2,048 fresh samples, each with one split and ``eps=1e-20``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

# metric → (detector kind, what it measures)
METRICS = {
    "fvd": ("i3d", "Fréchet distance of I3D features of the first num_frames frames of each clip"),
    "fid": ("inception", "Fréchet distance of Inception pool features of every frame / image"),
    "sfid": ("inception", "Fréchet distance of Inception spatial features (mixed_6/conv, 7 channels), ADM"),
    "is": ("inception", "Inception Score of every generated frame / image"),
    "precision": ("inception", "fraction of samples inside the k=3 manifold of the reference (Kynkäänniemi et al.)"),
    "recall": ("inception", "fraction of reference images inside the k=3 manifold of the samples"),
    "isv": ("c3d", "video Inception Score of the first 16 frames of each clip, UCF-101 C3D"),
}
C3D_FRAMES = 16  # the C3D of TGAN-v2 takes 16-frame clips


@dataclass(frozen=True)
class Protocol:
    """Sample counts and every convention of one protocol's public code."""

    name: str
    metrics: tuple[str, ...]
    num_samples: int             # generated clips (or images)
    num_frames: int | None       # frames per clip of FVD; None: images
    num_real_clips: int | None   # real clips of FVD
    max_fake_frames: int | None  # cap on the generated frames of FID/IS (fid50k_full's num_gen)
    cov_ddof: int
    real_interval: int = 1       # frame interval of real FVD clips (subsample_factor)
    subset: str = "first"        # which videos when a folder holds more: "first" (sorted) or "random" (random.sample)
    convert: str | None = "resize-crop"  # converter of real frames (pixels.CONVERT_ORDERS); None: no conversion
    jpeg: bool = True            # the converter's JPEG round trip (quality 75)
    resample: str = "lanczos"    # the converter's PIL resize filter (pixels.RESAMPLE)
    fake_uint8: str = "stylegan"  # generated [-1, 1] → uint8 rule (pixels.generated_to_uint8)
    fake_converted: bool = False  # generated samples go through the converter too (Latte's mp4 → frames)
    generator_fills_fid: bool = False  # sampling a model: clips until max_fake_frames frames for FID (fid50k_full)
    labels: str = "dataset"      # class labels of samples: "dataset" (a random item's label) or "uniform" (randint)
    is_splits: int = 10
    is_split_size: int | None = None  # adm: consecutive splits of 5,000
    isv_shuffle_seed: int | None = 42
    is_runs: int = 1             # tgan: IS averaged over runs of num_samples fresh samples
    is_eps: float = 0.0          # tgan: eps added to the probabilities
    source: str = ""
    steps: dict = field(default_factory=dict, compare=False)  # step → reference file:line

    def detector_kinds(self) -> set[str]:
        return {METRICS[m][0] for m in self.metrics}


SGV = "universome/stylegan-v"
LATTE = "Vchitect/Latte"
ADM = "openai/guided-diffusion evaluations/evaluator.py"
PROTOCOLS = {
    "stylegan-v": Protocol(
        "stylegan-v", ("fvd", "fid", "isv"), num_samples=2048, num_frames=16, num_real_clips=2048,
        max_fake_frames=50000, cov_ddof=0, generator_fills_fid=True,
        source="StyleGAN-V src/metrics (fvd2048_16f, fid50k_full, isv2048_ucf); LAVITA §4.1",
        steps=dict(
            decode=f"{SGV} src/scripts/convert_videos_to_frames.py L53, L71 (moviepy iter_frames)",
            resize=f"{SGV} src/scripts/convert_videos_to_frames.py L74-75 (Lanczos short side, center crop)",
            jpeg=f"{SGV} src/scripts/convert_videos_to_frames.py L76 (save q=95: PIL ignores q, quality 75)",
            subset=f"{SGV} src/metrics/metric_utils.py L222-230 (first min(N, max_items)); "
                   "src/training/dataset.py L283-326 (sorted paths, short videos discarded)",
            interval=f"{SGV} src/metrics/frechet_video_distance.py L18, L26-28 (subsample_factor=1)",
            offset=f"{SGV} src/training/dataset.py L402-406 (randint(0, n - 16f + f - 1))",
            counts=f"{SGV} src/metrics/metric_main.py L97-100, L115-118, L134-137; a generator is sampled until "
                   "50,000 frames for FID: frechet_inception_distance.py L38-44, metric_utils.py L302-317",
            generated=f"{SGV} src/metrics/frechet_video_distance.py L37-43 (first 16 frames, no offset)",
            uint8=f"{SGV} src/metrics/metric_utils.py L285",
            labels=f"{SGV} src/metrics/metric_utils.py L306-307 (label of a random dataset item)",
            statistics=f"{SGV} src/metrics/metric_utils.py L99-101, L122-127 (float64 sums, ddof 0)",
            isv=f"{SGV} src/metrics/video_inception_score.py L45-52")),
    "latte": Protocol(
        "latte", ("fvd", "fid", "isv"), num_samples=2048, num_frames=16, num_real_clips=2048,
        max_fake_frames=50000, cov_ddof=0, real_interval=3, subset="random", convert="crop-resize",
        fake_uint8="round", fake_converted=True,
        source="Latte tools/metrics (fvd2048_16f with random.sample of 2,048, realdata_subsample_factor=3)",
        steps=dict(
            decode=f"{LATTE} tools/convert_videos_to_frames.py L53, L71",
            resize=f"{LATTE} tools/convert_videos_to_frames.py L78-79 (center crop, then Lanczos)",
            jpeg=f"{LATTE} tools/convert_videos_to_frames.py L80 (save q=95: quality 75)",
            subset=f"{LATTE} tools/metrics/metric_utils.py L233 (random.sample, real and generated)",
            interval=f"{LATTE} tools/metrics/frechet_video_distance.py L18, L29, L43 (real 3, generated 1)",
            offset=f"{LATTE} tools/utils/dataset.py L402-406",
            counts=f"{LATTE} tools/metrics/metric_main.py L96-100, L115-119 (2,048 / 2,048 since 2024-07-15)",
            uint8=f"{LATTE} sample/sample_ddp.py L172 (rounded), then saved and converted like the real videos",
            labels=f"{LATTE} tools/metrics/metric_utils.py (StyleGAN-V's generator loop, unchanged)",
            statistics=f"{LATTE} tools/metrics/metric_utils.py (StyleGAN-V's FeatureStats, ddof 0)")),
    "adm": Protocol(
        "adm", ("fid", "sfid", "is", "precision", "recall"), num_samples=50000, num_frames=None,
        num_real_clips=None, max_fake_frames=None, cov_ddof=1, convert=None, jpeg=False, fake_uint8="adm",
        labels="uniform", is_split_size=5000, isv_shuffle_seed=None,
        source="ADM evaluations/evaluator.py (reference batch .npz); W.A.L.T §5.1",
        steps=dict(
            reference=f"{ADM} L138-140, L164-172 (arr_0 activations; mu/sigma, mu_s/sigma_s when stored)",
            spatial=f"{ADM} L24, L599 (mixed_6/conv, first 7 channels, flattened NHWC)",
            statistics=f"{ADM} L174-177 (np.cov, ddof 1)",
            fid=f"{ADM} L72-115",
            inception_score=f"{ADM} L179-192 (softmax(pool·W), consecutive splits of 5,000)",
            precision_recall=f"{ADM} L194-202, L248-281, L325-359, L414-430 (k=3, squared distances, fp16)",
            uint8="openai/guided-diffusion scripts/image_sample.py L60",
            labels="openai/guided-diffusion scripts/image_sample.py L47-49 (randint(0, NUM_CLASSES))")),
    "tgan": Protocol(
        "tgan", ("isv",), num_samples=2048, num_frames=16, num_real_clips=None, max_fake_frames=None, cov_ddof=0,
        convert=None, jpeg=False, is_splits=1, isv_shuffle_seed=None, is_runs=10, is_eps=1e-20, labels="uniform",
        source="TGAN-v2 scripts/compute_inception_score.py (10 runs x 2,048 samples, 1 split each)",
        steps=dict(
            runs="pfnet-research/tgan2 scripts/compute_inception_score.py L24-25, L55-66",
            inception_score="pfnet-research/tgan2 tgan2/evaluations/inception_score.py L57-66 (eps 1e-20)")),
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
