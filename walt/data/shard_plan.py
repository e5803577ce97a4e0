"""Which tar-shard members each reader stream reads, epoch after epoch, and the data position as the members left.

A *stream* is one data-loader worker of one rank: stream ``rank * workers + worker`` of ``ranks * workers``. Epoch
``e`` orders the shards by a permutation drawn from ``(seed, e)`` (or keeps their order) and deals them round-robin
to the streams, so in every epoch each shard is read by exactly one stream, start to end (members in the order they
were written; ``tools/make_shards.py --shuffle`` mixes the table before writing). A stream reads its shards of
epoch ``e``, then of ``e + 1``, ... without end: streams never wait for each other, and ranks whose shards hold
different numbers of members keep stepping together.

A position is the list of :data:`Piece` s each stream had still to read, up to the next epoch no stream has started,
plus that epoch: ``{"next_epoch", "streams": [[piece, ...] per stream]}``. Resumed with the same number of streams,
stream ``s`` reads its own pieces again, then the regular epochs (the uninterrupted sequence, member for member);
with another number of streams (another world size or worker count), the pieces are dealt round-robin to the new
streams. Either way every member of every epoch is read once: none twice, none left out.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

import numpy as np

Piece = tuple[int, int, int, int]  # (epoch, shard, first member, end member): members [first, end) of a shard


def epoch_shards(num_shards: int, seed: int, epoch: int, shuffle: bool) -> list[int]:
    """The shard order of ``epoch``: a permutation drawn from ``(seed, epoch)``, or ``0 .. num_shards - 1``."""
    if not shuffle:
        return list(range(num_shards))
    return [int(k) for k in np.random.default_rng((seed, epoch)).permutation(num_shards)]


def deal(pieces: list[Piece], num_streams: int) -> list[list[Piece]]:
    """``pieces`` dealt round-robin to ``num_streams`` streams, in (epoch, shard, first member) order."""
    ordered = sorted(pieces)
    return [ordered[s::num_streams] for s in range(num_streams)]


@dataclass
class StreamPlan:
    """The members stream ``stream`` of ``num_streams`` reads: its ``start`` pieces (left from a resumed position),
    then its share of every epoch from ``next_epoch`` on. ``counts[k]``: members in shard ``k``."""

    counts: list[int]
    stream: int
    num_streams: int
    seed: int = 0
    shuffle: bool = True
    start: list[Piece] = field(default_factory=list)
    next_epoch: int = 0

    def __post_init__(self):
        if self.num_streams > len(self.counts):
            raise ValueError(f"{len(self.counts)} shards cannot feed {self.num_streams} reader streams (ranks x "
                             f"data-loader workers, each reading whole shards): write smaller shards "
                             f"(tools/make_shards.py --shard-size) or use fewer workers")

    def pieces(self) -> Iterator[Piece]:
        """The stream's pieces, without end."""
        yield from (piece for piece in self.start if piece[2] < piece[3])
        for epoch in itertools.count(self.next_epoch):
            shards = epoch_shards(len(self.counts), self.seed, epoch, self.shuffle)[self.stream::self.num_streams]
            yield from ((epoch, k, 0, self.counts[k]) for k in shards if self.counts[k])

    def _after(self, consumed: int) -> Iterator[Piece]:
        """The pieces after the first ``consumed`` members, the first one cut where they end."""
        pieces = self.pieces()
        for epoch, shard, first, end in pieces:
            if consumed < end - first:
                yield epoch, shard, first + consumed, end
                break
            consumed -= end - first
        yield from pieces

    def current_epoch(self, consumed: int) -> int:
        """The epoch of the member the stream reads after ``consumed`` members."""
        return next(self._after(consumed))[0]

    def remaining(self, consumed: int, next_epoch: int) -> list[Piece]:
        """What the stream has left after ``consumed`` members, up to (not including) the regular epoch
        ``next_epoch`` (which must be past :meth:`current_epoch`)."""
        left, start_left = [], sum(end - first for _, _, first, end in self.start)
        for piece in self._after(consumed):
            if piece[0] >= next_epoch and consumed >= start_left:
                break
            left.append(piece)
            consumed += piece[3] - piece[2]
        return left


def resume_plans(counts: list[int], position: dict | None, num_streams: int, seed: int,
                 shuffle: bool) -> list[StreamPlan]:
    """Every stream's plan from a saved ``position`` (``None``: a fresh start at epoch 0)."""
    if position is None:
        starts, next_epoch = [[] for _ in range(num_streams)], 0
    else:
        saved = [[tuple(piece) for piece in stream] for stream in position["streams"]]
        starts = saved if len(saved) == num_streams else deal([p for stream in saved for p in stream], num_streams)
        next_epoch = int(position["next_epoch"])
    return [StreamPlan(counts, s, num_streams, seed, shuffle, starts[s], next_epoch) for s in range(num_streams)]


def merge_position(plans: list[StreamPlan], consumed: list[int],
                   gather: Callable[[Any], list[Any]] = lambda local: [local]) -> dict:
    """The position after stream ``plans[i].stream`` read ``consumed[i]`` members. Under ``torchrun`` each rank
    holds its own streams' plans, in stream order, and ``gather`` (``[value of rank 0, value of rank 1, ...]``,
    a collective) joins them."""
    current = max(gather(max(plan.current_epoch(n) for plan, n in zip(plans, consumed))))
    next_epoch = max(plans[0].next_epoch, current + 1)
    local = [[list(p) for p in plan.remaining(n, next_epoch)] for plan, n in zip(plans, consumed)]
    return dict(next_epoch=next_epoch, streams=[stream for rank in gather(local) for stream in rank])
