"""Adaptive layer norm with a separate regression per layer (W.A.L.T §4.3 "separate AdaLN", LAVITA §3.4 S-AdaLN,
registered under both names).

``A^i = Linear_i(SiLU(c))`` with ``A^i = concat(shift_msa, scale_msa, gate_msa, shift_mlp, scale_mlp, gate_mlp)``.
All layers' regressions are one batched matmul. Zero-initialized, so every gate starts at 0 and a fresh block
is the identity (adaLN-Zero).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry import CONDITIONINGS
from walt.models.conditioning.base import Conditioning


@CONDITIONINGS.register_module()
class AdaLN(Conditioning):
    """W.A.L.T §4.3 / LAVITA §3.4: per-layer AdaLN regression, ``num_layers × (d × chunks·d)`` parameters."""

    def __init__(self, dim: int, num_layers: int, num_chunks: int = 6):
        super().__init__(dim, num_layers, num_chunks)
        self.weight = nn.Parameter(torch.zeros(num_layers, num_chunks * dim, dim))
        self.bias = nn.Parameter(torch.zeros(num_layers, num_chunks * dim))

    def forward(self, c: Tensor) -> Tensor:
        """``c`` ``(B, D)`` → modulations ``(num_layers, B, num_chunks, D)``."""
        out = torch.einsum("bd,led->lbe", F.silu(c), self.weight) + self.bias[:, None]
        return out.view(self.num_layers, c.shape[0], self.num_chunks, self.dim)


# LAVITA §3.4 "scalable AdaLN" (S-AdaLN) is the same per-block adaLN-Zero regression, under LAVITA's name.
CONDITIONINGS.register_module(name="SAdaLN", module=AdaLN)
