"""walt.data: datasets (registered in ``DATASETS``), transforms and the data loader.

Pixel datasets (items: ``video`` ``(3, T, H, W)`` in ``[-1, 1]``, ``label``, ``caption``, ``path``) derive from
``video_dataset.VideoDataset``: ``UCF101``, ``Kinetics600``, ``VideoFolder`` (FaceForensics, SkyTimelapse,
Taichi-HD), ``ImageFolder`` (ImageNet, images as ``T = 1`` videos), ``TextVideoCSV``, ``VideoTable`` (Open-Sora-style
CSV / parquet metadata tables). ``VideoShards`` streams WebDataset tar shards (an ``IterableDataset`` with its own
resumable position, docs/data.md). ``joint`` holds the image–video joint training wrappers of W.A.L.T
(``JointImageStacks``) and LAVITA (``JointAppendedFrames``); ``loader.build_dataloader`` builds any of them from a
config. Every module here is imported so that its components register.
"""
from walt.utils.imports import import_submodules

import_submodules(__name__, __path__)
