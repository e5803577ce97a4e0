"""Load a script from ``tools/`` or ``benchmarks/`` as a module, so tests call its ``main`` and helpers in-process."""
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def _load(folder: str, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_{folder}_{name}", REPO / folder / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def load_tool(name: str) -> ModuleType:
    """``tools/<name>.py`` as a fresh module (tools import only walt, never each other)."""
    return _load("tools", name)


def load_benchmark(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` as a fresh module; its folder goes on ``sys.path``, as when the script runs (the
    benchmarks import ``harness`` and each other)."""
    if str(REPO / "benchmarks") not in sys.path:
        sys.path.insert(0, str(REPO / "benchmarks"))
    return _load("benchmarks", name)
