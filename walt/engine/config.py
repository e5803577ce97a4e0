"""Config loading: mmengine pure-Python configs with ``_base_`` inheritance, plus ``--cfg-options`` that

* refuse keys that do not exist (a typo would otherwise silently add a new, unused key), naming the key and the
  closest existing keys;
* let one option swap a component: ``model.backbone.attention.type=X`` replaces that whole dict by the keys given
  for it on the command line (``_delete_=True`` semantics), because mmengine would merge and keep the old type's
  keyword arguments, which the new type usually does not accept.

A new key is accepted under a component dict when the component's class takes it as a keyword argument (the
config only spells out what differs from the paper defaults, so valid keys are often absent from the file).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from mmengine.config import Config, ConfigDict
from mmengine.config.config import DictAction

from walt.engine.errors import ConfigError

__all__ = ["load_config", "parse_cfg_options", "apply_cfg_options", "default_work_dir", "unknown_key_message"]


def load_config(path: str | Path, cfg_options: list[str] | dict[str, Any] | None = None) -> Config:
    """Read the config at ``path`` (resolving ``_base_``) and apply ``cfg_options`` (``["a.b=1", ...]`` or a dict)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        cfg = Config.fromfile(str(path))
    except Exception as err:  # the user's file: syntax errors, missing _base_, failing custom imports
        raise ConfigError(f"cannot read config {path}: {type(err).__name__}: {err}") from err
    apply_cfg_options(cfg, parse_cfg_options(cfg_options))
    return cfg


def default_work_dir(cfg: Config) -> str:
    """``cfg.work_dir`` if set, else ``work_dirs/<config file name without .py>``."""
    if cfg.get("work_dir"):
        return str(cfg.work_dir)
    return str(Path("work_dirs") / Path(cfg.filename or "run").stem)


def parse_cfg_options(options: list[str] | dict[str, Any] | None) -> dict[str, Any]:
    """``["a.b=1", "c=(1,2)"]`` → ``{"a.b": 1, "c": (1, 2)}``, values parsed like mmengine's ``DictAction``."""
    if options is None:
        return {}
    if isinstance(options, dict):
        return dict(options)
    parsed: dict[str, Any] = {}
    for option in options:
        key, sep, value = option.partition("=")
        if not sep or not key:
            raise ConfigError(f"--cfg-options entry {option!r} is not of the form key=value")
        parsed[key.strip()] = DictAction._parse_iterable(value)
    return parsed


def apply_cfg_options(cfg: Config, options: dict[str, Any]) -> None:
    """Apply dotted-key ``options`` to ``cfg`` in place: component type swaps first, then checked merges."""
    swapped = _type_swaps(cfg, options)
    consumed: set[str] = set()
    for prefix in swapped:
        given = {key[len(prefix) + 1:]: value for key, value in options.items() if key.startswith(prefix + ".")}
        consumed.update(prefix + "." + key for key in given)
        _check_new_component_keys(prefix, given)
        _set(cfg, prefix, ConfigDict(_unflatten(given)))
    rest = {key: value for key, value in options.items() if key not in consumed}
    for key in rest:
        _check_key_exists(cfg, key)
    if rest:
        cfg.merge_from_dict(rest, allow_list_keys=True)


# ---------------------------------------------------------------------------------------------------------------
# type swaps
# ---------------------------------------------------------------------------------------------------------------

def _type_swaps(cfg: Config, options: dict[str, Any]) -> list[str]:
    """Dotted prefixes whose ``type`` the options change (outermost first; nested ones are rebuilt with them)."""
    prefixes = []
    for key, value in options.items():
        if not key.endswith(".type"):
            continue
        prefix = key[: -len(".type")]
        _check_key_exists(cfg, prefix, allow_none_leaf=True)
        current = _get(cfg, prefix, default=None)
        if current is None or not isinstance(current, dict) or current.get("type") != value:
            prefixes.append(prefix)
    prefixes.sort(key=lambda p: p.count("."))
    outermost: list[str] = []
    for prefix in prefixes:
        if not any(prefix.startswith(outer + ".") for outer in outermost):
            outermost.append(prefix)
    return outermost


def _check_new_component_keys(prefix: str, given: dict[str, Any]) -> None:
    accepted = component_kwargs(given["type"])
    if accepted is None:
        return
    for key in given:
        top = key.split(".")[0]
        if top != "type" and top not in accepted:
            raise ConfigError(unknown_key_message(f"{prefix}.{key}", top, accepted,
                                                  f"{given['type']} takes no argument {top!r}"))


def _unflatten(flat: dict[str, Any]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        node = nested
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return nested


# ---------------------------------------------------------------------------------------------------------------
# key checks
# ---------------------------------------------------------------------------------------------------------------

def _check_key_exists(cfg: Config, key: str, allow_none_leaf: bool = False) -> None:
    """Raise ``ConfigError`` naming ``key`` and close matches unless ``key`` exists in ``cfg`` (or is a keyword
    argument of the component dict it would be added to)."""
    parts = key.split(".")
    node: Any = cfg
    for depth, part in enumerate(parts):
        where = ".".join(parts[:depth]) or "the config"
        if isinstance(node, (dict, Config)):
            if part in node:
                node = node[part]
                continue
            is_last = depth == len(parts) - 1
            if is_last and "type" in node:
                accepted = component_kwargs(node["type"])
                if accepted is None or part in accepted:
                    return
                raise ConfigError(unknown_key_message(key, part, set(node.keys()) | accepted,
                                                      f"{where} has no key {part!r}"))
            raise ConfigError(unknown_key_message(key, part, set(node.keys()), f"{where} has no key {part!r}"))
        if isinstance(node, (list, tuple)):
            if part.lstrip("-").isdigit() and -len(node) <= int(part) < len(node):
                node = node[int(part)]
                continue
            raise ConfigError(f"unknown config key {key!r}: {where} is a list of length {len(node)}, "
                              f"{part!r} is not an index into it")
        if node is None and allow_none_leaf and depth == len(parts) - 1:
            return
        raise ConfigError(f"unknown config key {key!r}: {where} is {node!r}, not a dict")


def unknown_key_message(key: str, part: str, candidates: Iterable[str], what: str,
                        source: str = "--cfg-options") -> str:
    """``unknown config key 'a.b' in SOURCE: WHAT; did you mean ...?`` with the closest of ``candidates``."""
    from registry import close_matches

    return f"unknown config key {key!r} in {source}: {what}{close_matches(part, candidates)}"


def component_kwargs(type_name: Any) -> set[str] | None:
    """Keyword arguments of the registered class called ``type_name`` (``None``: accepts any, or unknown class)."""
    from registry import accepted_kwargs, find_class  # late: importing registry members pulls in the model packages

    cls = find_class(type_name) if isinstance(type_name, str) else None
    return None if cls is None else accepted_kwargs(cls)


# ---------------------------------------------------------------------------------------------------------------
# dotted access
# ---------------------------------------------------------------------------------------------------------------

_MISSING = object()


def _get(cfg: Config, key: str, default: Any = _MISSING) -> Any:
    node: Any = cfg
    try:
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, (list, tuple)) else node[part]
    except (KeyError, IndexError):
        if default is _MISSING:
            raise
        return default
    return node


def _set(cfg: Config, key: str, value: Any) -> None:
    *parents, last = key.split(".")
    node = _get(cfg, ".".join(parents)) if parents else cfg
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
