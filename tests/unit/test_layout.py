"""The house rule: data flows io -> features -> expressions -> neural -> report.

A room imports only rooms to its left; nothing imports compute, prepare, pipeline or cli; synth is
imported only by tests, pipeline and cli.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mouseface"
ORDER = ["io", "features", "expressions", "neural", "report"]
TOP = {"compute", "prepare", "pipeline", "cli"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.split(".")[1] for n in names if n.startswith("mouseface.") and n.count(".") >= 1}


ROOM_FILES = [p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] in ORDER]


@pytest.mark.parametrize("path", ROOM_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_rooms_import_only_to_their_left(path):
    room = path.relative_to(SRC).parts[0]
    allowed = set(ORDER[: ORDER.index(room) + 1]) | {"_errors", "_atomic", "_progress",
                                                       "config"}
    bad = _imports(path) - allowed
    assert not bad, f"{path.relative_to(SRC)} imports {sorted(bad)}"


def test_nothing_imports_the_top_layers_or_synth():
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        top = rel.parts[0].removesuffix(".py")
        if top in TOP:
            continue
        used = _imports(path)
        assert not (used & TOP), f"{rel} imports {sorted(used & TOP)}"
        if top != "synth":
            assert "synth" not in used, f"{rel} imports synth"
