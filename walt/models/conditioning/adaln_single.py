"""adaLN-single (PixArt-α §2.3), the conditioning of the released Latte text-to-video model.

One regression of the timestep embedding is shared by every block, ``Ā = Linear(SiLU(c))`` (``num_chunks · D``),
and each block adds its own learned table ``E_i`` (``num_chunks × D``): ``A_i = Ā + E_i``. The output layer does
not regress ``c``: it adds ``c`` itself to a learned ``(2, D)`` table (``final_table``, see
:class:`~walt.models.blocks.final_layer.FinalLayer`). Initialization as PixArt-α: the shared regression
normal(0.02), the tables ``randn / √D`` — unlike adaLN-Zero, a fresh block is not the identity.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from registry import CONDITIONINGS
from walt.models.conditioning.base import Conditioning


@CONDITIONINGS.register_module()
class AdaLNSingle(Conditioning):
    """PixArt-α adaLN-single: a shared ``D → chunks·D`` regression plus a ``(chunks, D)`` table per block."""

    final_table = True

    def __init__(self, dim: int, num_layers: int, num_chunks: int = 6):
        super().__init__(dim, num_layers, num_chunks)
        self.linear = nn.Linear(dim, num_chunks * dim)
        self.table = nn.Parameter(torch.randn(num_layers, num_chunks, dim) / dim**0.5)
        nn.init.normal_(self.linear.weight, std=0.02)
        nn.init.zeros_(self.linear.bias)

    def forward(self, c: Tensor) -> Tensor:
        """``c`` ``(B, D)`` → modulations ``(num_layers, B, num_chunks, D)``."""
        shared = self.linear(F.silu(c)).view(c.shape[0], self.num_chunks, self.dim)
        return self.table[:, None] + shared[None]
