"""Streaming training data from WebDataset tar shards (``tools/make_shards.py``), the format of CogVideo's SAT
trainer and finetrainers for datasets of millions of clips on network storage or object stores.

A shard folder holds ``shard-000000.tar ...`` and ``index.json`` (``{"version": 1, "shards": [{"name", "count"}],
"total", "fields"}``). Each member is ``<key>.<video extension>`` (the source file's bytes), ``<key>.json`` (the
metadata table's row: ``path``, ``text``, ``num_frames``, ``height``, ``width``, ``fps``, ``label``, ``index``) and,
when written with cached latents or text features, ``<key>.pth`` (``latent``, ``text_tokens``, ``text_mask``,
``text_pooled``). Shards are opened with ``webdataset`` (``gopen``: local paths, ``pipe:`` commands, http, ...), read
front to back, and videos decoded from memory (decord, PyAV as fallback; walt/data/video_io.py).
"""
from __future__ import annotations

import io
import json
import os
import tarfile
from typing import Any, Iterator

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info
from webdataset.gopen import gopen
from webdataset.shardlists import expand_urls
from webdataset.tariterators import group_by_keys, tar_file_expander

from registry import DATASETS
from walt.data.shard_plan import Piece, StreamPlan, resume_plans
from walt.data.skips import SkipCounter
from walt.data.transforms import TEMPORAL_MODES, ClipTransform, item_generator, sample_frame_indices
from walt.data.video_io import VIDEO_EXTENSIONS, VideoReadError, open_video_file, read_frames

SHARD_INDEX = "index.json"
FIELDS = ("video", "latent", "text")
POSITION_KEYS = ("shard_stream", "shard_cursor")  # per item: which stream read it, members it had read with it
_TAR_ERRORS = (tarfile.TarError, OSError, ValueError, EOFError)


