"""The forward and backward of a LoRA-adapted nn.Linear in four GEMMs with their sums fused (Hu et al. 2021, eq. 3).

peft's ``lora.Linear`` computes ``base(x) + lora_B(lora_A(dropout(x))) * scaling``: besides the rank-``r`` GEMMs,
two output-sized passes in the forward (the scaling and the sum) and their images in the backward, each a fresh
output-sized tensor; with gradient checkpointing the forward runs twice. Where the weight GEMMs are small (d = 384)
those passes cost as much as the weight-gradient GEMM that freezing the base saves. :class:`FusedLoRALinear` is
peft's layer (same adapters, state-dict keys, merge, scaling, adapter switching) whose plain case -- one active
adapter, no dropout, not merged -- runs :class:`LoRALinearFunction`: ``y = x Wᵀ + b`` then ``y += (x Aᵀ)(s B)ᵀ``
accumulated by the GEMM (``addmm_``), and in the backward ``dx = dy W`` then ``dx += (dy s B) A`` the same way, with
the weight gradient computed only for a weight that trains. Every other case is peft's own forward.
"""
from __future__ import annotations

from typing import Any

import torch
from peft.tuners.lora import Linear as PeftLoRALinear
from torch import nn

__all__ = ["FusedLoRALinear", "LoRALinearFunction"]


class LoRALinearFunction(torch.autograd.Function):
    """``x Wᵀ + b + scaling · (x Aᵀ) Bᵀ`` over the last dimension of ``x``."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, lora_a: torch.Tensor,
                lora_b: torch.Tensor, scaling: float) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        low = rows @ lora_a.t()                                       # (N, r)
        scaled_b = lora_b * scaling                                   # (out, r)
        out = rows @ weight.t() if bias is None else torch.addmm(bias, rows, weight.t())
        out.addmm_(low, scaled_b.t())
        ctx.save_for_backward(rows, weight, lora_a, scaled_b, low)
        ctx.scaling, ctx.has_bias, ctx.x_shape = scaling, bias is not None, x.shape
        return out.view(*x.shape[:-1], out.shape[-1])

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        rows, weight, lora_a, scaled_b, low = ctx.saved_tensors
        grad = grad.reshape(-1, grad.shape[-1])
        grad_low = grad @ scaled_b                                    # (N, r)
        grad_x = grad_w = grad_bias = None
        if ctx.needs_input_grad[0]:
            grad_x = (grad @ weight).addmm_(grad_low, lora_a).view(ctx.x_shape)
        if ctx.needs_input_grad[1]:
            grad_w = grad.t() @ rows
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad.sum(0)
        grad_a = grad_low.t() @ rows if ctx.needs_input_grad[3] else None
        grad_b = (grad.t() @ low).mul_(ctx.scaling) if ctx.needs_input_grad[4] else None
        return grad_x, grad_w, grad_bias, grad_a, grad_b, None


class FusedLoRALinear(PeftLoRALinear):
    """peft's LoRA nn.Linear whose plain case runs :class:`LoRALinearFunction` (registered for nn.Linear targets
    by :func:`walt.models.adapters.attach_lora`)."""

    def forward(self, x: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        adapters = [name for name in self.active_adapters if name in self.lora_A]
        if (args or kwargs or self.disable_adapters or self.merged or len(adapters) != 1
                or adapters[0] in self.lora_variant or not isinstance(self.lora_dropout[adapters[0]], nn.Identity)):
            return super().forward(x, *args, **kwargs)
        base, name = self.get_base_layer(), adapters[0]
        tensors = (x, base.weight, base.bias, self.lora_A[name].weight, self.lora_B[name].weight)
        if torch.is_autocast_enabled(x.device.type):  # what F.linear would multiply in under autocast
            dtype = torch.get_autocast_dtype(x.device.type)
            with torch.autocast(x.device.type, enabled=False):
                return LoRALinearFunction.apply(*(t if t is None else t.to(dtype) for t in tensors), self.scaling[name])
        if len({t.dtype for t in tensors if t is not None}) > 1:
            return super().forward(x)
        return LoRALinearFunction.apply(*tensors, self.scaling[name])
