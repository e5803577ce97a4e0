#!/usr/bin/env python
"""List every walt registry, its members and each member's one-line description (first docstring line).

examples:
  python tools/list_registry.py
  python tools/list_registry.py --json > registries.json
"""
from __future__ import annotations

import argparse
import json
import sys

from registry import ALL_REGISTRIES, registered_names


def describe() -> dict[str, dict]:
    """``{registry name: {"scope": ..., "members": {member: one-line description}}}``."""
    out = {}
    for name, registry in ALL_REGISTRIES.items():
        members = {}
        for member in registered_names(registry):
            members[member] = _one_line((registry.get(member).__doc__ or "").strip())
        out[name] = dict(scope=registry.scope, members=members)
    return out


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
            for member, doc in info["members"].items():
                print(f"  {member:<{width}}  {doc}")
    total = sum(len(info["members"]) for info in registries.values())
    print(f"{len(registries)} registries, {total} members", file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
