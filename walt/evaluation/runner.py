"""One evaluation: generated samples and real data through the protocol's detectors, chunk by chunk, spread over
the processes of a ``torchrun`` launch, gathered on rank 0, turned into FVD / FID / IS with a report that names,
for every number, the protocol, the detector file's sha256, the sample counts and the seed.

Chunk ``k`` is processed by rank ``k mod world_size``; rank 0 merges the chunks' statistics in chunk order, so the
result equals the single-process result for the same seed bit for bit (the statistics of a chunk do not depend
on the process that computed them)."""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm

from walt.engine.distributed import DistInfo
from walt.evaluation.adm_reference import precision_recall
from walt.evaluation.detectors import Detector
from walt.evaluation.feature_stats import FeatureStats
from walt.evaluation.frechet import frechet_distance
from walt.evaluation.inception_score import inception_score
from walt.evaluation.protocols import C3D_FRAMES, METRICS, Protocol
from walt.evaluation.real_data import RealData
from walt.evaluation.stats_cache import cache_path, load_stats, save_stats

Stats = dict[str, FeatureStats]
VIDEOS_PER_CHUNK = 8  # real videos per chunk when every frame is measured (FID)


def gather_to_main(obj, info: DistInfo) -> list | None:
    """``[obj of rank 0, obj of rank 1, ...]`` on rank 0, ``None`` elsewhere."""
    if not info.distributed:
        return [obj]
    out = [None] * info.world_size if info.is_main else None
    dist.gather_object(obj, out, dst=0)
    return out


def run_chunks(num_chunks: int, compute: Callable[[int], Stats], info: DistInfo, desc: str) -> Stats | None:
    """Merge ``compute(k)`` over chunks ``k`` (rank ``k mod world`` computes it); the total on rank 0."""
    total: Stats = {}
    with tqdm(total=num_chunks, desc=desc, unit="chunk", disable=not info.is_main) as bar:
        for first in range(0, num_chunks, info.world_size):
            k = first + info.rank
            parts = gather_to_main(compute(k) if k < num_chunks else None, info)
            for part in parts or []:
                for metric, stats in (part or {}).items():
                    total.setdefault(metric, FeatureStats(stats.keep_rows)).merge(stats)
            bar.update(min(info.world_size, num_chunks - first))
    return total if info.is_main else None


def frames_of(videos: torch.Tensor) -> torch.Tensor:
    """``(b, 3, T, H, W)`` → ``(b·T, 3, H, W)``, sample-major."""
    b, c, t, h, w = videos.shape
    return videos.transpose(1, 2).reshape(b * t, c, h, w)


def first_frames(videos: torch.Tensor, n: int, what: str) -> torch.Tensor:
    if videos.shape[2] < n:
        raise ValueError(f"{what} needs clips of >= {n} frames, the samples have {videos.shape[2]}")
    return videos[:, :, :n]


def measure_generated(videos: torch.Tensor, first: int, metrics: list[str], detectors: dict[str, Detector],
                      protocol: Protocol) -> Stats:
    """Statistics of generated samples ``first, first+1, ...`` (uint8 ``(b, 3, T, H, W)``): FVD and video IS of
    the first ``num_samples · is_runs`` samples, FID / IS of their frames up to ``max_fake_frames``."""
    out: Stats = {}
    clips = videos[:max(0, protocol.num_samples * protocol.is_runs - first)]
    if "fvd" in metrics and len(clips):
        out["fvd"] = FeatureStats().add(detectors["i3d"].features(first_frames(clips, protocol.num_frames, "FVD")))
    if "isv" in metrics and len(clips):
        c3d_clips = first_frames(clips, C3D_FRAMES, "the C3D video IS")
        out["isv"] = FeatureStats(keep_rows=True).add(detectors["c3d"].probabilities(c3d_clips))
    if {"fid", "sfid", "is", "precision"} & set(metrics):
        frames = frames_of(videos)
        if protocol.max_fake_frames is not None:  # fid50k_full measures the first 50k generated frames
            frames = frames[:max(0, protocol.max_fake_frames - first * videos.shape[2])]
        inception = detectors["inception"]
        if "fid" in metrics or "precision" in metrics:  # precision / recall need every pool feature row
            out["fid"] = FeatureStats(keep_rows="precision" in metrics).add(inception.features(frames))
        if "sfid" in metrics:
            out["sfid"] = FeatureStats().add(inception.spatial_features(frames))
        if "is" in metrics:
            out["is"] = FeatureStats(keep_rows=True).add(inception.probabilities(frames))
    return out


