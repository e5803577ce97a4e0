"""The engine's part of a config, declared once: every key the trainer reads, its default and what a valid value is.

:func:`check_engine_config` refuses a key the trainer does not know with the closest existing ones (the message
``--cfg-options`` gives), refuses invalid values naming the key, and fills in the defaults of absent keys, so the
``config.py`` a run writes states every value it used (:func:`fill_engine_defaults` does only that, before
``--cfg-options`` are applied, so they can set any declared key). Component dicts (``model``, ``data.train``) are
checked by their builders; ``optimizer``, ``lr_schedule`` and ``ema`` against the signature of what they configure,
and the sampling keywords in ``sample`` against the model's ``sample()`` (so a typo there fails before step 1, not
at the first sample interval). Top-level names starting with ``_`` are the config file's own helper variables.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from mmengine.config import Config

from registry import accepted_kwargs

from walt.engine.config import component_kwargs, unknown_key_message
from walt.engine.ema import EMA
from walt.engine.errors import ConfigError
from walt.engine.lr_schedule import WarmupSchedule
from walt.models.convert.dit import DIT_INIT

__all__ = ["ENGINE_SCHEMA", "check_engine_config", "fill_engine_defaults", "Key", "Section"]

REQUIRED = object()


@dataclass(frozen=True)
class Key:
    """One value: its default (``REQUIRED``: none) and a test of validity described by ``expected``."""

    default: Any = REQUIRED
    valid: Callable[[Any], bool] | None = None
    expected: str = ""


@dataclass(frozen=True)
class Section:
    """A dict of ``keys``; ``more(cfg)`` names further accepted keys (``None``: any key, a builder checks them)."""

    keys: dict[str, Key] = field(default_factory=dict)
    more: Callable[[Config], set[str] | None] | None = None
    required: bool = False


def _integer(minimum: int, default: Any = REQUIRED, optional: bool = False) -> Key:
    def valid(value: Any) -> bool:
        return (optional and value is None) or (type(value) is int and value >= minimum)
    return Key(default, valid, f"an integer >= {minimum}" + (" or None" if optional else ""))


def _one_of(allowed: tuple, default: Any) -> Key:
    return Key(default, lambda value: value in allowed, "one of " + ", ".join(map(repr, allowed)))


def _number(default: Any, optional: bool = False) -> Key:
    def valid(value: Any) -> bool:
        return (optional and value is None) or (type(value) in (int, float) and value > 0)
    return Key(default, valid, "a number > 0" + (" or None" if optional else ""))


def _any_key(cfg: Config) -> None:
    return None


def _parameters(function: Callable, *skip: str) -> set[str] | None:
    """The keyword arguments ``function`` takes (``None`` when it takes ``**kwargs``)."""
    accepted = accepted_kwargs(function)
    return None if accepted is None else accepted - set(skip)


def _optimizer_keys(cfg: Config) -> set[str] | None:
    accepted = component_kwargs((cfg.get("optimizer") or {}).get("type"))
    return None if accepted is None else accepted - {"params"}


def _sample_keys(cfg: Config) -> set[str] | None:
    """``model.sample``'s keywords; the trainer passes ``num`` and ``generator`` itself."""
    from registry import MODELS  # late: importing the registry's members pulls in the model packages

    MODELS.import_from_location()
    model = MODELS.get((cfg.get("model") or {}).get("type"))
    if model is None or not hasattr(model, "sample"):
        return None  # an unknown type fails when the model is built; without sample() the interval must be 0
    return _parameters(model.sample, "self", "num", "generator")


