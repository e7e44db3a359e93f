"""One install vocabulary: the line an error prints for a missing extra installs that extra."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from mouseface._errors import EXTRAS, install_hint

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]


def _requirement_names(specs: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\s]", spec, maxsplit=1)[0].lower() for spec in specs}


@pytest.mark.parametrize("extra", sorted(EXTRAS))
def test_the_hint_installs_what_the_extra_lists(extra):
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]
    hint = install_hint(extra)
    assert hint.startswith("pip install ")
    named = _requirement_names(hint.removeprefix("pip install ").replace('"', "").split())
    assert named == _requirement_names(extras[extra])


def test_no_file_of_the_project_says_an_install_line_a_clone_cannot_run():
    # "mouseface[extra]" resolves only from a package index; mouseface is installed from a clone
    pattern = re.compile(r"""pip install ['"]?mouseface\[""")
    places = [p for root in ("src", "docs") for p in (REPO / root).rglob("*")
              if p.suffix in {".py", ".md"}] + [REPO / "README.md"]
    offenders = [str(p.relative_to(REPO)) for p in places if pattern.search(p.read_text())]
    assert offenders == []
