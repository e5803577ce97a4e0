"""CPU inference: what ``InferenceBackbone`` (sampling, ``walt/models/generative/inference.py``) changes in a
backbone's forward on the CPU, inside :func:`cpu_inference`. Same math; only how the results are written.

* The MLP's ``fc1`` and its GELU run as one oneDNN GEMM with the bias and the activation in its epilogue
  (``mkldnn._linear_pointwise``; x86-64, where it is tested): the hidden ``(N, 4D)`` tensor is written once instead
  of written, read and written again. Eager and in the inference compile, whose fp32 linears are otherwise MKL's
  packed GEMM, which has no epilogue.
* Eager, the fused q/k/v projection of a self-attention (a ``(N, 3D)`` output) is written into one buffer that every
  self-attention of the forward reuses (:func:`qkv_projection`). A fresh tensor that size is a new memory map from the
  C allocator, page-faulted in again in every block (≈ 9,200 faults for the 38 MB of a LAVITA-S/2 guided batch); its
  q, k, v are consumed inside the attention that computed them, so one buffer serves every block. (A compile plans
  its buffers itself.)

Everywhere else — gradients, autocast, a LoRA-adapted or hooked layer, GPUs, training — the plain modules run.
"""
from __future__ import annotations

import platform
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch
from torch import Tensor, nn

X86 = ("x86_64", "amd64")  # where oneDNN's fused GELU epilogue is checked (tests/test_inference_sampling.py)
FUSABLE = torch.backends.mkldnn.is_available() and platform.machine().lower() in X86

# the buffers of the forward in progress, by (rows, width, dtype); None outside cpu_inference
_BUFFERS: ContextVar[dict | None] = ContextVar("cpu_inference_buffers", default=None)


@contextmanager
def cpu_inference() -> Iterator[None]:
    """Within the block, layers called without gradients on the CPU take the inference path (module docstring);
    the buffers live until the block exits (``InferenceBackbone`` enters it for one backbone call)."""
    token = _BUFFERS.set({})
    try:
        yield
    finally:
        _BUFFERS.reset(token)


def takes_inference_path(layer: nn.Module, x: Tensor) -> bool:
    """Whether ``layer(x)`` may be computed by this module: inside :func:`cpu_inference`, no gradients, an fp32 CPU
    input to a plain ``nn.Linear`` without hooks, no autocast."""
    return (_BUFFERS.get() is not None and not torch.is_grad_enabled() and x.device.type == "cpu"
            and type(layer) is nn.Linear and x.dtype == layer.weight.dtype == torch.float32
            and not (layer._forward_hooks or layer._forward_pre_hooks) and not torch.is_autocast_enabled("cpu"))


def linear_gelu(layer: nn.Linear, x: Tensor) -> Tensor:
    """``GELU_tanh(layer(x))`` as one oneDNN GEMM (call where :data:`FUSABLE` and :func:`takes_inference_path`)."""
    return torch.ops.mkldnn._linear_pointwise(x, layer.weight, layer.bias, "gelu", [], "tanh")


def qkv_projection(layer: nn.Linear, x: Tensor) -> Tensor:
    """``layer(x)``; on the inference path written into the forward's buffer of that size, so the caller must be
    done with the result before the next call (module docstring)."""
    if torch.compiler.is_compiling() or not takes_inference_path(layer, x):
        return layer(x)
    buffers = _BUFFERS.get()
    rows = x.numel() // x.shape[-1]
    key = (rows, layer.out_features, x.dtype)
    if key not in buffers:
        buffers[key] = x.new_empty(rows, layer.out_features)
    out, flat = buffers[key], x.reshape(rows, x.shape[-1])
    if layer.bias is None:
        torch.mm(flat, layer.weight.t(), out=out)
    else:
        torch.addmm(layer.bias, flat, layer.weight.t(), out=out)
    return out.view(*x.shape[:-1], layer.out_features)
