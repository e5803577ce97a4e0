"""LoRA fine-tuning adapters (Hu et al. 2021, "LoRA: Low-Rank Adaptation") on a walt backbone, with ``peft``.

``model.lora = dict(r=16, alpha=16, dropout=0.0, target=["attn_qkv", "attn_out"])`` adds ``W x + (α/r)·B A x`` to
the nn.Linear layers of the roles named in ``target`` (:data:`LORA_ROLES`) and freezes every other weight; ``B``
starts at zero, so the adapted model starts as the base model. The adapters are peft ``LoraLayer`` modules
(``<layer>.base_layer`` holds the frozen weight, ``<layer>.lora_A.default`` / ``lora_B.default`` the adapter),
of peft's ``lora.Linear`` class with its sums fused into the GEMMs (:mod:`.lora_linear`).

walt fuses self-attention's q, k and v into one projection (``attn.qkv``) and cross-attention's k and v
(``cross_attn.kv``): one adapter on the fused layer is, exactly, the same-rank adapters on q, k, v that share ``A``
(rows of ``B`` split), which is how :mod:`walt.models.convert.lora_diffusers` exports it.

Not W.A.L.T's AdaLN-LoRA conditioning (``walt/models/conditioning/adaln_lora.py``), which is architecture.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

import torch
from peft import LoraConfig
from peft.tuners.lora import LoraLayer, LoraModel
from torch import nn

from walt.models.adapters.lora_linear import FusedLoRALinear

__all__ = ["LORA_ROLES", "LoRASettings", "resolve_lora_targets", "attach_lora", "lora_layers", "set_lora_scale",
           "merge_lora", "ADAPTER"]

ADAPTER = "default"  # peft's adapter name; a walt model carries one adapter at a time
# role → the backbone's nn.Linear module names it covers (a regular expression matched against the whole name)
LORA_ROLES: dict[str, str] = {
    "attn_qkv": r"blocks\.\w+\.attn\.qkv",             # self-attention q, k, v (one fused projection in walt)
    "attn_out": r"blocks\.\w+\.attn\.proj",            # self-attention output projection
    "cross_q": r"blocks\.\w+\.cross_attn\.q",          # cross-attention query
    "cross_kv": r"blocks\.\w+\.cross_attn\.kv",        # cross-attention k, v (fused) over the text / condition
    "cross_out": r"blocks\.\w+\.cross_attn\.proj",     # cross-attention output projection
    "mlp": r"blocks\.\w+\.mlp\.fc[12]",                # the blocks' feed-forward layers
    "adaln": r"conditioning\..+|final_layer\.adaLN_modulation\..+",  # the adaLN regressions that are nn.Linear
}


@dataclass(frozen=True)
class LoRASettings:
    """``model.lora`` of a config: rank ``r``, ``alpha`` (scale ``alpha / r``), ``dropout`` on the adapter's
    input, and the ``target`` roles (:data:`LORA_ROLES`)."""

    r: int = 16
    alpha: float = 16.0
    dropout: float = 0.0
    target: tuple[str, ...] = field(default=("attn_qkv", "attn_out", "cross_q", "cross_kv", "cross_out"))

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> LoRASettings:
        """Checked settings from ``model.lora`` (a ``ValueError`` naming the key at fault)."""
        unknown = set(cfg) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"model.lora has no key {sorted(unknown)[0]!r} (keys: r, alpha, dropout, target)")
        settings = cls(**{**cfg, "target": tuple(cfg.get("target", cls.target))})
        if type(settings.r) is not int or settings.r < 1:
            raise ValueError(f"model.lora.r must be an integer >= 1, got {settings.r!r}")
        if not 0.0 <= settings.dropout < 1.0:
            raise ValueError(f"model.lora.dropout must be in [0, 1), got {settings.dropout!r}")
        if not settings.target:
            raise ValueError("model.lora.target is empty: name at least one of " + ", ".join(LORA_ROLES))
        for role in settings.target:
            if role not in LORA_ROLES:
                raise ValueError(f"model.lora.target: unknown role {role!r} (roles: {', '.join(LORA_ROLES)})")
        return settings

    def as_config(self) -> dict[str, Any]:
        """The settings as the plain dict a checkpoint stores (and ``model.lora`` states)."""
        return dict(asdict(self), target=list(self.target))


def resolve_lora_targets(backbone: nn.Module, settings: LoRASettings) -> list[str]:
    """The names of ``backbone``'s nn.Linear modules the target roles cover; a ``ValueError`` naming a role that
    matches no module of this backbone."""
    linears = [name for name, module in backbone.named_modules() if isinstance(module, nn.Linear)]
    names: list[str] = []
    for role in settings.target:
        matched = [name for name in linears if re.fullmatch(LORA_ROLES[role], name)]
        if not matched:
            raise ValueError(f"model.lora.target {role!r} matches no nn.Linear module of {type(backbone).__name__} "
                             f"(pattern {LORA_ROLES[role]!r})")
        names += [name for name in matched if name not in names]
    return names


def attach_lora(backbone: nn.Module, settings: LoRASettings, base_dtype: torch.dtype | None = None) -> list[str]:
    """Add LoRA adapters (fp32) to ``backbone`` in place with peft and freeze everything but them; with
    ``base_dtype`` the frozen nn.Linear weights are held in that dtype (bf16 where the hardware multiplies it
    natively). Returns the adapted module names."""
    names = resolve_lora_targets(backbone, settings)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=names, bias="none")
    config._register_custom_module({nn.Linear: FusedLoRALinear})  # peft's layer with the fused plain-case GEMMs
    LoraModel(backbone, config, ADAPTER)  # injects the peft layers into backbone in place
    backbone.requires_grad_(False)
    for layer in lora_layers(backbone):
        for module in (layer.lora_A[ADAPTER], layer.lora_B[ADAPTER]):
            module.float().requires_grad_(True)
    if base_dtype is not None:
        for module in backbone.modules():
            if isinstance(module, nn.Linear) and not module.weight.requires_grad:
                module.to(base_dtype)
    return names


def lora_layers(model: nn.Module) -> Iterator[LoraLayer]:
    return (module for module in model.modules() if isinstance(module, LoraLayer))


def set_lora_scale(model: nn.Module, scale: float) -> None:
    """Multiply every adapter's ``alpha / r`` by ``scale`` (0: the base model, 1: as trained)."""
    for layer in lora_layers(model):
        layer.set_scale(ADAPTER, scale)


def merge_lora(backbone: nn.Module) -> nn.Module:
    """Fold the adapters into the base weights (``W + (α/r)·scale·B A``) and remove the peft layers, so the
    backbone has its original module names and state-dict keys again. In place; returns ``backbone``."""
    for name, layer in [(n, m) for n, m in backbone.named_modules() if isinstance(m, LoraLayer)]:
        layer.merge(safe_merge=True, adapter_names=[ADAPTER])  # peft: W += (α/r)·scale·B A, refused if not finite
        parent, _, child = name.rpartition(".")
        setattr(backbone.get_submodule(parent) if parent else backbone, child, layer.get_base_layer())
    return backbone