def real_key(metric: str, real: RealData, detector: Detector, protocol: Protocol, seed: int) -> dict:
    """Everything the real statistics of ``metric`` depend on: the dataset's identity (every argument, the listing
    digest), the protocol's conversion and sampling choices, the detector file."""
    key = dict(real.identity, protocol=protocol.name, metric=metric, sha256=detector.sha256, ddof=protocol.cov_ddof,
               convert=protocol.convert, jpeg=protocol.jpeg, resample=protocol.resample, size=real.size)
    if metric == "fvd":
        key.update(num_clips=protocol.num_real_clips, num_frames=protocol.num_frames, seed=seed,
                   interval=protocol.real_interval, subset=protocol.subset)
    return key


def real_stats(metric: str, real: RealData, detector: Detector, protocol: Protocol, clips: Callable[[], list],
               seed: int, batch_size: int, cache_dir: str | None, info: DistInfo) -> dict | None:
    """Real ``mu``/``sigma``/``count`` of ``metric`` from the cache or computed (and cached); on rank 0."""
    key = real_key(metric, real, detector, protocol, seed)
    path = cache_path(cache_dir, key) if cache_dir else None
    cached = load_stats(path, key) if path is not None else None
    if cached is not None:
        return dict(cached, source="cache", file=str(path)) if info.is_main else None
    if metric == "fvd":
        selected = clips()
        groups = [selected[k:k + batch_size] for k in range(0, len(selected), batch_size)]
        compute = lambda k: {metric: FeatureStats().add(  # noqa: E731
            detector.features(torch.stack([real.read_clip(i, frames) for i, frames in groups[k]])))}
    else:
        items = range(len(real.dataset.samples))
        groups = [items[k:k + VIDEOS_PER_CHUNK] for k in range(0, len(items), VIDEOS_PER_CHUNK)]
        compute = lambda k: {metric: _frames_stats(real, groups[k], detector)}  # noqa: E731
    total = run_chunks(len(groups), compute, info, f"real {metric}")
    if not info.is_main:
        return None
    mu, sigma = total[metric].mean_cov(protocol.cov_ddof)
    result = dict(mu=mu, sigma=sigma, count=np.array(total[metric].count))
    if path is not None:
        save_stats(path, key, **result)
    return dict(result, source="computed", file=str(path) if path is not None else None)


def _frames_stats(real: RealData, items: range, detector: Detector) -> FeatureStats:
    stats = FeatureStats()
    for index in items:
        for block in real.video_frames(index):
            stats.add(detector.features(block))
    return stats


def reference_batch_stats(reference: dict, detector: Detector, metrics: list[str], batch_size: int,
                          info: DistInfo) -> dict | None:
    """ADM: activations of the reference batch's images (pool rows, spatial statistics) and the FID / sFID
    statistics the evaluator uses: the stored ``mu``/``sigma``/``mu_s``/``sigma_s`` when present."""
    images = torch.from_numpy(reference["images"]).permute(0, 3, 1, 2)
    groups = [images[k:k + batch_size] for k in range(0, len(images), batch_size)]

    def compute(k: int) -> Stats:
        out = {"fid": FeatureStats(keep_rows=True).add(detector.features(groups[k]))}
        if "sfid" in metrics:
            out["sfid"] = FeatureStats().add(detector.spatial_features(groups[k]))
        return out

    total = run_chunks(len(groups), compute, info, "reference batch")
    if not info.is_main:
        return None
    stored = "mu" in reference
    out = {"rows": total["fid"].all_rows(), "source": "stored mu/sigma" if stored else "computed (np.cov)"}
    for metric, (mu, sigma) in (("fid", ("mu", "sigma")), ("sfid", ("mu_s", "sigma_s"))):
        if metric in total:
            stats = (reference[mu], reference[sigma]) if stored else total[metric].mean_cov(1)
            out[metric] = dict(mu=stats[0], sigma=stats[1], count=np.array(len(images)))
    return out


