"""Load a script from ``tools/`` or ``benchmarks/`` as a module, so tests call its ``main`` and helpers in-process."""
import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _load(folder: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_{folder}_{name}", REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a fresh module (tools import only walt, never each other)."""
    return _load("tools", name)


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a fresh module."""
    return _load("benchmarks", name)
