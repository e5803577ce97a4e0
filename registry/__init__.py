"""The registries of walt: one mmengine ``Registry`` per interchangeable kind of component.

Contract
--------
* Every registry has ``scope='walt'`` (passed explicitly: a top-level package called ``registry`` would
  otherwise make mmengine infer the wrong scope) and ``locations`` naming the package that holds its members,
  so that building a name imports the module that registers it.
* A registered class takes its hyperparameters as keyword arguments, with the paper's values as defaults.
* What a parent knows (model width, number of heads, token grid, latent channels) the parent passes in when it
  builds its children: ``ATTENTIONS.build(cfg, default_args=dict(dim=self.dim, num_heads=self.num_heads))``.
  ``default_args`` are offered, not imposed: each reaches the child only when its class takes that keyword (and
  the config does not set it), so a parent can offer everything it knows to whichever class the config names.
  A config therefore only names what is a real choice (window size, LoRA rank), never derived shapes.
* ``build`` checks the name (an unknown one fails with the list of registered names) and the config's keys (a key
  the class does not take fails naming the class and the closest keyword); it accepts a config dict, an mmengine
  ``ConfigDict`` or ``None`` (returns ``None``, for optional components). :func:`accepted_kwargs` is the one place
  that reads a class's signature (the config checks use it too).
* Under ``with torch.device("meta")`` components build their structure only and read no weight or statistics file
  (FLOP counting and the config tests build multi-billion-parameter models that way).
* ``tools/list_registry.py`` prints every registry below with its members and their one-line docstrings.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any

from mmengine.registry import Registry

__all__ = [
    "AUTOENCODERS", "PATCH_EMBEDS", "POS_EMBEDS", "ATTENTIONS", "CONDITIONINGS", "BACKBONES", "TEXT_ENCODERS",
    "DIFFUSIONS", "SAMPLERS", "STEP_CACHES", "DATASETS", "MODELS", "OPTIMIZERS", "ALL_REGISTRIES",
    "registered_names", "accepted_kwargs", "close_matches", "find_class",
]


def accepted_kwargs(cls: Any) -> set[str] | None:
    """The keyword arguments ``cls(...)`` takes; ``None`` when it takes any (``**kwargs``)."""
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def close_matches(word: str, candidates: Any) -> str:
    """``"; did you mean 'a', 'b'?"`` for the candidates close to ``word`` (empty when none is)."""
    close = difflib.get_close_matches(word, sorted(map(str, candidates)), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""


def _build(cfg: Any, registry: Registry, default_args: dict | None = None) -> Any:
    """Build ``cfg`` from ``registry``, offering ``default_args`` to the class (see the module docstring)."""
    if cfg is None:
        return None
    if not isinstance(cfg, dict):
        raise TypeError(f"{registry.name}: a component config must be a dict with a 'type' key, got {type(cfg).__name__}")
    cfg = dict(cfg)
    if "type" not in cfg:
        raise KeyError(f"{registry.name}: config {cfg} has no 'type' key; registered: {registered_names(registry)}")
    name = cfg.pop("type")
    cls = name
    if isinstance(name, str):
        registry.import_from_location()
        cls = registry.get(name)
        if cls is None:
            raise KeyError(f"unknown {registry.name} type {name!r}{close_matches(name, registry.module_dict)}; "
                           f"registered {registry.name} types are: {', '.join(registered_names(registry))}")
    accepted = accepted_kwargs(cls)
    if accepted is not None:
        for key in cfg:
            if key not in accepted:
                raise TypeError(f"{registry.name} {getattr(cls, '__name__', cls)} takes no argument {key!r}"
                                f"{close_matches(key, accepted)}")
    offered = {k: v for k, v in (default_args or {}).items() if accepted is None or k in accepted}
    return cls(**{**offered, **cfg})


def find_class(name: str) -> Any:
    """The class registered as ``name`` in any registry (``None`` if no registry has it)."""
    for registry in ALL_REGISTRIES.values():
        registry.import_from_location()
        cls = registry.get(name)
        if cls is not None:
            return cls
    return None


def _registry(name: str, package: str) -> Registry:
    return Registry(name, scope="walt", locations=[package], build_func=_build)


AUTOENCODERS = _registry("autoencoder", "walt.models.autoencoders")
PATCH_EMBEDS = _registry("patch_embed", "walt.models.embeddings")
POS_EMBEDS = _registry("pos_embed", "walt.models.embeddings")
ATTENTIONS = _registry("attention", "walt.models.attention")
CONDITIONINGS = _registry("conditioning", "walt.models.conditioning")
BACKBONES = _registry("backbone", "walt.models.backbones")
TEXT_ENCODERS = _registry("text_encoder", "walt.models.text_encoders")
DIFFUSIONS = _registry("diffusion", "walt.diffusion")
SAMPLERS = _registry("sampler", "walt.diffusion")
STEP_CACHES = _registry("step_cache", "walt.models.generative")  # training-free reuse of network work across steps
DATASETS = _registry("dataset", "walt.data")
MODELS = _registry("model", "walt.models.generative")  # top-level trainable models (latent diffusion, autoencoder training)
OPTIMIZERS = _registry("optimizer", "walt.engine")

ALL_REGISTRIES: dict[str, Registry] = {
    r.name: r
    for r in (AUTOENCODERS, PATCH_EMBEDS, POS_EMBEDS, ATTENTIONS, CONDITIONINGS, BACKBONES, TEXT_ENCODERS,
              DIFFUSIONS, SAMPLERS, STEP_CACHES, DATASETS, MODELS, OPTIMIZERS)
}


def registered_names(registry: Registry) -> list[str]:
    """Sorted member names of ``registry``, after importing its ``locations``."""
    registry.import_from_location()
    return sorted(registry.module_dict)
