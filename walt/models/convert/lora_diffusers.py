"""LoRA adapters of a walt LAVITA (:mod:`walt.models.adapters.lora`) in the PEFT format with the key names of
diffusers' ``LatteTransformer3DModel`` (:mod:`.latte_diffusers` maps the modules): ``adapter_model.safetensors``
(``base_model.model.<diffusers module>.lora_{A,B}.weight``) and ``adapter_config.json``, what
``PeftModel.from_pretrained(transformer, folder)`` reads.

An adapter on a fused walt projection becomes one adapter per diffusers projection with the same ``A`` and its rows
of ``B``: ``[B_q; B_k; B_v] A x = concat(B_q A x, B_k A x, B_v A x)``, so the exported adapters are exact and keep
the rank and ``alpha``.
"""
from __future__ import annotations

from pathlib import Path

from peft import LoraConfig
from safetensors.torch import save_file
from torch import Tensor, nn

from walt.models.adapters.lora import ADAPTER, LoRASettings, lora_layers
from walt.models.convert.latte_diffusers import LATTE_T2V, diffusers_module_names
from walt.models.convert.layout import require_layout

__all__ = ["walt_lora_to_diffusers_latte", "save_peft_adapter", "PEFT_PREFIX"]

PEFT_PREFIX = "base_model.model."  # PeftModel.save_pretrained's key prefix


def walt_lora_to_diffusers_latte(backbone: nn.Module, settings: LoRASettings) -> tuple[dict[str, Tensor], LoraConfig]:
    """The PEFT state dict and ``LoraConfig`` of ``backbone``'s adapters under diffusers' Latte module names."""
    require_layout(backbone, "diffusers Latte", temporal_blocks=True, **LATTE_T2V)
    layers = {id(layer): layer for layer in lora_layers(backbone)}
    out: dict[str, Tensor] = {}
    targets: list[str] = []
    for name, module in backbone.named_modules():
        if id(module) not in layers:
            continue
        down, up = module.lora_A[ADAPTER].weight, module.lora_B[ADAPTER].weight
        names = diffusers_module_names(name)
        for target, rows in zip(names, up.chunk(len(names))):
            out[f"{PEFT_PREFIX}{target}.lora_A.weight"] = down.detach().clone()
            out[f"{PEFT_PREFIX}{target}.lora_B.weight"] = rows.detach().clone()
            targets.append(target)
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules=targets, bias="none")
    return out, config


def save_peft_adapter(folder: str | Path, sd: dict[str, Tensor], config: LoraConfig,
                      base: str | None = None) -> Path:
    """Write ``adapter_model.safetensors`` + ``adapter_config.json`` to ``folder`` (``base``: the base weights'
    path, recorded as ``base_model_name_or_path``)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_file(sd, str(folder / "adapter_model.safetensors"))
    config.base_model_name_or_path = base
    config.save_pretrained(str(folder))
    return folder
