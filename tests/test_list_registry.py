"""tools/list_registry.py: every registry, scope walt, its members with one-line descriptions."""
import json
from pathlib import Path

from registry import ALL_REGISTRIES, registered_names

from tool_loader import load_tool

list_registry = load_tool("list_registry")


def test_json_lists_every_registry_with_scope_walt_and_all_members(capsys):
    assert list_registry.main(["--json"]) == 0
    captured = capsys.readouterr()
    listing = json.loads(captured.out)
    assert list(listing) == list(ALL_REGISTRIES)
    assert {info["scope"] for info in listing.values()} == {"walt"}
    for name, registry in ALL_REGISTRIES.items():
        assert sorted(listing[name]["members"]) == registered_names(registry)
    assert listing["optimizer"]["members"]["AdamW"].startswith("LAVITA §4.1 and W.A.L.T Table 8")
    assert all("\n" not in doc for info in listing.values() for doc in info["members"].values())
    total = sum(len(info["members"]) for info in listing.values())
    assert captured.err.strip() == f"{len(ALL_REGISTRIES)} registries, {total} members"


def test_text_listing_ends_with_a_summary_line(capsys):
    assert list_registry.main([]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{next(iter(ALL_REGISTRIES))} (scope walt, ")
    assert lines[-1].endswith("members") and f"{len(ALL_REGISTRIES)} registries" in lines[-1]
    assert any(line.split()[0] == "Adafactor" for line in lines)


def test_each_member_is_listed_with_the_file_and_line_of_its_definition(capsys):
    """--json gives ``file:line`` per member, and that line of that file defines it (its decorator or its ``class``
    line); the text listing prints the same location beside the member."""
    assert list_registry.main(["--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    root = Path(list_registry.__file__).resolve().parents[1]
    for name, registry in ALL_REGISTRIES.items():
        assert sorted(listing[name]["locations"]) == registered_names(registry)
        for member, where in listing[name]["locations"].items():
            path, line = where.rsplit(":", 1)
            source = (root / path).read_text().splitlines()
            cls = registry.get(member)
            definition = source[int(line) - 1:int(line) + 3]  # the decorator, then the class line
            assert any(text.startswith(f"class {cls.__name__}") for text in definition), (member, where)
    assert listing["backbone"]["locations"]["WALT"].startswith("walt/models/backbones/walt.py:")
    assert list_registry.main([]) == 0
    text = capsys.readouterr().out
    walt_line = next(line for line in text.splitlines() if line.split()[:1] == ["WALT"])
    assert walt_line.split()[1] == listing["backbone"]["locations"]["WALT"]
