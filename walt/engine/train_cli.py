"""The training command line shared by ``tools/train.py`` and ``tools/train_autoencoder.py`` (works the same under
torchrun).

examples:
  python tools/train.py configs/demo/walt_demo.py --cfg-options max_steps=100 wandb.mode=offline
  python tools/train.py configs/demo/walt_demo.py --cfg-options model.backbone.conditioning.type=AdaLN
  python tools/train.py configs/demo/walt_demo.py --resume                 # continue from work_dir/latest
  torchrun --nproc_per_node 8 tools/train.py configs/walt_ucf.py --resume work_dirs/walt_ucf/step_00010000.pth
  python tools/train.py configs/walt_ucf.py --resume --resume-override --cfg-options optimizer.lr=2e-4

exit codes: 0 trained to max_steps; 1 bad input (one "error:" line: config, missing file, checkpoint, work dir,
a setting that differs from the resumed checkpoint); 3 NaN/inf loss or gradient norm (the last good checkpoint is
kept); 128 + signal (143 SIGTERM, 130 SIGINT) stopped by a signal after saving a checkpoint: --resume continues.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from walt.engine.config import apply_cfg_options, load_config, parse_cfg_options
from walt.engine.errors import ConfigError, WaltError
from walt.engine.schema import fill_engine_defaults
from walt.engine.trainer import Trainer, signal_exit_code
from walt.utils.allocator import keep_freed_memory


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", help="config file (mmengine pure-Python, _base_ inheritance)")
    parser.add_argument("--work-dir", help="where checkpoints, train.log and samples go "
                                           "(default: cfg.work_dir or work_dirs/<config name>)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="PATH",
                        help="continue a run: from the checkpoint work_dir/latest names, or from PATH")
    parser.add_argument("--resume-override", action="store_true",
                        help="with --resume: let the current lr, schedule, max_steps, batch and precision take "
                             "effect where they differ from the checkpoint's (otherwise the run stops naming them)")
    parser.add_argument("--load-from", metavar="CKPT",
                        help="initialize the weights from CKPT and start at step 0; an image DiT fills LAVITA's blocks "
                             "as the config key dit_init says (LAVITA §3.6): 'latte' (default, by key name as Latte's "
                             "train.py: temporal block j <- DiT block 2j+1) or 'spatial_only' (temporal blocks fresh), "
                             "e.g. --cfg-options dit_init=spatial_only")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE",
                        help="override config keys, e.g. optimizer.lr=5e-4 data.batch_size=4; setting a "
                             "component's .type replaces that component's dict by the keys given here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, model_type: str | None = None) -> int:
    """Train; returns the exit code (module docstring; after an error, one ``error:`` line on stderr).
    ``model_type``: refuse configs whose ``model.type`` differs (``tools/train_autoencoder.py`` trains only
    ``AutoencoderTraining``)."""
    args = parse_args(argv)
    keep_freed_memory()
    rank, world = int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))
    start = time.perf_counter()
    trainer = None
    try:
        cfg = load_config(args.config)
        fill_engine_defaults(cfg)  # so that --cfg-options can set engine keys the file leaves at their default
        apply_cfg_options(cfg, parse_cfg_options(args.cfg_options))
        if model_type is not None and cfg.model.get("type") != model_type:
            raise ConfigError(f"{args.config}: model.type is {cfg.model.get('type')!r}; this tool trains "
                              f"{model_type!r} models (use tools/train.py for diffusion models)")
        if args.resume_override and not args.resume:
            raise ConfigError("--resume-override only applies together with --resume")
        trainer = Trainer(cfg, work_dir=args.work_dir, resume=args.resume, load_from=args.load_from,
                          resume_override=args.resume_override)
        first = trainer.step
        losses = trainer.train()
    except WaltError as err:
        prefix = f"[rank {rank}] " if world > 1 else ""
        message = "; ".join(line.strip() for line in str(err).splitlines() if line.strip())
        print(f"{prefix}error: {message}", file=sys.stderr)
        return err.exit_code
    finally:
        if trainer is not None:
            trainer.close()
    if rank == 0:
        final = f"{losses[-1]:.4f}" if losses else "n/a"
        stopped = f", stopped by {signal.Signals(trainer.stopped_by).name}" if trainer.stopped_by else ""
        print(f"trained steps {first}->{trainer.step} of {trainer.max_steps} in {time.perf_counter() - start:.1f}s "
              f"on {world} process(es), final loss {final}, work dir {trainer.work_dir}{stopped}")
    return signal_exit_code(trainer.stopped_by) if trainer.stopped_by else 0

