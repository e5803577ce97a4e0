#!/usr/bin/env python
"""List every walt registry, its members, where each is defined (``file:line``, relative to the repository or, for a
member from an installed package, to its ``site-packages``) and its one-line description (first docstring line).

examples:
  python tools/list_registry.py
  python tools/list_registry.py --json > registries.json
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import json
import sys
from pathlib import Path

from registry import ALL_REGISTRIES, registered_names

REPO = Path(__file__).resolve().parents[1]


def describe() -> dict[str, dict]:
    """``{registry name: {"scope": ..., "members": {member: one-line description},
    "locations": {member: "file:line"}}}``."""
    out = {}
    for name, registry in ALL_REGISTRIES.items():
        members, locations = {}, {}
        for member in registered_names(registry):
            obj = registry.get(member)
            members[member] = _one_line((obj.__doc__ or "").strip())
            locations[member] = location(obj)
        out[name] = dict(scope=registry.scope, members=members, locations=locations)
    return out


def location(obj: object) -> str:
    """``file:line`` of the definition of ``obj``: the file relative to the repository, or to the folder holding its
    top-level package (an installed package's member, e.g. ``torch/optim/adamw.py``)."""
    path = Path(inspect.getsourcefile(obj)).resolve()
    line = inspect.getsourcelines(obj)[1]
    root = REPO
    if not path.is_relative_to(REPO):
        top = Path(inspect.getfile(importlib.import_module(obj.__module__.split(".")[0]))).resolve()
        root = top.parents[1] if top.name == "__init__.py" else top.parent
    return f"{path.relative_to(root).as_posix()}:{line}"


def _one_line(doc: str, width: int = 160) -> str:
    """The docstring's first paragraph on one line, shortened to ``width`` characters."""
    text = " ".join(doc.split("\n\n")[0].split())
    return text if len(text) <= width else text[: width - 1] + "…"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print JSON on stdout (summary line goes to stderr)")
    args = parser.parse_args(argv)
    registries = describe()
    if args.json:
        print(json.dumps(registries, indent=2))
    else:
        for name, info in registries.items():
            print(f"{name} (scope {info['scope']}, {len(info['members'])} members)")
            width = max((len(m) for m in info["members"]), default=0)
            where = max((len(w) for w in info["locations"].values()), default=0)
            for member, doc in info["members"].items():
                print(f"  {member:<{width}}  {info['locations'][member]:<{where}}  {doc}")
    total = sum(len(info["members"]) for info in registries.values())
    print(f"{len(registries)} registries, {total} members", file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
