"""The import layering of docs/architecture.md: walt/utils is the ground floor (imports nothing else of walt, nothing
heavy at import time); importing the models does not load the video decoders; tools never import each other."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in (tree.body if top_level_only else ast.walk(tree)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_utils_is_the_ground_floor():
    for path in (ROOT / "walt" / "utils").glob("*.py"):
        walt = {n for n in _imports(path) if n.split(".")[0] in ("walt", "registry")}
        heavy = {n for n in _imports(path, top_level_only=True) if n.split(".")[0] in ("torch", "numpy")}
        assert not walt and not heavy, f"{path.name} imports {sorted(walt | heavy)}"


def test_tools_import_only_walt_never_each_other():
    tools = {p.stem for p in (ROOT / "tools").glob("*.py")}
    for path in (ROOT / "tools").glob("*.py"):
        source = path.read_text()
        assert "sys.path" not in source, f"tools/{path.name} edits sys.path"
        assert not {n.split(".")[0] for n in _imports(path)} & (tools | {"tools"}), f"tools/{path.name}"


def test_importing_the_models_loads_neither_decord_nor_pyav():
    code = ("import walt.models, walt.models.backbones.walt, walt.models.backbones.lavita, "
            "walt.models.generative.latent_diffusion")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    loaded = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if "|" in line}
    assert "walt.models.generative.latent_diffusion" in loaded
    assert not {"decord", "av"} & loaded
