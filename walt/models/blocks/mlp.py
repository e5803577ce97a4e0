"""The transformer MLP (``fc1 → GELU(tanh) → fc2``, ratio 4; key names as in DiT/Latte checkpoints). With another
output width it is also PixArt-α's caption projection (text width → D → D).

At eager CPU inference (:func:`fused_cpu_inference`, entered by ``InferenceBackbone`` when sampling) ``fc1`` and the
GELU run as one oneDNN GEMM with the bias and the activation in its epilogue (``mkldnn._linear_pointwise``, the op
inductor's freezing emits): the hidden ``(N, 4D)`` tensor is written once instead of written, read and written again.
Everywhere else (training, gradients, autocast, a LoRA-adapted ``fc1``, GPUs, a compile, CPUs other than x86-64) it
is the plain modules.
"""
from __future__ import annotations

import platform
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import torch
from torch import Tensor, nn

_FUSED_CPU_INFERENCE: ContextVar[bool] = ContextVar("fused_cpu_inference", default=False)
X86 = ("x86_64", "amd64")  # where oneDNN's fused GELU epilogue is checked (tests/test_inference_sampling.py)
FUSABLE = torch.backends.mkldnn.is_available() and platform.machine().lower() in X86


@contextmanager
def fused_cpu_inference() -> Iterator[None]:
    """Within the block, MLPs called without gradients on the CPU fuse ``fc1`` and GELU (module docstring)."""
    token = _FUSED_CPU_INFERENCE.set(FUSABLE)
    try:
        yield
    finally:
        _FUSED_CPU_INFERENCE.reset(token)


class Mlp(nn.Module):
    """Two-layer MLP with tanh-approximated GELU (DiT)."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, out_dim or dim)

    def forward(self, x: Tensor) -> Tensor:
        if self._fused(x):
            return self.fc2(torch.ops.mkldnn._linear_pointwise(x, self.fc1.weight, self.fc1.bias, "gelu", [], "tanh"))
        return self.fc2(self.act(self.fc1(x)))

    def _fused(self, x: Tensor) -> bool:
        return (_FUSED_CPU_INFERENCE.get() and not torch.is_grad_enabled() and x.device.type == "cpu"
                and type(self.fc1) is nn.Linear and x.dtype == self.fc1.weight.dtype == torch.float32
                and not torch.is_autocast_enabled("cpu") and not torch.compiler.is_compiling())
