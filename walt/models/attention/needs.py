"""Any self-attention in any slot: what an attention declares it needs, and the build-time check that reads it.

Every self-attention slot of both backbones (W.A.L.T's spatial / spatiotemporal layers, LAVITA's spatial / temporal
blocks, the two attentions of a variant-3 block and the one of a variant-4 block) may hold any registered
self-attention. Each declares through ``needs() -> AttentionNeeds`` (the one small interface):

* ``windows``: the window(s) ``(wt, wh, ww)`` its heads attend in (``None`` = the whole axis; the split-head MHA of
  LAVITA variant 4 has two);
* ``frame_layout``: it needs the per-frame ``(t, h, w)`` token grid — a window, or a relative position bias table,
  whose spatial extent is more than one token yet not the whole axis is laid out over ``h`` and ``w``;
* ``temporal_rope``: its time-mixing heads rotate queries and keys by frame index (LAVITA §3.5);
* ``image_frames``: how image frames of joint training keep to themselves wherever a window spans time:
  ``"identity"`` (W.A.L.T §4.2's identity mask of STW attention: an image token attends to itself only, so its
  value embedding passes through), ``"own_frame"`` (an image token attends to the tokens of its own frame in the
  window, as the image alone would be attended: for attentions that also do a spatial slot's job, e.g. full
  attention) or ``"excluded"`` (LAVITA §3.6: video tokens never see them and their output is zero); ``None`` = it
  does not (refused where it mixes time).

Every slot has a job, read from the paper that defines it (:class:`SlotJob`): mixing the tokens of a frame
("space": W.A.L.T's SW layers, LAVITA's spatial attention), mixing frames ("time": W.A.L.T's STW layers, LAVITA's
temporal attention), or both (LAVITA variant 4's one MHA). A backbone calls :func:`check_slots` once its blocks are
built. A combination that cannot work raises
:class:`AttentionSlotError` (a ``ValueError``; ``tools/train.py``, ``tools/flops.py`` and ``tools/compare.py`` print
it as one ``error:`` line) naming the backbone, slot, attention type and the reason. The rules:

1. *declared*: the attention has ``needs()``; otherwise nothing below can be checked.
2. *per-frame grid*: ``frame_layout`` and a conditioning that changes the grid the blocks run on (LAVITA "all
   tokens" appends its tokens to every frame: ``(t, h, w)`` → ``(t, 1, h·w + K)``) — a 1×16×16 window would cut
   strips out of the flattened frame and a relative bias table has no ``(Δh, Δw)`` there.
3. *window fits*: every window, resolved on that grid, divides it.
4. *images keep to themselves*: an attention that mixes time declares ``image_frames`` (both backbones train
   jointly on images and videos; an image frame never attends across time). A "space" slot offers
   ``image_frames="own_frame"`` and refuses ``"identity"``: there an image must mix its own tokens.
5. *independent frames*: a model that promises frame independence (LAVITA ``temporal=False``, the image DiT of
   App. A.4) holds no time-mixing attention.
6. *temporal position*: where time enters only through RoPE (LAVITA ``temporal_position="rope"`` builds no absolute
   temporal table) every time-mixing attention applies RoPE, or it would not know the order of frames.
7. *the slot's job*: a "space" slot holds an attention that mixes tokens of one frame (a window of more than one
   token per frame on the grid the blocks run on): otherwise no layer of that kind mixes an image frame, and
   ``TemporalAttention`` in LAVITA's spatial slot would leave image frames of joint training with no spatial mixing
   at all. A "time" slot of a model with more than one frame holds an attention that mixes frames: otherwise the
   model has no time mixing (``SpatialAttention`` in LAVITA's temporal slot), which only ``temporal=False`` (the
   image model) may promise.

Before these, an attention's own constructor refuses a window it cannot be (``SpatialWindowAttention`` offered the
5×8×8 window of a W.A.L.T spatiotemporal layer). Merely unusual, and allowed: time mixing in a "space" slot
(``FullAttention`` in W.A.L.T's SW layers; image frames still attend within their own frame as above, and LAVITA adds
its absolute temporal table before the first block that mixes time), space mixing in a "time" slot (W.A.L.T's STW
windows do both), or a window that covers the whole grid. docs/experiments.md ("Cross-paper ablations") has the same
rules as a table.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from torch import nn

from registry import ATTENTIONS, accepted_kwargs
from walt.models.attention.kernel import WindowSpec, resolve_window
from walt.models.grid import Grid

IMAGE_FRAME_MODES = ("own_frame", "identity", "excluded")
SPACE, TIME = "space", "time"


class AttentionSlotError(ValueError):
    """A self-attention that cannot work in the backbone slot it was configured for (see the module docstring)."""


@dataclass(frozen=True)
class SlotJob:
    """What a slot is for (rule 7): ``mixes`` ⊆ {``"space"``, ``"time"``}, and the paper's words saying so."""

    mixes: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class AttentionNeeds:
    """What a self-attention needs from the slot that holds it (see the module docstring)."""

    windows: tuple[WindowSpec, ...]
    frame_layout: bool
    temporal_rope: bool
    image_frames: str | None

    def mixes_time(self, grid: Grid) -> bool:
        """Whether a query can see another frame of ``grid``."""
        return any(resolve_window(w, grid)[0] > 1 for w in self.windows)

    def mixes_space(self, grid: Grid) -> bool:
        """Whether a query can see another token of its own frame of ``grid``."""
        return any(resolve_window(w, grid)[1] * resolve_window(w, grid)[2] > 1 for w in self.windows)


