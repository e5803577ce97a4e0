"""The transformer MLP (``fc1 → GELU(tanh) → fc2``, ratio 4; key names as in DiT/Latte checkpoints). With another
output width it is also PixArt-α's caption projection (text width → D → D).

At CPU inference (:func:`walt.models.cpu_inference.cpu_inference`, entered by ``InferenceBackbone`` when sampling,
eager or compiled) ``fc1`` and the GELU run as one oneDNN GEMM with the bias and the activation in its epilogue.
"""
from __future__ import annotations

from torch import Tensor, nn

from walt.models.cpu_inference import FUSABLE, linear_gelu, takes_inference_path


class Mlp(nn.Module):
    """Two-layer MLP with tanh-approximated GELU (DiT)."""

    def __init__(self, dim: int, hidden_dim: int, out_dim: int | None = None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(hidden_dim, out_dim or dim)

    def forward(self, x: Tensor) -> Tensor:
        if self._fused(x):
            return self.fc2(linear_gelu(self.fc1, x))
        return self.fc2(self.act(self.fc1(x)))

    def _fused(self, x: Tensor) -> bool:
        return FUSABLE and takes_inference_path(self.fc1, x)
