#!/usr/bin/env python
"""FVD, FID, sFID, precision / recall and Inception Scores of a model (sampled on the fly, nothing written unless
--save-samples) or of a folder of samples, computed as the public metric code computes them: --protocol stylegan-v
(StyleGAN-V src/metrics), latte (Latte tools/metrics), adm (ADM evaluations/evaluator.py with --ref-batch), tgan
(TGAN-v2's IS script); detector files (TorchScript, loaded as they are) or walt's own I3D / InceptionV3 state dicts.
Real-data statistics are cached per (every dataset argument, file-list digest, protocol, detector sha256). Works the
same under torchrun (each rank samples its share; rank 0 gathers and reports). docs/evaluation.md has the protocols,
the reference line of every step and the command of every paper number.

examples:
  python tools/eval.py configs/lavita_ucf.py --checkpoint work_dirs/lavita_ucf --protocol stylegan-v \\
      --i3d i3d_torchscript.pt --c3d c3d_ucf101.pt --inception inception-2015-12-05.pt --out eval.json
  torchrun --nproc_per_node 8 tools/eval.py configs/walt_imagenet.py --checkpoint work_dirs/walt_imagenet \\
      --protocol adm --ref-batch VIRTUAL_imagenet256_labeled.npz --inception inception-2015-12-05.pt \\
      --metrics fid is precision recall
  python tools/eval.py --fake samples/ --real data/ffs_videos --resolution 256 --protocol latte \\
      --i3d i3d_torchscript.pt
  python tools/eval.py --fake samples/ --protocol adm --ref-batch VIRTUAL_imagenet256_labeled.npz \\
      --inception inception_v3_walt.pth
"""
from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import math
import os
import sys
import time

import torch

from registry import SAMPLERS, registered_names
from walt.data.video_io import VideoReadError
from walt.engine.config import load_config
from walt.engine.distributed import cleanup, init_distributed
from walt.engine.errors import WaltError
from walt.engine.loading import load_model
from walt.evaluation.detectors import KINDS, DetectorFileError, load_detector
from walt.evaluation.adm_reference import load_reference_batch
from walt.evaluation.pixels import convert_frames
from walt.evaluation.protocols import METRICS, PROTOCOLS, get_protocol
from walt.evaluation.real_data import real_data_from_config, real_data_from_folder
from walt.evaluation.runner import evaluate
from walt.evaluation.samples import FolderSamples, ModelSamples, draw_labels, list_samples, read_prompts, read_sample
from walt.evaluation.stats_cache import DEFAULT_DIR
from walt.models.generative.inference import sample_switches
from walt.utils.allocator import keep_freed_memory

ERRORS = (WaltError, DetectorFileError, VideoReadError, ValueError, KeyError, FileNotFoundError)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", nargs="?", help="model config (with --checkpoint; its data.<split> gives the real data)")
    p.add_argument("--checkpoint", help="checkpoint file or work dir to sample from (EMA weights)")
    p.add_argument("--fake", metavar="DIR", help="evaluate saved samples instead (videos, frame folders, images)")
    p.add_argument("--real", metavar="DIR", help="real videos / frame folders (default: the config's dataset)")
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="stylegan-v",
                   help="the public metric code to reproduce (default stylegan-v; docs/evaluation.md)")
    p.add_argument("--metrics", nargs="+", metavar="NAME", help="a subset of the protocol's metrics (default: all)")
    p.add_argument("--ref-batch", metavar="NPZ",
                   help="adm: ADM's reference batch (arr_0 images; mu/sigma, mu_s/sigma_s when stored)")
    p.add_argument("--labels", choices=("reference", "balanced"), default="reference",
                   help="class labels of samples: drawn as the protocol's code draws them, seeded (default), or "
                        "i mod num_classes")
    p.add_argument("--allow-fewer", action="store_true",
                   help="proceed when the data holds fewer videos / samples than asked for (recorded in the report)")
    for kind in KINDS:
        p.add_argument(f"--{kind}", metavar="FILE", help=f"{kind} detector: TorchScript file or walt state dict")
    p.add_argument("--expect-sha256", nargs="+", default=[], metavar="KIND=HEX",
                   help="refuse a detector file whose sha256 differs (e.g. i3d=9a1b...)")
    p.add_argument("--num", "--num-samples", dest="num", type=int,
                   help="generated samples (default: the protocol's, 2048 / 50000); under torchrun write "
                        "--num-samples (torchrun reads --num as its own --numa-binding)")
    p.add_argument("--num-real", type=int, help="real clips of FVD (default: the protocol's 2048)")
    p.add_argument("--batch-size", type=int, default=16, help="samples per chunk (default 16)")
    p.add_argument("--seed", type=int, default=0, help="sampling noise, real-clip choice (default 0)")
    p.add_argument("--steps", type=int, default=50, help="sampling steps (default 50: DDIM-50, both papers)")
    p.add_argument("--sampler", choices=registered_names(SAMPLERS), default=None,
                   help="sampler (default: the diffusion's own, DDIM or Euler; e.g. DPMSolverPP --steps 20); the "
                        "config's sample.compile / sample.cache switches apply too")
    p.add_argument("--cfg-scale", type=float, default=1.0, help="classifier-free guidance scale (default 1)")
    p.add_argument("--prompts", metavar="FILE", help="text-to-video prompts, one a line; sample i gets prompt i mod n")
    p.add_argument("--cond-frames", type=int, default=0, metavar="K",
                   help="frame prediction: condition sample i on the first K frames of real clip i")
    p.add_argument("--no-ema", action="store_true", help="sample with the raw weights instead of the EMA")
    p.add_argument("--data-split", default="train", help="data.<split> of CONFIG holding the real data")
    p.add_argument("--frame-interval", type=int, help="real-clip frame interval (default: the protocol's: 1, latte 3)")
    p.add_argument("--resolution", type=int, nargs="+", metavar="H [W]",
                   help="converter target size of --real DIR without a config (default: the generated samples')")
    p.add_argument("--save-samples", metavar="DIR", help="also write the samples losslessly (PNG) to DIR")
    p.add_argument("--stats-cache", default=DEFAULT_DIR, metavar="DIR", help=f"real statistics (default {DEFAULT_DIR})")
    p.add_argument("--no-stats-cache", action="store_true", help="recompute real statistics, write no cache")
    p.add_argument("--device", help="default: this rank's GPU, else cpu")
    p.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    p.add_argument("--out", help="write the JSON report here (default: print it)")
    return p.parse_args(argv)


