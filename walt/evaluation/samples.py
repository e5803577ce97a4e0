"""The generated side of an evaluation, in chunks of ``batch_size`` samples: sampled from a model (never written to
disk unless asked), or read back from a folder of saved samples. A chunk is a uint8 tensor ``(b, 3, T, H, W)``
(images: ``T = 1``); chunk ``k`` holds samples ``[k·b, (k+1)·b)`` and does not depend on which process makes it,
which is what makes a ``torchrun`` evaluation equal the single-process one.
"""
from __future__ import annotations

import math
import os
import random
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from walt.data.video_io import is_image_file, is_video_file, open_video, read_frames, read_image
from walt.evaluation.pixels import generated_to_uint8
from walt.evaluation.real_data import frame_folder_name


def chunk_seed(seed: int, chunk: int) -> int:
    """The noise seed of chunk ``chunk``: independent streams for every (seed, chunk) pair."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1, np.uint64)[0] >> 1)


def read_prompts(path: str) -> list[str]:
    """One prompt per non-empty line, ``#`` lines are comments (e.g. walt/evaluation/ucf101_prompts.txt)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"--prompts file {path!r} does not exist")
    with open(path, encoding="utf-8") as f:
        prompts = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    if not prompts:
        raise ValueError(f"--prompts file {path!r} holds no prompt")
    return prompts


def save_samples(folder: str, first: int, videos: Tensor) -> None:
    """Write uint8 samples losslessly, numbered from ``first``: images as ``NNNNNN.png``, videos as frame folders
    ``NNNNNN/TTT.png`` (what :class:`FolderSamples` and StyleGAN-V's dataset read back)."""
    os.makedirs(folder, exist_ok=True)
    frames = videos.permute(0, 2, 3, 4, 1).cpu().numpy()  # (b, T, H, W, 3)
    for i, video in enumerate(frames):
        name = os.path.join(folder, f"{first + i:06d}")
        if len(video) == 1:
            Image.fromarray(video[0]).save(name + ".png")
            continue
        os.makedirs(name, exist_ok=True)
        for t, frame in enumerate(video):
            Image.fromarray(frame).save(os.path.join(name, f"{t:03d}.png"))


def draw_labels(rule: str, num: int, seed: int, num_classes: int, dataset_labels: Sequence[int] | None = None
                ) -> tuple[np.ndarray, str]:
    """Class labels of ``num`` samples and how they were drawn. ``"balanced"``: ``i mod num_classes``;
    ``"uniform"`` (ADM ``image_sample.py`` L47-49, DiT): ``RandomState(seed).randint(0, num_classes, num)``;
    ``"dataset"`` (StyleGAN-V ``metric_utils.py`` L306-307: the label of a random dataset item):
    ``dataset_labels[RandomState(seed).randint(0, len(dataset_labels), num)]`` (uniform when no labels are known)."""
    if rule == "balanced":
        return np.arange(num) % num_classes, "balanced: i mod num_classes"
    if rule == "dataset" and dataset_labels is not None and len(dataset_labels) > 0:
        items = np.random.RandomState(seed).randint(0, len(dataset_labels), size=num)
        return np.asarray(dataset_labels)[items], f"dataset: label of item RandomState({seed}).randint(len(dataset))"
    if rule not in ("dataset", "uniform"):
        raise ValueError(f"unknown label rule {rule!r}; known: balanced, uniform, dataset")
    return np.random.RandomState(seed).randint(0, num_classes, size=num), \
        f"uniform: RandomState({seed}).randint(0, num_classes)"