def attention_takes(cfg: dict, arg: str) -> bool:
    """Whether the attention ``cfg`` names (a registered type or a class) takes the keyword ``arg`` (an unknown type
    name answers True: building it fails with the registered names)."""
    cls = cfg.get("type")
    if isinstance(cls, str):
        ATTENTIONS.import_from_location()
        cls = ATTENTIONS.get(cls)
    accepted = accepted_kwargs(cls) if cls is not None else None
    return accepted is None or arg in accepted


def type_name(cfg: dict) -> str:
    """The attention type a config names, for messages."""
    return getattr(cfg.get("type"), "__name__", str(cfg.get("type")))


def has_spatial_extent(window: WindowSpec) -> bool:
    """A window (or table) laid out over ``h``, ``w``: a spatial entry that is neither one token nor whole-axis."""
    return any(w not in (None, 1) for w in tuple(window)[1:])


def _describe(needs: AttentionNeeds) -> str:
    return " and ".join(str(tuple(w)) for w in needs.windows)


def check_slot(where: str, attn: nn.Module, grid: Grid, run_grid: Grid, conditioning: str,
               refuse_time: str | None = None, rope_position: bool = False, job: SlotJob | None = None
               ) -> AttentionNeeds:
    """Apply the rules of the module docstring to ``attn`` in the slot ``where`` (e.g. ``"LAVITA block 1
    (temporal_attention)"``): ``grid`` is the token grid the model is built for, ``run_grid`` the one its blocks run
    on under the ``conditioning`` (type name), ``refuse_time`` why this model keeps frames independent (rule 5),
    ``rope_position`` whether time enters only through RoPE (rule 6), ``job`` what the slot is for (rule 7). Returns
    the attention's needs."""
    name = type(attn).__name__
    if not callable(getattr(attn, "needs", None)):
        raise AttentionSlotError(f"{where}: {name} declares no needs() (walt/models/attention/needs.py), so whether "
                                 f"it fits this slot cannot be checked; subclass WindowSelfAttention or add needs()")
    needs = attn.needs()
    if needs.frame_layout and tuple(run_grid) != tuple(grid):
        raise AttentionSlotError(
            f"{where}: {name} lays its window {_describe(needs)} or its relative position bias out over the h and w "
            f"of a frame, so it needs the per-frame token grid (t, h, w)={tuple(grid)}, but {conditioning} "
            f"conditioning runs the blocks on the grid {tuple(run_grid)} (its tokens join every frame); use "
            f"whole-axis or one-token windows with rel_pos_bias=False (e.g. SpatialAttention), or a modulating "
            f"conditioning")
    for window in needs.windows:
        resolved = resolve_window(window, run_grid)
        if any(g % w for g, w in zip(run_grid, resolved)):
            shown = str(tuple(window)) + (f" (here {resolved})" if resolved != tuple(window) else "")
            raise AttentionSlotError(f"{where}: {name} window {shown} does not divide the token grid "
                                     f"(t, h, w)={tuple(run_grid)}; give it a window whose entries divide the grid "
                                     f"(None = whole axis)")
    mixes_time = needs.mixes_time(run_grid)
    if mixes_time and needs.image_frames not in IMAGE_FRAME_MODES:
        raise AttentionSlotError(f"{where}: {name} mixes time (window {_describe(needs)}) but declares no way to keep "
                                 f"image frames of joint training to themselves (image_frames must be one of "
                                 f"{IMAGE_FRAME_MODES})")
    if mixes_time and refuse_time is not None:
        raise AttentionSlotError(f"{where}: {name} mixes time (window {_describe(needs)}), but {refuse_time}; use an "
                                 f"attention within one frame (e.g. SpatialAttention, SpatialWindowAttention)")
    if mixes_time and rope_position and not needs.temporal_rope:
        raise AttentionSlotError(f"{where}: {name} mixes time without temporal RoPE, but temporal_position='rope' "
                                 f"builds no absolute temporal table, so it would not know the order of frames; "
                                 f"let it take rope=True or use temporal_position='abs'")
    if job is not None and SPACE in job.mixes and run_grid.spatial > 1 and not needs.mixes_space(run_grid):
        raise AttentionSlotError(f"{where}: {name} mixes no tokens within a frame (window {_describe(needs)} on the "
                                 f"grid {tuple(run_grid)}), but this slot mixes space ({job.why}); image frames of "
                                 f"joint training would get no spatial mixing; use e.g. SpatialAttention")
    if job is not None and SPACE in job.mixes and mixes_time and needs.image_frames == "identity":
        raise AttentionSlotError(f"{where}: {name} passes image frames through (image_frames='identity', W.A.L.T "
                                 f"§4.2's STW mask), but this slot mixes space ({job.why}); image frames of joint "
                                 f"training would get no spatial mixing here; use image_frames='own_frame'")
    if job is not None and TIME in job.mixes and run_grid.t > 1 and not mixes_time:
        raise AttentionSlotError(f"{where}: {name} mixes no frames (window {_describe(needs)} on the grid "
                                 f"{tuple(run_grid)}), but this slot mixes time ({job.why}); the model would have "
                                 f"no time mixing; use e.g. TemporalAttention or SpatiotemporalWindowAttention")
    return needs


def check_slots(owner: str, slots: Iterable[tuple[str, str, nn.Module]], grid: Grid, conditioning: nn.Module,
                jobs: dict[str, SlotJob], refuse_time: str | None = None, rope_position: bool = False
                ) -> list[AttentionNeeds]:
    """:func:`check_slot` for every ``(slot name, config key, attention)`` of the backbone ``owner``, the slot's job
    ``jobs[config key]``; the grid the blocks run on comes from the conditioning
    (:meth:`~walt.models.conditioning.base.Conditioning.token_grid`)."""
    run_grid = conditioning.token_grid(grid)
    return [check_slot(f"{owner} {slot}", attn, grid, run_grid, type(conditioning).__name__, refuse_time,
                       rope_position, jobs[key]) for slot, key, attn in slots]
