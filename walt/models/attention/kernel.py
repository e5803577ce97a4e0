"""The one attention path of walt: windowed attention over the token grid, and the kernel under it.

:func:`windowed_attention` is every self-attention factorization of both papers (W.A.L.T full / SW / STW windows,
LAVITA spatial, temporal and split-head), told apart only by the window ``(wt, wh, ww)`` over the ``(t, h, w)`` token
grid: ``None`` = the whole axis (full ``(None,)*3``, LAVITA spatial ``(1, None, None)``, temporal ``(None, 1, 1)``),
an entry larger than the grid is clamped to it (an image, ``t = 1``, passes an STW layer as a spatial window).
Image frames of joint training never mix across frames: in a window that spans time an image token attends to the
tokens of its own frame in that window only (W.A.L.T's identity mask applied to time, never within a frame), so an
image frame of a joint batch is processed as the same image alone (``t = 1``) would be.
Windows are folded into the batch, so everything ends in :func:`attention` on 4-D ``(B', heads, L, d)`` tensors —
the layout on which CPU SDPA is fast. Which kernel runs:

* CUDA with xformers installed: ``xformers.ops.memory_efficient_attention``;
* CPU with a float bias that needs a gradient (W.A.L.T's learned relative position bias while training):
  :func:`math_attention`, ``softmax(Q Kᵀ / √d + B) V`` written out in the input dtype. SDPA's fused CPU kernel
  does not support a bias with gradient, so SDPA falls back to its unfused math path, which runs the bmm and
  softmax of bf16 inputs in fp32 — 1.8× slower than these four ops for one STW attention in bf16 autocast
  (``docs/benchmarks/walt.md``, MFU section);
* everything else: ``torch.nn.functional.scaled_dot_product_attention``.

All compute the same softmax attention, so results agree to kernel rounding (``tests/test_attention_kernel.py``).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from walt.models.grid import Grid

WindowSpec = Sequence["int | None"]

try:  # optional: only has CUDA kernels
    import xformers.ops as xops
except Exception:  # pragma: no cover - depends on the install
    xops = None


IMAGE_FRAME_MASKS = ("own_frame", "identity")  # how image tokens attend in a window spanning frames

def math_attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
    """``softmax(Q Kᵀ / √d + bias) V`` as four plain ops (the CPU path for a float bias with gradient).

    ``bias`` is a float tensor broadcastable to the scores ``(B, heads, Lq, Lk)``. Under autocast the matmuls run
    in the autocast dtype and the bias is cast to the scores' dtype (as SDPA casts its mask); ``-inf`` entries get
    probability 0 and zero gradient, as long as every query row keeps one finite entry (a fully masked row is NaN,
    as in SDPA)."""
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))
    if bias is not None:
        scores = scores.add_(bias.to(scores.dtype))  # in place: the matmul's backward does not need its output
    return torch.matmul(scores.softmax(-1), v)


def attention(q: Tensor, k: Tensor, v: Tensor, bias: Tensor | None = None) -> Tensor:
    """Softmax attention on ``(B, heads, L, d)`` tensors; ``bias`` is an additive float mask broadcastable to
    ``(B, heads, Lq, Lk)`` (``-inf`` blocks a pair), or a bool mask (``True`` = may attend)."""
    if xops is not None and q.is_cuda and (bias is None or bias.dtype != torch.bool):
        qx, kx, vx = (t.transpose(1, 2) for t in (q, k, v))  # xformers wants (B, L, heads, d)
        attn_bias = None if bias is None else bias.to(q.dtype).expand(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
        return xops.memory_efficient_attention(qx, kx, vx, attn_bias=attn_bias).transpose(1, 2)
    if q.device.type == "cpu" and bias is not None and bias.requires_grad and torch.is_grad_enabled():
        return math_attention(q, k, v, bias)
    if bias is not None and bias.dtype not in (torch.bool, q.dtype):
        bias = bias.to(q.dtype)  # SDPA wants the mask in the query's dtype (an fp32 bias table under autocast)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)


def check_window(grid_thw: tuple[int, int, int], window: tuple[int, int, int], where: str) -> None:
    """Raise a ValueError naming ``where`` when the token grid is not divisible by the window."""
    if any(g % w for g, w in zip(grid_thw, window)):
        raise ValueError(f"{where}: token grid (t, h, w)={tuple(grid_thw)} is not divisible by window {tuple(window)}")


def window_partition(x: Tensor, grid_thw: tuple[int, int, int], window: tuple[int, int, int]) -> Tensor:
    """``(B, t*h*w, C)`` tokens → ``(B * num_windows, wt*wh*ww, C)``, windows in (t, h, w) row-major order."""
    b, _, c = x.shape
    (t, h, w), (wt, wh, ww) = grid_thw, window
    x = x.view(b, t // wt, wt, h // wh, wh, w // ww, ww, c)
    return x.permute(0, 1, 3, 5, 2, 4, 6, 7).reshape(-1, wt * wh * ww, c)


def window_merge(x: Tensor, grid_thw: tuple[int, int, int], window: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`window_partition`: ``(B * num_windows, wt*wh*ww, C)`` → ``(B, t*h*w, C)``."""
    (t, h, w), (wt, wh, ww) = grid_thw, window
    c = x.shape[-1]
    x = x.view(-1, t // wt, h // wh, w // ww, wt, wh, ww, c)
    return x.permute(0, 1, 4, 2, 5, 3, 6, 7).reshape(-1, t * h * w, c)


def resolve_window(window: WindowSpec, grid: Grid) -> tuple[int, int, int]:
    """The concrete window for ``grid``: ``None`` → whole axis, larger than the axis → clamped to it."""
    return tuple(g if w is None else min(w, g) for w, g in zip(window, grid))  # type: ignore[return-value]


def stretch_window(window: WindowSpec, built: Grid, grid: Grid, where: str, prefix_time: bool = True
                   ) -> tuple[int, int, int]:
    """The concrete window on ``grid`` of an attention built for the token grid ``built`` (W.A.L.T App. A: windows
    follow the grid, 1×16×16 on 16×16 → 1×16×28 on 16×28). Per axis of the built window ``w`` (``built`` size
    ``o``, new size ``n``): the same size keeps ``w``; with ``prefix_time`` a time axis no longer than built keeps
    ``w`` clamped to it (a shorter clip is a prefix of the frames, an image ``t = 1``); otherwise a whole-axis window
    stays whole-axis, a one-token window stays one token, and any other scales to ``w·n/o``, which must be an
    integer (a ValueError naming ``where`` otherwise). Run-time buckets use ``prefix_time=True``,
    ``WALT.interpolate_pos_embed`` (checkpoint interpolation) ``prefix_time=False``."""
    out = []
    for axis, (w, o, n) in enumerate(zip(resolve_window(window, built), built, grid)):
        if n == o or (axis == 0 and prefix_time and n < o):
            out.append(min(w, n))
        elif w in (o, 1):
            out.append(n if w == o else 1)
        elif (w * n) % o:
            raise ValueError(f"{where}: window {tuple(window)} on the token grid {tuple(built)} cannot follow the "
                             f"grid to {tuple(grid)} (axis {'thw'[axis]}: {w}·{n}/{o} is not an integer); use a "
                             f"size whose ratio to {tuple(built)} keeps the windows whole")
        else:
            out.append(w * n // o)
    return tuple(out)  # type: ignore[return-value]


def window_split_heads(x: Tensor, grid_thw: tuple[int, int, int], window: tuple[int, int, int]) -> Tensor:
    """Per-head tokens ``(B, t*h*w, heads, d)`` → ``(B * num_windows, heads, wt*wh*ww, d)``, windows as in
    :func:`window_partition`, in one copy."""
    b, _, heads, d = x.shape
    (t, h, w), (wt, wh, ww) = grid_thw, window
    x = x.view(b, t // wt, wt, h // wh, wh, w // ww, ww, heads, d)
    return x.permute(0, 1, 3, 5, 7, 2, 4, 6, 8).reshape(-1, heads, wt * wh * ww, d)


def window_merge_heads(x: Tensor, grid_thw: tuple[int, int, int], window: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`window_split_heads`, heads merged: ``(B * num_windows, heads, wt*wh*ww, d)`` →
    ``(B, t*h*w, heads * d)`` in one copy."""
    (t, h, w), (wt, wh, ww) = grid_thw, window
    _, heads, _, d = x.shape
    x = x.view(-1, t // wt, h // wh, w // ww, heads, wt, wh, ww, d)
    return x.permute(0, 1, 5, 2, 6, 3, 7, 4, 8).reshape(-1, t * h * w, heads * d)


def image_frame_mask(image_mask: Tensor, grid: Grid, window: tuple[int, int, int], mode: str = "own_frame") -> Tensor:
    """Bool mask ``(B * num_windows, 1, L, L)`` for a window that spans frames; video tokens attend to the video
    tokens of the window. An image token attends (``mode``) to the tokens of its own frame in the window
    (``"own_frame"``: images never mix across frames, and within its frame an image is attended as it would be alone)
    or to itself only (``"identity"``: W.A.L.T §4.2's identity mask of STW attention, which passes the image frames'
    value embeddings through the layer as is)."""
    if mode not in IMAGE_FRAME_MASKS:
        raise ValueError(f"image_frames must be one of {IMAGE_FRAME_MASKS}, got {mode!r}")
    is_img = grid.token_mask(image_mask)[:, :, None].to(torch.uint8)
    is_img = window_partition(is_img, tuple(grid), window).squeeze(-1).bool()  # (B', L)
    index = torch.arange(is_img.shape[1], device=is_img.device)
    own = index // (window[1] * window[2]) if mode == "own_frame" else index  # a token's frame, or itself
    video = ~is_img
    return ((is_img[:, :, None] & (own[:, None] == own[None, :])) | (video[:, :, None] & video[:, None, :]))[:, None]


def windowed_attention(q: Tensor, k: Tensor, v: Tensor, grid: Grid, window: WindowSpec,
                       image_mask: Tensor | None = None, bias: Tensor | None = None,
                       image_frames: str = "own_frame") -> Tensor:
    """Multi-head attention inside the non-overlapping ``window``\ s of ``grid``.

    ``q``, ``k``, ``v``: ``(B, t*h*w, heads, d)`` (any strides: views of a fused projection are fine);
    ``image_mask``: ``(B, t)`` bool, True where a frame is an independent image; ``bias``: an additive
    ``(heads, L, L)`` float bias for the resolved window (W.A.L.T's relative position bias); ``image_frames``: how an
    image token attends in a window that spans frames (:func:`image_frame_mask`). Returns ``(B, t*h*w, heads * d)``."""
    window = resolve_window(window, grid)
    check_window(tuple(grid), window, "windowed_attention")
    if image_mask is not None and window[0] > 1 and bool(image_mask.any()):
        allowed = image_frame_mask(image_mask, grid, window, image_frames)
        bias = allowed if bias is None else bias.masked_fill(~allowed, float("-inf"))
    if not windows_are_runs(grid, window):
        qw, kw, vw = (window_split_heads(x, tuple(grid), window) for x in (q, k, v))
        return window_merge_heads(attention(qw, kw, vw, bias), tuple(grid), window)
    # Each window is a run of consecutive tokens: the per-window, per-head layout is a strided view (no copy), and
    # CPU SDPA writes its output as (B', L, heads, d), so merging the heads back is a view too.
    b, n, heads, d = q.shape
    length = window[0] * grid.spatial
    qw, kw, vw = (x.reshape(b * (n // length), length, heads, d).transpose(1, 2) for x in (q, k, v))
    return attention(qw, kw, vw, bias).transpose(1, 2).reshape(b, n, heads * d)


def windows_are_runs(grid: Grid, window: tuple[int, int, int]) -> bool:
    """Whether every window is a run of consecutive tokens (windows of whole frames, ``wh = h`` and ``ww = w``):
    then window partition is a reshape."""
    return window[1] == grid.h and window[2] == grid.w


def fold_windows(x: Tensor, grid: Grid, window: tuple[int, int, int],
                 image_mask: Tensor | None = None) -> tuple[Tensor, Grid, Tensor | None]:
    """Windows as samples: tokens ``(B, t*h*w, C)`` → ``(B * num_windows, wt*wh*ww, C)`` on the window's grid, with
    ``image_mask`` ``(B, t)`` → ``(B * num_windows, wt)``. Attention inside one window of the original grid is then
    whole-grid attention of the folded sample (undo with :func:`window_merge`)."""
    if image_mask is not None:
        (t, h, w), (wt, wh, ww) = grid, window
        per_window = image_mask.view(-1, t // wt, 1, 1, wt).expand(-1, t // wt, h // wh, w // ww, wt)
        image_mask = per_window.reshape(-1, wt)
    return window_partition(x, tuple(grid), window), Grid(*window), image_mask
