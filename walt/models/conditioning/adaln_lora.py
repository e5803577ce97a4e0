"""AdaLN-LoRA (W.A.L.T §4.3, Eq. 3): one shared AdaLN regression plus a rank-r correction per layer.

``A^1 = MLP(c + t)`` and ``A^i = A^1 + W_b^i W_a^i (c + t)`` for ``i ≠ 1``, with ``W_a^i: d → r`` and
``W_b^i: r → 6d``. The shared MLP and every ``W_b`` start at zero, so all modulations start at zero (adaLN-Zero).

``lora_every_layer=True`` (the default, as in the W.A.L.T preset and configs; ``False`` is Eq. 3 read literally)
gives layer 1 its own low-rank correction too (``A^i = MLP(c + t) + W_b^i W_a^i (c + t)``
for all ``i``): the parameter counts of W.A.L.T Table 3d (313/314/316/324/357M for r = 2..256) grow by
``L · 7d`` per unit of rank, not ``(L - 1) · 7d``, so the paper's implementation evidently has ``L`` LoRA pairs.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from registry import CONDITIONINGS
from walt.models.conditioning.base import Conditioning


@CONDITIONINGS.register_module()
class AdaLNLoRA(Conditioning):
    """W.A.L.T §4.3 AdaLN-LoRA with rank ``rank`` (Table 3d: r ∈ {2, 4, 16, 64, 256}; default r = 2)."""

    def __init__(self, dim: int, num_layers: int, rank: int = 2, num_chunks: int = 6, lora_every_layer: bool = True):
        super().__init__(dim, num_layers, num_chunks)
        self.rank = rank
        self.lora_every_layer = lora_every_layer
        num_lora = num_layers if lora_every_layer else num_layers - 1
        self.shared = nn.Sequential(nn.SiLU(), nn.Linear(dim, num_chunks * dim))
        nn.init.zeros_(self.shared[1].weight)
        nn.init.zeros_(self.shared[1].bias)
        # Layers 2..L (1..L with lora_every_layer): W_a (r × d) and W_b (6d × r), stacked: two batched matmuls.
        self.lora_a = nn.Parameter(torch.randn(num_lora, rank, dim) / dim**0.5)
        self.lora_b = nn.Parameter(torch.zeros(num_lora, num_chunks * dim, rank))

    def forward(self, c: Tensor) -> Tensor:
        """``c`` ``(B, D)`` → modulations ``(num_layers, B, num_chunks, D)``."""
        a1 = self.shared(c)  # (B, 6D)
        low_rank = torch.einsum("lrd,bd->lbr", self.lora_a, c)
        delta = torch.einsum("ler,lbr->lbe", self.lora_b, low_rank)
        out = a1[None] + delta if self.lora_every_layer else torch.cat([a1[None], a1[None] + delta], dim=0)
        return out.view(self.num_layers, c.shape[0], self.num_chunks, self.dim)
