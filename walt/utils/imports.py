"""Import every module of a component package, so that registering a new file needs no edit elsewhere."""
from __future__ import annotations

import importlib
import pkgutil
from typing import Iterable


def import_submodules(package: str, path: Iterable[str]) -> None:
    """Import all direct submodules of ``package`` (call from its ``__init__`` with ``__name__, __path__``)."""
    for info in pkgutil.iter_modules(path):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package}.{info.name}")
