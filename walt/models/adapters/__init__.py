"""Adapters for fine-tuning public weights: LoRA through the ``peft`` library (:mod:`.lora`).

Not to be confused with W.A.L.T's AdaLN-LoRA (:class:`walt.models.conditioning.adaln_lora.AdaLNLoRA`), a
conditioning whose per-layer modulations are low-rank updates of a shared one: that is part of a model's
architecture and trains with it; a LoRA adapter is a low-rank update of frozen public weights."""
from walt.models.adapters.lora import (LORA_ROLES, LoRASettings, attach_lora, lora_layers,
                                       merge_lora, resolve_lora_targets, set_lora_scale)

__all__ = ["LORA_ROLES", "LoRASettings", "attach_lora", "lora_layers", "merge_lora",
           "resolve_lora_targets", "set_lora_scale"]
