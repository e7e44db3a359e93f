"""What a user installs and reads: the wheel built from the tracked files, and the docs site.

Both are built the way CI and a user build them; a broken link, a page left out of the site or a
template missing from the wheel fails here rather than on a user's machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _tracked_copy(dest: Path) -> Path:
    """The repository as a clean clone has it: tracked files only (no egg-info, no build/)."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from the tracked files")
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=REPO, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = REPO / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))
    return dest


def test_the_wheel_installs_and_runs_with_its_templates(tmp_path):
    pytest.importorskip("build", reason="the test extra installs `build`")
    clone = _tracked_copy(tmp_path / "clone")
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                    str(tmp_path / "dist")], cwd=clone, check=True, capture_output=True)
    (wheel,) = (tmp_path / "dist").glob("mouseface-*.whl")
    # a fresh environment that borrows the dependencies already installed here, so only the wheel
    # itself is new: its own files, its entry points and its package data are what is tested
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
                   check=True, capture_output=True)
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    probe = subprocess.run([python, "-c", (
        "import mouseface, importlib.metadata as m, importlib.resources as r;"
        "print(mouseface.__file__);"
        "print(m.version('mouseface'));"
        "t = r.files('mouseface.report').joinpath('templates');"
        "print(sorted(p.name for p in t.iterdir()));"
        "print(r.files('mouseface.napari').joinpath('napari.yaml').is_file())")],
        cwd=tmp_path, env=clean, capture_output=True, text=True, check=True).stdout.splitlines()
    assert Path(probe[0]).is_relative_to(env_dir), probe[0]
    assert probe[1] == subprocess.run([sys.executable, "-c", "import importlib.metadata as m;"
                                       "print(m.version('mouseface'))"],
                                      capture_output=True, text=True).stdout.strip()
    assert "'report.html.j2'" in probe[2]
    assert probe[3] == "True"
    cli = subprocess.run([env_dir / "bin" / "mouseface", "--version"], env=clean,
                         capture_output=True, text=True)
    assert cli.returncode == 0 and probe[1] in cli.stdout


def test_the_docs_site_builds_strict_with_every_command_on_it(tmp_path):
    pytest.importorskip("mkdocs", reason="the test extra installs mkdocs-material")
    pytest.importorskip("mkdocstrings", reason="the test extra installs mkdocstrings")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(REPO / "src"), os.environ.get("PYTHONPATH", "")]), "NO_MKDOCS_2_WARNING": "1"}
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir",
                           str(tmp_path / "site")], cwd=REPO, env=env, capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr, done.stderr[-3000:]
    commands = (tmp_path / "site" / "commands" / "index.html").read_text()
    from mouseface.cli._app import COMMAND_ORDER
    for name in COMMAND_ORDER:
        assert f"mouseface {name}" in commands, name
    # every page of docs/ is on the site's navigation (strict mode already fails on broken links)
    pages = {p.stem for p in (REPO / "docs").glob("*.md")}
    built = {p.parent.name for p in (tmp_path / "site").glob("*/index.html")}
    assert pages - {"index"} <= built
