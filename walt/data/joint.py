"""Image–video joint training batches.

* W.A.L.T §3.1/§4.2: images are one-frame videos encoded one frame at a time; a training sample is a video or a
  stack of ``K`` independent images (``K`` = latent frames of the video). :class:`JointImageStacks` adds to each
  video item ``images`` ``(S, 3, K, H, W)`` (``S`` stacks).
* LAVITA §3.6 ("LAVITA+IMG"): "appending randomly independently sampled video frames from the same dataset to
  the end of the sampled videos". :class:`JointAppendedFrames` appends ``num_images`` frames of other videos to
  each clip and marks them in ``image_mask`` ``(T + num_images,)`` (True = independent image frame).

Every image keeps its own condition (it comes from another sample than the clip): ``image_label`` ``(G, K)`` and
``image_caption`` (``G`` lists of ``K`` strings), one row per group of image frames — ``G = S`` stacks of ``K``
images, or ``G = 1`` group of the ``K = num_images`` appended frames. The item's ``label`` / ``caption`` stay the
clip's. Collate concatenates the groups over the batch (``walt/data/collate.py``), and ``LatentDiffusion``
conditions each image frame on its own row (``walt/models/generative/frame_conditions.py``).

The picks and their augmentation are drawn from ``item_generator(seed, epoch, index, stream=1)`` of the video item
(``seed`` of the video dataset, ``set_epoch`` sets the epoch), so a joint item, like a video item, does not depend
on the data-loader worker or the loading order.
"""
from __future__ import annotations

from functools import partial

import torch
from torch.utils.data import Dataset

from registry import DATASETS
from walt.data.transforms import item_generator
from walt.data.video_dataset import VideoDataset, VideoSample

PICKS_STREAM = 1  # the item_generator stream of a joint item's picks (stream 0: its video clip)


def _build(cfg: dict, role: str) -> VideoDataset:
    dataset = DATASETS.build(cfg)
    if not isinstance(dataset, VideoDataset):
        raise TypeError(f"{role} must be a pixel video/image dataset, got {type(dataset).__name__}")
    return dataset


@DATASETS.register_module()
class JointImageStacks(Dataset):
    """W.A.L.T joint image–video training: each item of ``video`` plus ``stacks_per_item`` stacks of
    ``images_per_stack`` random images of ``image`` (both at the same resolution), each image with its own label
    and caption. ``images_per_stack`` defaults to 5, the latent frames of W.A.L.T's 17-frame clips under the causal
    autoencoder (1 + 16/4). The images of a stack are independent (§4.2); with ``same_class`` they are drawn from
    the first image's class (a corrupt image replaced by a random one may break that)."""

    def __init__(self, video: dict, image: dict, images_per_stack: int = 5, stacks_per_item: int = 1,
                 same_class: bool = False):
        self.video, self.image = _build(video, "JointImageStacks.video"), _build(image, "JointImageStacks.image")
        if self.video.resolution != self.image.resolution:
            raise ValueError(f"JointImageStacks: video resolution {self.video.resolution} differs from image "
                             f"resolution {self.image.resolution}")
        if images_per_stack < 1 or stacks_per_item < 1:
            raise ValueError(f"JointImageStacks: images_per_stack and stacks_per_item must be >= 1, got "
                             f"{images_per_stack}, {stacks_per_item}")
        self.images_per_stack, self.stacks_per_item, self.same_class = images_per_stack, stacks_per_item, same_class
        self.classes = self.video.classes
        by_label: dict[int, list[int]] = {}
        for i, sample in enumerate(self.image.samples):
            by_label.setdefault(sample.label, []).append(i)
        self.by_label = {label: torch.tensor(indices) for label, indices in by_label.items()}

    @property
    def skipped(self) -> int:
        return self.video.skipped + self.image.skipped

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the video and image items' draws (``VideoDataset.set_epoch``)."""
        self.video.set_epoch(epoch)
        self.image.set_epoch(epoch)

    @property
    def caption_datasets(self) -> tuple[VideoDataset, ...]:
        """Where the captions of the items come from (``walt/data/text_cache.py`` caches them)."""
        return self.video, self.image

    def __len__(self) -> int:
        return len(self.video)

    def stack_indices(self, generator: torch.Generator | None = None) -> list[int]:
        """Image indices of one stack: a uniformly random first image, the others from its class or anywhere."""
        first = int(torch.randint(len(self.image), (), generator=generator))
        pool = self.by_label[self.image.samples[first].label] if self.same_class else None
        if pool is None:
            rest = torch.randint(len(self.image), (self.images_per_stack - 1,), generator=generator)
        else:
            rest = pool[torch.randint(len(pool), (self.images_per_stack - 1,), generator=generator)]
        return [first, *rest.tolist()]

    def __getitem__(self, index: int) -> dict:
        item = self.video[index]
        generator = item_generator(self.video.seed, self.video.epoch, index, PICKS_STREAM)
        load = partial(self.image.get_item, generator=generator)
        stacks = [[self.image.with_retries(load, j) for j in self.stack_indices(generator)]
                  for _ in range(self.stacks_per_item)]
        item["images"] = torch.stack([torch.cat([p["video"] for p in stack], dim=1) for stack in stacks])
        item["image_label"] = torch.tensor([[p["label"] for p in stack] for stack in stacks])
        item["image_caption"] = [[p["caption"] for p in stack] for stack in stacks]
        return item


@DATASETS.register_module()
class JointAppendedFrames(Dataset):
    """LAVITA image–video joint training: clips of ``dataset`` with ``num_images`` single frames of other
    videos of the same dataset appended along time, each with its video's label and caption. ``num_images=8``
    follows LAVITA's public code (the paper does not state the number)."""

    def __init__(self, dataset: dict, num_images: int = 8):
        self.dataset = _build(dataset, "JointAppendedFrames.dataset")
        if num_images < 1:
            raise ValueError(f"JointAppendedFrames: num_images must be >= 1, got {num_images}")
        self.num_images = num_images
        self.classes = self.dataset.classes

    @property
    def skipped(self) -> int:
        return self.dataset.skipped

    def set_epoch(self, epoch: int) -> None:
        """The epoch of the items' draws (``VideoDataset.set_epoch``)."""
        self.dataset.set_epoch(epoch)

    @property
    def caption_datasets(self) -> tuple[VideoDataset, ...]:
        """Where the captions of the items come from (``walt/data/text_cache.py`` caches them)."""
        return (self.dataset,)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict:
        item = self.dataset[index]
        n = len(self.dataset)
        generator = item_generator(self.dataset.seed, self.dataset.epoch, index, PICKS_STREAM)
        others = torch.randint(max(n - 1, 1), (self.num_images,), generator=generator)
        others = [int(j) + (n > 1 and int(j) >= index) for j in others]  # any video but this one

        def load(j: int) -> tuple[torch.Tensor, VideoSample]:  # the sample actually read (after any retry)
            return self.dataset.load_clip(j, num_frames=1, generator=generator), self.dataset.samples[j]

        frames, sources = zip(*(self.dataset.with_retries(load, j) for j in others))
        t = item["video"].shape[1]
        item["video"] = torch.cat([item["video"], *frames], dim=1)
        item["image_mask"] = torch.arange(t + self.num_images) >= t
        item["image_label"] = torch.tensor([[s.label for s in sources]])
        item["image_caption"] = [[s.caption for s in sources]]
        return item