def metric_value(metric: str, fake: Stats, real: dict | None, protocol: Protocol) -> dict:
    if metric in ("fvd", "fid", "sfid"):
        mu, sigma = fake[metric].mean_cov(protocol.cov_ddof)
        return dict(value=frechet_distance(real["mu"], real["sigma"], mu, sigma))
    if metric in ("precision", "recall"):
        precision, recall = precision_recall(real["rows"], fake["fid"].all_rows())
        return dict(value=precision if metric == "precision" else recall, k=3)
    rows = fake[metric].all_rows()
    seed = protocol.isv_shuffle_seed if metric == "isv" else None
    runs = [rows[k * len(rows) // protocol.is_runs:(k + 1) * len(rows) // protocol.is_runs]
            for k in range(protocol.is_runs)]
    scores = [inception_score(run, protocol.is_splits, seed, protocol.is_split_size, protocol.is_eps) for run in runs]
    if protocol.is_runs > 1:  # TGAN-v2: mean and std over runs of one split each
        values = [mean for mean, _ in scores]
        return dict(value=float(np.mean(values)), std=float(np.std(values)), runs=protocol.is_runs,
                    splits=protocol.is_splits)
    mean, std = scores[0]
    return dict(value=mean, std=std, splits=protocol.is_splits, split_size=protocol.is_split_size,
                shuffle_seed=seed)


def evaluate(protocol: Protocol, detectors: dict[str, Detector], fake, real: RealData | None, *, seed: int,
             batch_size: int, cache_dir: str | None, info: DistInfo, clips: Callable[[], list],
             reference: dict | None = None, metrics: list[str] | None = None) -> dict | None:
    """The metrics of ``protocol`` (or ``metrics``) whose detector is given; the per-metric report on rank 0
    (``None`` elsewhere). ``fake`` has ``num_chunks`` and ``chunk(k)``; ``clips()`` returns the protocol's real
    clips; ``reference``: ADM's loaded reference batch."""
    metrics = [m for m in (metrics or protocol.metrics) if METRICS[m][0] in detectors]
    fake_stats = run_chunks(fake.num_chunks, lambda k: measure_generated(
        fake.chunk(k), k * fake.batch_size, metrics, detectors, protocol), info, "generated")
    reals: dict = {}
    if reference is not None and {"fid", "sfid", "precision", "recall"} & set(metrics):
        ref = reference_batch_stats(reference, detectors["inception"], metrics, batch_size, info)
        if ref is not None:
            reals = {m: dict(ref.get(m, {}), rows=ref["rows"], source=ref["source"], file=reference.get("path"))
                     for m in metrics if m != "is"}
    elif reference is None:
        reals = {m: real_stats(m, real, detectors[METRICS[m][0]], protocol, clips, seed, batch_size, cache_dir, info)
                 for m in metrics if m in ("fvd", "fid")}
    if not info.is_main:
        return None
    report = {}
    for metric in metrics:
        detector = detectors[METRICS[metric][0]]
        source = "fid" if metric in ("precision", "recall") else metric
        entry = dict(metric_value(metric, fake_stats, reals.get(metric), protocol), protocol=protocol.name,
                     seed=seed, detector=dict(kind=detector.kind, file=detector.path, sha256=detector.sha256,
                                              format=detector.format),
                     num_fake=fake_stats[source].count, description=METRICS[metric][1])
        if metric == "fvd":
            entry.update(num_frames=protocol.num_frames, real_interval=protocol.real_interval)
        if metric in reals:
            entry.update(num_real=len(reals[metric]["rows"]) if "rows" in reals[metric] else
                         int(reals[metric]["count"]), real_stats=reals[metric]["source"],
                         real_stats_file=reals[metric]["file"])
        report[metric] = entry
    return report