class ModelSamples:
    """Samples of a trained model: class labels ``labels[i]`` (:func:`draw_labels`) for class-conditional models,
    prompt ``i mod len(prompts)`` for text-to-video, observed first frames from ``condition(indices)`` for frame
    prediction; ``sampler`` (a ``SAMPLERS`` name; ``None``: the diffusion's own, DDIM for a Gaussian diffusion) with
    ``steps`` steps and guidance ``cfg_scale``, and the inference switches ``compile`` / ``cache``
    (``LatentDiffusion.sample``; ``cache_counts`` sums the cache's calls over the chunks); chunk noise from
    :func:`chunk_seed`; outputs turned into uint8 by the protocol's rule (``uint8``) and, where the protocol's samples
    went through the frame converter, by ``convert`` (a function of uint8 frames ``(T, H, W, 3)``)."""

    def __init__(self, model: nn.Module, num: int, batch_size: int, seed: int, steps: int = 50,
                 cfg_scale: float = 1.0, prompts: Sequence[str] | None = None,
                 condition: Callable[[list[int]], Tensor] | None = None, save_dir: str | None = None,
                 labels: tuple[np.ndarray, str] | None = None, uint8: str = "stylegan",
                 convert: Callable[[np.ndarray], Tensor] | None = None, sampler: str | None = None,
                 compile: bool | str = False, cache: object | None = None):
        text = getattr(model, "uses_text_tokens", False) or getattr(model, "uses_text_pooled", False)
        if text and not prompts:
            raise ValueError("the model is text-conditional: give --prompts FILE (one prompt per line)")
        if prompts and not text:
            raise ValueError("--prompts given but the model is not text-conditional")
        self.model, self.num, self.batch_size, self.seed = model, num, batch_size, seed
        self.steps, self.cfg_scale, self.prompts = steps, cfg_scale, list(prompts) if prompts else None
        self.condition, self.save_dir, self.uint8, self.convert = condition, save_dir, uint8, convert
        self.sampler, self.compile, self.cache = sampler, compile, cache
        self.cache_counts = dict(calls=0, skipped=0)
        classes = getattr(model, "num_classes", None)
        self.labels = (labels or draw_labels("balanced", num, seed, classes)) if classes is not None else None
        self.num_chunks = math.ceil(num / batch_size)

    def indices(self, k: int) -> list[int]:
        return list(range(k * self.batch_size, min(self.num, (k + 1) * self.batch_size)))

    def chunk(self, k: int) -> Tensor:
        index = self.indices(k)
        kwargs: dict = {}
        if self.labels is not None:
            kwargs["y"] = torch.as_tensor(self.labels[0][index], dtype=torch.long)
        if self.prompts:
            kwargs["prompts"] = [self.prompts[i % len(self.prompts)] for i in index]
        if self.condition is not None:
            video = self.condition(index).to(self.model.device)
            kwargs["cond_latent"] = self.model.autoencoder.encode(video).float()
        generator = torch.Generator().manual_seed(chunk_seed(self.seed, k))
        x = self.model.sample(len(index), steps=self.steps, cfg_scale=self.cfg_scale, generator=generator,
                              decode=True, sampler=None if self.sampler is None else dict(type=self.sampler),
                              compile=self.compile, cache=self.cache, **kwargs)
        if self.cache is not None:
            self.cache_counts = {k: n + getattr(self.cache, k) for k, n in self.cache_counts.items()}
        videos = generated_to_uint8(x, self.uint8).cpu()
        if self.convert is not None:
            videos = torch.stack([self.convert(v.permute(1, 2, 3, 0).numpy()) for v in videos])
        if self.save_dir:
            save_samples(self.save_dir, index[0], videos)
        return videos

    def describe(self) -> dict:
        return dict(num=self.num, sampler=self.sampler, steps=self.steps, cfg_scale=self.cfg_scale,
                    compile=self.compile, cache=None if self.cache is None else dict(
                        type=type(self.cache).__name__, threshold=self.cache.threshold, **self.cache_counts),
                    batch_size=self.batch_size,
                    labels=self.labels[1] if self.labels is not None else None, uint8=self.uint8,
                    converted=self.convert is not None,
                    num_prompts=len(self.prompts) if self.prompts else None, conditioned=self.condition is not None)


def list_samples(folder: str) -> list[str]:
    """Videos, frame folders and images directly in ``folder``, in plain sorted order of the frame-folder names
    the converter gives them (StyleGAN-V's dataset order: ``v10`` before ``v2``)."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"--fake {folder!r} is not a folder")
    entries = [os.path.join(folder, e) for e in os.listdir(folder)]
    entries = [e for e in entries if is_video_file(e) or is_image_file(e) or os.path.isdir(e)]
    return sorted(entries, key=lambda e: (frame_folder_name(e), e))


def read_sample(path: str) -> Tensor:
    """One saved sample as uint8 ``(3, T, H, W)``."""
    if is_image_file(path):
        frames = read_image(path)
    else:
        video = open_video(path)
        frames = read_frames(video, list(range(len(video))))
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(3, 0, 1, 2)


class FolderSamples:
    """Saved samples (``--fake DIR``): ``num`` entries of :func:`list_samples` (``upto`` when larger and the folder
    has them: the entries whose frames FID reads), the first ones (``subset="first"``, StyleGAN-V) or
    ``random.Random(f"{seed}:generated").sample`` of them (Latte), read whole; video files go through ``convert``
    (the converter the protocol's user runs on generated mp4s), frame folders and images are read as they are. A
    ``num`` the folder cannot reach stops with a ``ValueError`` (``allow_fewer`` proceeds)."""

    def __init__(self, folder: str, num: int | None, batch_size: int, subset: str = "first", seed: int = 0,
                 convert: Callable[[np.ndarray], Tensor] | None = None, allow_fewer: bool = False,
                 upto: int | None = None):
        entries = list_samples(folder)
        if not entries:
            raise ValueError(f"--fake {folder!r} holds no videos, frame folders or images")
        num = num or len(entries)
        if num > len(entries) and not allow_fewer:
            raise ValueError(f"{num} generated samples asked for, but --fake {folder!r} holds only {len(entries)}; "
                             f"ask for --num {len(entries)} or pass --allow-fewer")
        num = max(num, upto or 0)  # fid50k_full reads the folder's frames up to 50,000, beyond the FVD clips
        if subset == "random":
            entries = [entries[i] for i in random.Random(f"{seed}:generated").sample(range(len(entries)),
                                                                                    min(num, len(entries)))]
        self.folder, self.entries, self.convert = folder, entries[:num], convert
        self.num, self.batch_size = len(self.entries), batch_size
        self.num_chunks = math.ceil(self.num / batch_size)

    def read(self, path: str) -> Tensor:
        if self.convert is not None and is_video_file(path):
            video = open_video(path)
            return self.convert(read_frames(video, list(range(len(video)))))
        return read_sample(path)

    def chunk(self, k: int) -> Tensor:
        paths = self.entries[k * self.batch_size:(k + 1) * self.batch_size]
        videos = [self.read(p) for p in paths]
        shapes = {tuple(v.shape) for v in videos}
        if len(shapes) > 1:
            raise ValueError(f"--fake {self.folder!r}: samples differ in shape {sorted(shapes)} ({paths[0]} ...)")
        return torch.stack(videos)

    def describe(self) -> dict:
        return dict(folder=os.path.abspath(self.folder), num=self.num, converted=self.convert is not None)
