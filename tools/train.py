#!/usr/bin/env python
"""Train a walt model from a config (works the same under torchrun); see walt/engine/train_cli.py.

examples:
  python tools/train.py configs/demo/walt_demo.py --cfg-options max_steps=100 wandb.mode=offline
  python tools/train.py configs/demo/walt_demo.py --cfg-options model.backbone.conditioning.type=AdaLN
  python tools/train.py configs/demo/walt_demo.py --resume                 # continue from work_dir/latest
  torchrun --nproc_per_node 8 tools/train.py configs/walt_ucf.py --resume work_dirs/walt_ucf/step_00010000.pth
"""
import sys

from walt.engine.train_cli import main

if __name__ == "__main__":
    sys.exit(main())
