"""What every public-weights converter shares: the converted-tensor record, the per-block rows of stacked
conditioning tensors, and :func:`assemble`, which fits converted tensors onto a walt backbone with shape checks.

A converter maps a foreign state dict to walt backbone keys. A walt conditioning stacks one row per built block
(``conditioning.weight (L, 6D, D)`` of S-AdaLN, ``conditioning.table (L, 6, D)`` of adaLN-single, layer ``l`` = the
``l``-th key of ``backbone.blocks``), so a converter names a row by its block: ``conditioning.weight[3]`` is block
``3``'s row. Nothing is loaded silently: every model tensor ends up *loaded* or *fresh* (left at its
initialization), every source tensor *used* or *unused* with a reason, and a shape that differs is a
:class:`LayoutError` naming the key and both shapes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

_ROW = re.compile(r"^(?P<name>.+)\[(?P<block>[^\]]+)\]$")


class LayoutError(ValueError):
    """A checkpoint whose layout does not fit the model (variant, patch size, channels, frames, resolution ...)."""


def row(name: str, block: str | int) -> str:
    """The key of block ``block``'s row of the stacked tensor ``name``."""
    return f"{name}[{block}]"


def shape(t: Tensor | tuple) -> str:
    return str(tuple(t.shape) if isinstance(t, Tensor) else tuple(t))


@dataclass
class Converted:
    """Tensors under walt keys (rows as ``name[block]``), the source key of each (for messages), the source keys
    not used with the reason, and notes (e.g. a fixed table checked and dropped)."""

    tensors: dict[str, Tensor] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    unused: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, key: str, value: Tensor, source: str) -> None:
        self.tensors[key] = value
        self.sources[key] = source


@dataclass
class LoadReport:
    """What loading did: model keys loaded and left fresh, source keys unused (with reasons), notes."""

    fmt: str
    loaded: list[str]
    fresh: list[str]
    unused: dict[str, str]
    notes: list[str]

    def lines(self, limit: int = 12) -> list[str]:
        """Human-readable summary lines (long lists shortened)."""
        def short(keys: list[str]) -> str:
            return ", ".join(keys[:limit]) + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")
        out = [f"{self.fmt} weights: {len(self.loaded)} tensors loaded"]
        if self.fresh:
            out.append(f"left at initialization (not in the checkpoint): {short(self.fresh)}")
        reasons: dict[str, list[str]] = {}
        for key, reason in self.unused.items():
            reasons.setdefault(reason, []).append(key)
        out += [f"unused checkpoint keys ({reason}): {short(keys)}" for reason, keys in reasons.items()]
        return out + self.notes


def assemble(model: nn.Module, converted: Converted, fmt: str) -> tuple[dict[str, Tensor], LoadReport]:
    """The model's state dict with the converted tensors in place, and the report. Row keys fill one layer of a
    stacked conditioning tensor; rows and keys of blocks this model does not build are reported unused."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layers = {key: i for i, key in enumerate(getattr(model, "blocks", {}))}
    filled: dict[str, set[int]] = {}
    loaded, unused = [], dict(converted.unused)
    for key, value in converted.tensors.items():
        source = converted.sources.get(key, key)
        match = _ROW.match(key)
        name, layer = (match["name"], layers.get(match["block"])) if match else (key, None)
        if name not in state or (match and layer is None):
            unused[source] = "not in this model"
            continue
        target = state[name][layer] if match else state[name]
        if value.shape != target.shape:
            raise LayoutError(f"{source} has shape {shape(value)} in the checkpoint, but the model's {key} has shape "
                              f"{shape(target)}")
        with torch.no_grad():
            target.copy_(value)
        if match:
            filled.setdefault(name, set()).add(layer)
        else:
            loaded.append(key)
    fresh, params = [], {name for name, _ in model.named_parameters()}
    for name in state:
        if name in filled:
            rows = filled[name]
            if len(rows) == state[name].shape[0]:
                loaded.append(name)
            else:
                fresh += [row(name, b) for b, i in layers.items() if i not in rows]
        elif name not in loaded and name in params:
            fresh.append(name)
    return state, LoadReport(fmt, loaded, fresh, unused, list(converted.notes))
