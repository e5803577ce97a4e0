#!/usr/bin/env python
"""Train the first-stage autoencoder (W.A.L.T §4.1: causal 3-D VAE with reconstruction, KL, perceptual and
adversarial losses) with the same trainer and command line as the diffusion models (tools/train.py).

The config's model must be ``AutoencoderTraining``; the checkpoints (or the work dir) then feed
``tools/encode_latents.py CONFIG --checkpoint WORK_DIR`` or ``CausalVAE3D(pretrained=WORK_DIR)``.

example:
  python tools/train_autoencoder.py configs/demo/causal_vae_demo.py --work-dir work_dirs/causal_vae_demo
"""
import sys

from walt.engine.train_cli import main

if __name__ == "__main__":
    sys.exit(main(model_type="AutoencoderTraining"))