def build_protocol(args: argparse.Namespace):
    protocol = get_protocol(args.protocol)
    changes = {k: v for k, v in dict(num_samples=args.num, num_real_clips=args.num_real,
                                     real_interval=args.frame_interval).items() if v is not None}
    if args.metrics:
        unknown = sorted(set(args.metrics) - set(protocol.metrics))
        if unknown:
            raise ValueError(f"--metrics {' '.join(unknown)}: not a metric of protocol {protocol.name} "
                             f"({', '.join(protocol.metrics)})")
        changes["metrics"] = tuple(m for m in protocol.metrics if m in args.metrics)
    return dataclasses.replace(protocol, **changes), changes


def load_detectors(args: argparse.Namespace, protocol, device) -> dict:
    expected = dict(item.split("=", 1) for item in args.expect_sha256)
    detectors = {}
    for kind in KINDS:
        path = getattr(args, kind)
        if path is None:
            continue
        if kind not in protocol.detector_kinds():
            raise ValueError(f"--{kind}: protocol {protocol.name} has no metric measured with a {kind} detector")
        detectors[kind] = load_detector(path, kind, device)
        if kind in expected and detectors[kind].sha256 != expected[kind].lower():
            raise ValueError(f"--{kind} {path}: sha256 {detectors[kind].sha256} differs from the expected "
                             f"{expected[kind]}")
    if not detectors:
        raise ValueError(f"no detector given: pass --i3d / --c3d / --inception for protocol {protocol.name} "
                         f"(metrics {', '.join(protocol.metrics)})")
    return detectors


def sample_size(args: argparse.Namespace, entries: list[str], model) -> tuple[int, int]:
    """--resolution, else the size of the first saved sample or of the model's samples."""
    if args.resolution:
        return tuple(args.resolution * 2 if len(args.resolution) == 1 else args.resolution)
    if args.fake and not entries:
        raise ValueError(f"--fake {args.fake!r} holds no videos, frame folders or images")
    return tuple(read_sample(entries[0]).shape[2:]) if args.fake else tuple(model.video_size[1:])


