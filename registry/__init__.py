"""The registries of walt: one mmengine ``Registry`` per interchangeable kind of component.

Contract
--------
* Every registry has ``scope='walt'`` (passed explicitly: a top-level package called ``registry`` would
  otherwise make mmengine infer the wrong scope) and ``locations`` naming the package that holds its members,
  so that building a name imports the module that registers it.
* A registered class takes its hyperparameters as keyword arguments, with the paper's values as defaults.
* What a parent knows (model width, number of heads, token grid, latent channels) the parent passes in when it
  builds its children: ``ATTENTIONS.build(cfg, default_args=dict(dim=self.dim, num_heads=self.num_heads))``.
  A config therefore only names what is a real choice (window size, LoRA rank), never derived shapes.
* ``build`` checks that the name exists and fails with the list of registered names otherwise; it accepts a
  config dict, an mmengine ``ConfigDict`` or ``None`` (returns ``None``, for optional components).
* ``tools/list_registry.py`` prints every registry below with its members and their one-line docstrings.
"""
from __future__ import annotations

from typing import Any

from mmengine.registry import Registry, build_from_cfg

__all__ = [
    "AUTOENCODERS", "PATCH_EMBEDS", "POS_EMBEDS", "ATTENTIONS", "CONDITIONINGS", "BLOCKS", "BACKBONES",
    "TEXT_ENCODERS", "DIFFUSIONS", "SAMPLERS", "DATASETS", "MODELS", "OPTIMIZERS", "ALL_REGISTRIES",
    "registered_names",
]


def _build_checked(cfg: Any, registry: Registry, default_args: dict | None = None) -> Any:
    """mmengine's ``build_from_cfg`` with an error that lists the valid names when ``type`` is unknown."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise TypeError(f"{registry.name}: a component config must be a dict with a 'type' key, got {type(cfg).__name__}")
    if "type" not in cfg:
        raise KeyError(f"{registry.name}: config {dict(cfg)} has no 'type' key; registered: {registered_names(registry)}")
    name = cfg["type"]
    if isinstance(name, str):
        registry.import_from_location()
        if registry.get(name) is None:
            raise KeyError(
                f"unknown {registry.name} type {name!r}; registered {registry.name} types are: "
                f"{', '.join(registered_names(registry))}"
            )
    return build_from_cfg(cfg, registry, default_args)


def _registry(name: str, package: str) -> Registry:
    return Registry(name, scope="walt", locations=[package], build_func=_build_checked)


AUTOENCODERS = _registry("autoencoder", "walt.models.autoencoders")
PATCH_EMBEDS = _registry("patch_embed", "walt.models.embeddings")
POS_EMBEDS = _registry("pos_embed", "walt.models.embeddings")
ATTENTIONS = _registry("attention", "walt.models.attention")
CONDITIONINGS = _registry("conditioning", "walt.models.conditioning")
BLOCKS = _registry("block", "walt.models.blocks")
BACKBONES = _registry("backbone", "walt.models.backbones")
TEXT_ENCODERS = _registry("text_encoder", "walt.models.text_encoders")
DIFFUSIONS = _registry("diffusion", "walt.diffusion")
SAMPLERS = _registry("sampler", "walt.diffusion")
DATASETS = _registry("dataset", "walt.data")
MODELS = _registry("model", "walt.models.generative")  # top-level trainable models (latent diffusion, autoencoder training)
OPTIMIZERS = _registry("optimizer", "walt.engine")

ALL_REGISTRIES: dict[str, Registry] = {
    r.name: r
    for r in (AUTOENCODERS, PATCH_EMBEDS, POS_EMBEDS, ATTENTIONS, CONDITIONINGS, BLOCKS, BACKBONES, TEXT_ENCODERS,
              DIFFUSIONS, SAMPLERS, DATASETS, MODELS, OPTIMIZERS)
}


def registered_names(registry: Registry) -> list[str]:
    """Sorted member names of ``registry``, after importing its ``locations``."""
    registry.import_from_location()
    return sorted(registry.module_dict)