def read_shard_index(path: str) -> dict:
    """The ``index.json`` of a shard folder; ``FileNotFoundError`` / ``ValueError`` naming it."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"VideoShards: shard index {path!r} does not exist; write shards with "
                                f"tools/make_shards.py TABLE --out DIR")
    with open(path, encoding="utf-8") as f:
        index = json.load(f)
    if not isinstance(index, dict) or not all(key in index for key in ("shards", "total")):
        raise ValueError(f"VideoShards: {path!r} is not a shard index (expected keys 'shards' and 'total')")
    return index


@DATASETS.register_module()
class VideoShards(IterableDataset):
    """Clips streamed from the tar shards that ``index`` (a shard folder's ``index.json``) lists. ``urls``: where
    the shards are read from, a list or a brace pattern (``"pipe:aws s3 cp s3://bucket/shard-{000000..000099}.tar
    -"``), in the index's order; default: the index's folder. Each rank and data-loader worker reads disjoint whole
    shards (walt/data/shard_plan.py); the data position (``load_position``; kept and saved in training checkpoints
    by walt/engine/stream_state.py) resumes mid-epoch with no member read twice or skipped, under any world size
    or worker count.

    Clip options as ``VideoDataset``'s; ``num_frames=None`` takes every ``frame_interval``-th frame of the whole
    video and ``resolution=None`` keeps the source size (clips of mixed shapes; :meth:`clip_shape` decides per
    member). Items: ``video (3, T, H, W)`` in ``[-1, 1]``, ``label``, ``caption``, ``path``, ``key``, the ``epoch``
    it was read in and the source's ``num_frames``, ``height``, ``width``, ``fps`` (the table's columns);
    ``fields`` adds ``latent`` and the text features (``text`` replaces ``caption``, as ``CachedTextDataset``
    does) of shards written with them, and leaving out ``video`` skips decoding. A member that cannot be decoded
    (or a shard that cannot be read) is skipped, logged and counted in ``skipped``; more than ``max_retries``
    failures in a row stop the stream with an error."""

    def __init__(self, index: str, urls: str | list[str] | None = None, num_frames: int | None = 16,
                 frame_interval: int = 1, resolution: int | tuple[int, int] | None = 256, random_crop: bool = False,
                 hflip: float = 0.5, temporal_sampling: str = "random", fields: tuple[str, ...] = ("video",),
                 shuffle: bool = True, seed: int = 0, max_retries: int = 20):
        info = read_shard_index(index)
        self.counts = [int(shard["count"]) for shard in info["shards"]]
        empty = [shard["name"] for shard in info["shards"] if int(shard["count"]) < 1]
        if empty or not self.counts:
            raise ValueError(f"VideoShards: {index!r} lists no shards or empty ones ({empty[:3]}); every shard needs "
                             f"at least one member")
        if urls is None:
            urls = [os.path.join(os.path.dirname(os.path.abspath(index)), shard["name"]) for shard in info["shards"]]
        self.urls = expand_urls(urls) if isinstance(urls, str) else list(urls)
        if len(self.urls) != len(self.counts):
            raise ValueError(f"VideoShards: urls name {len(self.urls)} shards, {index!r} lists {len(self.counts)}")
        unknown = [f for f in fields if f not in FIELDS]
        unwritten = [f for f in fields if f != "video" and f not in info.get("fields", [])]
        if unknown or unwritten or not fields:
            raise ValueError(f"VideoShards: fields {list(fields)}: choose from {list(FIELDS)}"
                             + (f"; {index!r} was written without {unwritten}" if unwritten else ""))
        if num_frames is not None and num_frames < 1 or frame_interval < 1:
            raise ValueError(f"VideoShards: num_frames and frame_interval must be >= 1, got {num_frames}, "
                             f"{frame_interval}")
        if temporal_sampling not in TEMPORAL_MODES:
            raise ValueError(f"VideoShards: temporal_sampling must be one of {TEMPORAL_MODES}, "
                             f"got {temporal_sampling!r}")
        self.offsets = np.concatenate([[0], np.cumsum(self.counts)]).tolist()  # a member's id: offset + position
        self.num_frames, self.frame_interval, self.temporal_sampling = num_frames, frame_interval, temporal_sampling
        self.transform = ClipTransform(resolution, random_crop, hflip)
        self.fields, self.shuffle, self.seed, self.max_retries = tuple(fields), shuffle, seed, max_retries
        self.rank, self.world_size, self.rotation = 0, 1, 0
        self.position: dict | None = None
        self._skips, self._failures = SkipCounter("VideoShards"), 0

    # ---- distribution and position ------------------------------------------------------------------------------
    @property
    def skipped(self) -> int:
        """Members skipped so far, in this process and its data-loader workers together."""
        return self._skips.total

    def __len__(self) -> int:
        """Members in one epoch (all shards)."""
        return self.offsets[-1]

    def distribute(self, rank: int, world_size: int) -> None:
        """Read as rank ``rank`` of ``world_size`` (before the loader starts its workers)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"VideoShards.distribute: rank {rank} is not in [0, {world_size})")
        self.rank, self.world_size = rank, world_size

    def plans(self, num_workers: int) -> list[StreamPlan]:
        """The plans of this rank's streams (one per data-loader worker; one for ``num_workers=0``)."""
        workers = max(num_workers, 1)
        plans = resume_plans(self.counts, self.position, self.world_size * workers, self.seed, self.shuffle)
        return plans[self.rank * workers:(self.rank + 1) * workers]

    def load_position(self, position: dict | None, rotation: int = 0) -> None:
        """Continue from ``position`` (walt/data/shard_plan.py; ``None``: from the start); worker ``w`` then reads
        stream ``(w + rotation) % workers`` of its rank, so the batches a resumed loader takes in turn from its
        workers come in the uninterrupted order."""
        self.position, self.rotation = position, rotation

    # ---- reading ------------------------------------------------------------------------------------------------
    def __iter__(self) -> Iterator[dict]:
        worker = get_worker_info()
        workers, index = (1, 0) if worker is None else (worker.num_workers, worker.id)
        local = (index + self.rotation) % workers
        plan = self.plans(workers)[local]
        cursor, self._failures = 0, 0
        for piece in plan.pieces():
            start = cursor
            for member, sample in self.read_piece(piece):
                cursor += 1
                try:
                    item = self.decode(sample, piece[0], self.offsets[piece[1]] + member)
                except (VideoReadError, KeyError, ValueError) as err:
                    self._fail(f"{self.urls[piece[1]]} member {member}: {err}")
                    continue
                self._failures = 0
                item.update(shard_stream=plan.stream, shard_cursor=cursor)
                yield item
            cursor = start + piece[3] - piece[2]  # members missing from a short shard count as read

    def _fail(self, reason: str) -> None:
        """Count and log one skipped member or unreadable shard; too many in a row raise."""
        self._skips.record(VideoReadError(reason))
        self._failures += 1
        if self._failures > self.max_retries:
            raise RuntimeError(f"VideoShards: {self._failures} members or shards in a row could not be read, the "
                               f"last: {reason}; are the shards readable?")

    def read_piece(self, piece: Piece) -> Iterator[tuple[int, dict]]:
        """``(member index, raw sample)`` of members ``[first, end)`` of the piece's shard, read in order (the ones
        before ``first`` are read past, not decoded). A shard that cannot be opened or ends early is logged and
        counted once; its missing members count as read."""
        _, shard, first, end = piece
        url = self.urls[shard]
        try:
            stream = gopen(url)
        except _TAR_ERRORS as err:
            self._fail(f"shard {url}: {err}")
            return
        try:
            for member, sample in enumerate(group_by_keys(tar_file_expander([dict(url=url, stream=stream)]))):
                if member >= end:
                    break
                if member >= first:
                    yield member, sample
                    first = member + 1
        except _TAR_ERRORS as err:
            self._fail(f"shard {url}: {err}")
            return
        finally:
            stream.close()
        if first < end:
            self._fail(f"shard {url} ends after {first} members, the index lists {end}")

    def clip_shape(self, meta: dict) -> tuple[int | None, tuple[int, int] | None]:
        """``(num_frames, (height, width))`` of the clip cut from a member with metadata ``meta``; ``None``: the
        whole video / the source size. Override (or wrap) it to give each member its shape bucket's size."""
        return self.num_frames, self.transform.size

    def decode(self, sample: dict, epoch: int, member_id: int) -> dict:
        """The item of one raw tar member; random draws from ``item_generator(seed, epoch, member id)``."""
        meta = json.loads(sample["json"])
        item: dict[str, Any] = dict(label=int(meta.get("label") or 0), caption=meta.get("text") or "",
                                    path=meta.get("path", ""), key=sample["__key__"], epoch=epoch,
                                    **{k: int(meta.get(k) or 0) for k in ("num_frames", "height", "width")},
                                    fps=float(meta.get("fps") or 0.0))
        if "video" in self.fields:
            item["video"] = self.decode_video(sample, meta, item_generator(self.seed, epoch, member_id))
        if "latent" in self.fields or "text" in self.fields:
            cached = torch.load(io.BytesIO(sample["pth"]), map_location="cpu", weights_only=True)
            if "latent" in self.fields:
                item["latent"] = cached["latent"].float()
            if "text" in self.fields:
                del item["caption"]
                item.update({k: cached[k] for k in ("text_tokens", "text_mask", "text_pooled")})
        return item

    def decode_video(self, sample: dict, meta: dict, generator: torch.Generator) -> torch.Tensor:
        ext = next((e[1:] for e in VIDEO_EXTENSIONS if e[1:] in sample), None)
        if ext is None:
            raise VideoReadError(f"no video file among {sorted(k for k in sample if not k.startswith('__'))}")
        video = open_video_file(f"{sample['__key__']}.{ext} ({meta.get('path', '')})", sample[ext])
        num_frames, size = self.clip_shape(meta)
        if num_frames is None:
            num_frames = (len(video) - 1) // self.frame_interval + 1
        try:
            indices = sample_frame_indices(len(video), num_frames, self.frame_interval, self.temporal_sampling,
                                           generator)
        except ValueError as err:
            raise VideoReadError(f"{video.path!r} is too short: {err}") from err
        transform = self.transform if size == self.transform.size else \
            ClipTransform(size, self.transform.random_crop, self.transform.hflip)
        return transform(read_frames(video, indices), generator)