def run(args: argparse.Namespace, info) -> dict | None:
    device = torch.device(args.device) if args.device else info.device
    protocol, overrides = build_protocol(args)
    detectors = load_detectors(args, protocol, device)
    if "sfid" in protocol.metrics and "inception" in detectors:
        detectors["inception"].require_spatial()
    cfg = load_config(args.config, args.cfg_options) if args.config else None
    reference = None
    if protocol.name == "adm":
        if not args.ref_batch:
            raise ValueError("protocol adm compares with ADM's reference batch: give --ref-batch FILE.npz "
                             "(e.g. VIRTUAL_imagenet256_labeled.npz)")
        reference = dict(load_reference_batch(args.ref_batch), path=os.path.abspath(args.ref_batch))
    num_fake = protocol.num_samples * protocol.is_runs
    # fid50k_full reads generated frames up to 50,000: more clips than FVD's 2,048 when sampling a model (StyleGAN-V)
    # or reading a folder; --num N instead gives every metric the same N samples
    fid_frames = protocol.max_fake_frames if {"fid", "is"} & set(protocol.metrics) and "inception" in detectors \
        and args.num is None else None
    model, source = None, {}
    if args.fake:
        listed = list_samples(args.fake)
    elif cfg is not None and args.checkpoint:
        model, info_ckpt = load_model(args.config, args.checkpoint, not args.no_ema, args.cfg_options, device)
        source = dict(config=args.config, checkpoint=info_ckpt["path"], step=info_ckpt["step"],
                      weights=info_ckpt["weights"])
    else:
        raise ValueError("give CONFIG --checkpoint CKPT (sample from a model) or --fake DIR (saved samples)")
    needs_real = reference is None and any(METRICS[m][0] in detectors for m in protocol.metrics if m in ("fvd", "fid"))
    real = None
    if args.real:
        size = sample_size(args, listed if args.fake else [], model)
        if size[0] != size[1]:
            raise ValueError(f"--real {args.real}: samples of {size[0]}x{size[1]}; the protocol's converter makes "
                             f"square frames: give --resolution N")
        real = real_data_from_folder(args.real, size[0], protocol)
    elif cfg is not None and (needs_real or args.cond_frames):
        real = real_data_from_config(cfg, args.data_split, protocol)
    if real is None and (needs_real or args.cond_frames):
        raise ValueError("FVD / FID / --cond-frames need real data: give --real DIR or a CONFIG whose "
                         "data.<split> holds it")
    convert = None
    if protocol.convert is not None:
        size = real.size if real is not None else None
        convert = functools.partial(convert_frames, size=size, order=protocol.convert, jpeg=protocol.jpeg,
                                    resample=protocol.resample)
    if args.fake:
        upto = math.ceil(fid_frames / read_sample(listed[0]).shape[1]) if fid_frames else None
        fake = FolderSamples(args.fake, num_fake, args.batch_size, protocol.subset, args.seed, convert,
                             args.allow_fewer, upto)
    else:
        prompts = read_prompts(args.prompts) if args.prompts else None
        if fid_frames and protocol.generator_fills_fid:  # StyleGAN-V samples a generator until 50,000 frames
            num_fake = max(num_fake, math.ceil(fid_frames / model.video_size[0]))
        labels = None
        if getattr(model, "num_classes", None) is not None:
            rule = "balanced" if args.labels == "balanced" else protocol.labels
            known = [s.label for s in real.dataset.samples] if real is not None and rule == "dataset" and \
                real.identity["dataset"] != "folder" else None
            labels = draw_labels(rule, num_fake, args.seed, model.num_classes, known)
        fake = ModelSamples(model, num_fake, args.batch_size, args.seed, args.steps, args.cfg_scale, prompts,
                            condition=None, save_dir=args.save_samples, labels=labels, uint8=protocol.fake_uint8,
                            convert=convert if protocol.fake_converted else None, sampler=args.sampler,
                            **sample_switches(cfg.get("sample")))
    clips = functools.cache(lambda: real.select_clips(
        protocol.num_real_clips or protocol.num_samples, protocol.num_frames or 16, protocol.real_interval,
        protocol.subset, args.seed, args.allow_fewer))
    if args.cond_frames:
        if args.fake:
            raise ValueError("--cond-frames needs a model to sample from (CONFIG --checkpoint)")
        fake.condition = lambda index: torch.stack(
            [real.read_clip(*clips()[i % len(clips())])[:, :args.cond_frames] for i in index]).float() / 127.5 - 1
    metrics = evaluate(protocol, detectors, fake, real, seed=args.seed, batch_size=args.batch_size,
                       cache_dir=None if args.no_stats_cache else args.stats_cache, info=info, clips=clips,
                       reference=reference)
    if metrics is None:
        return None
    return dict(protocol=protocol.name, protocol_source=protocol.source, protocol_steps=protocol.steps,
                overrides=overrides, allow_fewer=args.allow_fewer, seed=args.seed, world_size=info.world_size,
                generated=dict(source, **fake.describe(), cond_frames=args.cond_frames),
                real=real.identity if real is not None else None,
                reference_batch=reference["path"] if reference else None, metrics=metrics)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    keep_freed_memory()
    start = time.perf_counter()
    info = init_distributed()
    try:
        report = run(args, info)
    except ERRORS as err:
        prefix = f"[rank {info.rank}] " if info.distributed else ""
        message = err.args[0] if isinstance(err, KeyError) and err.args else str(err)
        print(f"{prefix}error: {message}", file=sys.stderr)
        return 1
    finally:
        cleanup(info)
    if report is None:
        return 0
    report["seconds"] = round(time.perf_counter() - start, 2)
    text = json.dumps(report, indent=2)
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    found = ", ".join(f"{m.upper()} {e['value']:.3f}" for m, e in report["metrics"].items())
    print(f"eval ({report['protocol']}, seed {args.seed}, {info.world_size} process(es)): {found} in "
          f"{report['seconds']}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