ENGINE_SCHEMA: dict[str, Key | Section] = {
    "model": Section(more=_any_key, required=True),
    # the statistics of the dataset's latents (W.A.L.T §5.2), set by the _base_/data files and offered to the model
    "latent_norm": Section(more=lambda cfg: {"stats", "mean", "std"}),
    "custom_imports": Section(more=_any_key),
    # data.batch_size is the global batch (the papers' number); micro_batch_size is per process and forward pass
    "data": Section({"train": Key(), "batch_size": _integer(1),
                     "micro_batch_size": _integer(1, default=None, optional=True),
                     "num_workers": _integer(0, default=0)}),
    "optimizer": Section({"type": Key()}, more=_optimizer_keys, required=True),
    "lr_schedule": Section(more=lambda cfg: _parameters(WarmupSchedule, "self", "total_steps")),
    "max_steps": _integer(1),
    "grad_clip": _number(default=None, optional=True),
    "ema": Section(more=lambda cfg: _parameters(EMA, "self", "model")),
    "seed": _integer(0, default=0),
    "precision": _one_of(("bf16", "fp16", "fp32"), default="bf16"),
    "grad_checkpointing": _one_of((False, True), default=False),
    "parallel": _one_of(("ddp", "fsdp"), default="ddp"),
    "log_interval": _integer(1, default=10),
    "ckpt_interval": _integer(1, default=1000),
    "ckpt_keep_last": _integer(1, default=3, optional=True),
    "ckpt_keep_every": _integer(1, default=None, optional=True),
    "sample": Section({"interval": _integer(0, default=0), "num": _integer(1, default=4),
                       "steps": _integer(1, default=50), "cfg_scale": Key(1.0), "fps": _integer(1, default=8)},
                      more=_sample_keys),
    "wandb": Section({"mode": _one_of(("online", "offline", "disabled"), default="disabled"),
                      "project": Key("walt"), "entity": Key(None), "name": Key(None)}),
    "work_dir": Key(None),
    # how --load-from fills LAVITA's temporal blocks from an image DiT (§3.6; walt/models/convert/dit.py)
    "dit_init": _one_of(DIT_INIT, default=DIT_INIT[0]),
    # the weights a run starts from (a trainer checkpoint or public weights); --load-from overrides it. A LoRA run
    # (model.lora) needs them: they are the frozen base its adapters apply to
    "load_from": Key(None, lambda value: value is None or isinstance(value, str), "a path or None"),
}


def check_engine_config(cfg: Config) -> None:
    """Raise ``ConfigError`` (one line naming the key, the config file and the closest valid keys) for an unknown key
    or an invalid value in the engine's part of ``cfg``; fill in the defaults of absent keys (in place)."""
    source = f"config {cfg.filename}" if cfg.filename else "the config"
    for name in list(cfg.keys()):
        if not name.startswith("_") and name not in ENGINE_SCHEMA:
            raise ConfigError(unknown_key_message(name, name, ENGINE_SCHEMA, f"the trainer reads no key {name!r}",
                                                  source))
    for name, spec in ENGINE_SCHEMA.items():
        if isinstance(spec, Key):
            cfg[name] = _checked(name, cfg[name] if name in cfg else spec.default, spec, source)
        elif name in cfg or spec.required or spec.keys:
            cfg[name] = _checked_section(name, cfg.get(name), spec, cfg, source)


def fill_engine_defaults(cfg: Config) -> None:
    """Add the absent engine keys that have a default (in place, nothing checked), so that ``--cfg-options`` can
    set any of them (``data.micro_batch_size=8``) although the config file does not state it."""
    for name, spec in ENGINE_SCHEMA.items():
        if isinstance(spec, Key):
            if name not in cfg and spec.default is not REQUIRED:
                cfg[name] = spec.default
        elif spec.keys and isinstance(cfg.get(name, {}), dict):
            section = cfg.get(name, {})
            cfg[name] = dict(section, **{key: key_spec.default for key, key_spec in spec.keys.items()
                                         if key not in section and key_spec.default is not REQUIRED})


def _checked(key: str, value: Any, spec: Key, source: str) -> Any:
    if value is REQUIRED:
        raise ConfigError(f"config has no {key!r} (needed by the trainer; {source})")
    if spec.valid is not None and not spec.valid(value):
        raise ConfigError(f"{key} must be {spec.expected}, got {value!r} ({source})")
    return value


def _checked_section(name: str, value: Any, spec: Section, cfg: Config, source: str) -> dict:
    if value is None and not spec.required:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a dict, got {value!r} ({source})" if value is not None
                          else f"config has no {name!r} (needed by the trainer; {source})")
    more = spec.more(cfg) if spec.more is not None else set()
    if more is not None:
        allowed = set(spec.keys) | more
        for key in value:
            if key not in allowed:
                raise ConfigError(unknown_key_message(f"{name}.{key}", key, allowed, f"{name} has no key {key!r}",
                                                      source))
    for key, key_spec in spec.keys.items():
        value[key] = _checked(f"{name}.{key}", value[key] if key in value else key_spec.default, key_spec, source)
    return value
