"""The house rule: data flows io -> features -> expressions -> neural -> report, with
``workflows`` above the rooms and ``cli`` on top.

Every module of the package is checked, imports of the package root included:

- a library room (``io``, ``features``, ``expressions``, ``neural``, ``report``) imports only
  rooms to its left and the shared private modules (``_errors``, ``_atomic``, ``_progress``,
  ``_parallel``);
- ``synth`` and ``live`` are rooms beside the line: they use the library rooms, never
  ``workflows``, ``cli``, ``napari`` or each other;
- ``napari`` (the viewer plugin) and ``workflows`` may use every room but ``cli``; ``napari``
  never imports ``workflows``' private modules;
- no room imports the package root (``from mouseface import ...``): the version is passed in;
- the shared private modules import nothing of the package;
- the ground floor: ``settings`` (typed run settings) and ``runlog`` (what ``run.json``
  records) sit just above ``io`` (they use its table parser and results layout) and every
  other room may read them, so that ``run``, ``live`` and the viewer set up a session alike.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mouseface"
ORDER = ["io", "features", "expressions", "neural", "report"]
SHARED = {"_errors", "_atomic", "_progress", "_parallel"}
GROUND = {"settings", "runlog"}
ALLOWED = {room: set(ORDER[: i + 1]) | SHARED | GROUND for i, room in enumerate(ORDER)}
ALLOWED["io"] = {"io"} | SHARED  # below the ground floor: settings and runlog read io
ALLOWED["synth"] = set(ORDER) | SHARED | GROUND | {"synth"}
ALLOWED["live"] = set(ORDER) | SHARED | GROUND | {"live"}
ALLOWED["napari"] = set(ORDER) | SHARED | GROUND | {"napari", "workflows", "synth", "live"}
ALLOWED["workflows"] = set(ORDER) | SHARED | GROUND | {"workflows", "synth", "live", "<root>"}
ALLOWED["cli"] = set(ORDER) | SHARED | GROUND | {"cli", "<root>", "napari", "workflows", "synth",
                                                  "live"}
for name in SHARED:
    ALLOWED[name] = {name}
ALLOWED["settings"] = {"io"} | SHARED
ALLOWED["runlog"] = {"io", "settings"} | SHARED
ALLOWED["__init__"] = {"_errors", "features", "io"}


def _imports(path: Path) -> set[str]:
    """The top-level rooms a module imports (``<root>`` for the package itself)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "mouseface":
                names.add("mouseface.<root>")
            else:
                names.add(node.module)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            raise AssertionError(f"{path}: relative import; use absolute imports")
    return {n.split(".")[1] for n in names if n.startswith("mouseface.")} | (
        {"<root>"} if "mouseface" in names else set())


ALL_FILES = sorted(SRC.rglob("*.py"))


def _room(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_every_module_imports_only_what_its_room_may(path):
    room = _room(path)
    assert room in ALLOWED, f"{path.relative_to(SRC)}: a room the layering test does not know"
    bad = _imports(path) - ALLOWED[room] - {room}
    assert not bad, f"{path.relative_to(SRC)} ({room}) imports {sorted(bad)}"


def test_the_check_sees_a_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from mouseface import __version__\nimport mouseface.workflows.run\n")
    assert _imports(bad) == {"<root>", "workflows"}


def test_every_room_is_checked():
    rooms = {_room(p) for p in ALL_FILES}
    assert set(ORDER) | GROUND | {"workflows", "cli", "synth"} <= rooms
