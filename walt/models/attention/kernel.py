"""The one attention kernel path of walt, and the window partition/merge math every factorization shares.

Every self- and cross-attention in the codebase (W.A.L.T windows, LAVITA spatial/temporal, full attention) ends in
:func:`attention` on 4-D ``(B', heads, L, d)`` tensors, with windows folded into the batch dimension ``B'`` — the
layout on which CPU SDPA is fast. Which kernel runs:

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

import torch
import torch.nn.functional as F
from torch import Tensor

try:  # optional: only has CUDA kernels
    import xformers.ops as xops
except Exception:  # pragma: no cover - depends on the install
    xops = None


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


def window_split_heads(x: Tensor, grid_thw: tuple[int, int, int], window: tuple[int, int, int], parts: int,
                       num_heads: int) -> tuple[Tensor, ...]:
    """Fused per-token projections ``(B, t*h*w, parts * heads * d)`` (q, k, v: ``parts = 3``) → ``parts`` contiguous
    ``(B * num_windows, heads, wt*wh*ww, d)`` tensors, windows as in :func:`window_partition`, in one copy (a linear
    layer commutes with the window partition, so the projections can be computed before it)."""
    b, _, c = x.shape
    (t, h, w), (wt, wh, ww) = grid_thw, window
    if c % (parts * num_heads):
        raise ValueError(f"window_split_heads: {c} channels do not split into {parts} parts × {num_heads} heads")
    x = x.view(b, t // wt, wt, h // wh, wh, w // ww, ww, parts, num_heads, c // (parts * num_heads))
    x = x.permute(7, 0, 1, 3, 5, 8, 2, 4, 6, 9).reshape(parts, -1, num_heads, wt * wh * ww, x.shape[-1])
    return x.unbind(0)


def window_merge_heads(x: Tensor, grid_thw: tuple[int, int, int], window: tuple[int, int, int]) -> Tensor:
    """Inverse of :func:`window_split_heads` for one part: ``(B * num_windows, heads, wt*wh*ww, d)`` →
    ``(B, t*h*w, heads * d)`` in one copy."""
    (t, h, w), (wt, wh, ww) = grid_thw, window
    _, heads, _, d = x.shape
    x = x.view(-1, t // wt, h // wh, w // ww, heads, wt, wh, ww, d)
    return x.permute(0, 1, 5, 2, 6, 3, 7, 4, 8).reshape(-1, t * h * w, heads * d)
