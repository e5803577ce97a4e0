#!/usr/bin/env python
"""Train the first-stage autoencoder (W.A.L.T §4.1: causal 3-D VAE with reconstruction, KL, perceptual and
adversarial losses) with the same trainer and entry point as the diffusion models (tools/train.py).

The config's model must be ``AutoencoderTraining``; the checkpoints (or the work dir) then feed
``tools/encode_latents.py CONFIG --checkpoint WORK_DIR`` or ``CausalVAE3D(pretrained=WORK_DIR)``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train  # noqa: E402  (tools/train.py: the shared training entry point)

from walt.engine.config import load_config  # noqa: E402
from walt.engine.errors import WaltError  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="example: python tools/train_autoencoder.py configs/demo/causal_vae_demo.py --work-dir "
               "work_dirs/causal_vae_demo")
    parser.add_argument("config", help="config whose model is AutoencoderTraining")
    parser.add_argument("--work-dir", help="default: cfg.work_dir or work_dirs/<config name>")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="PATH",
                        help="continue the run in the work dir (or from PATH)")
    parser.add_argument("--load-from", metavar="CKPT", help="initialise the weights from CKPT, starting at step 0")
    parser.add_argument("--cfg-options", nargs="+", default=None, metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    try:
        model_type = load_config(args.config, args.cfg_options).model.get("type")
    except WaltError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    if model_type != "AutoencoderTraining":
        print(f"error: {args.config}: model.type is {model_type!r}; train_autoencoder.py trains "
              f"'AutoencoderTraining' models (use tools/train.py for diffusion models)", file=sys.stderr)
        return 1
    return train.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
