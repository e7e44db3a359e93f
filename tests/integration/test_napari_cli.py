"""`mouseface view` and the plugin's npe2 manifest.

The messages without napari or without a display are checked everywhere; opening a real
viewer from the command line needs napari and a display (tests/fixtures/viewer.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from tests.helpers import cli_error
from typer.testing import CliRunner

from mouseface._errors import install_hint
from mouseface.cli import app

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[2]
MANIFEST = REPO / "src" / "mouseface" / "napari" / "napari.yaml"
runner = CliRunner()


def test_view_without_napari_says_what_to_install(monkeypatch, moving_video):
    monkeypatch.setitem(sys.modules, "napari", None)  # `import napari` now fails
    line = cli_error(runner.invoke(app, ["view", str(moving_video)]))
    assert install_hint("napari") in line
    assert install_hint("napari") in " ".join(
        runner.invoke(app, ["view", "--help"]).output.split())


def test_view_without_a_display_says_so(monkeypatch, moving_video):
    pytest.importorskip("napari", reason="napari is not installed (the napari extra)")
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    line = cli_error(runner.invoke(app, ["view", str(moving_video)]))
    assert "no display" in line and "xvfb-run" in line


@pytest.mark.napari
def test_view_opens_a_video_and_a_missing_path_is_one_line(make_napari_viewer, monkeypatch,
                                                          moving_video, tmp_path):
    make_napari_viewer  # noqa: B018  (the skips and the QApplication)
    import napari

    line = cli_error(runner.invoke(app, ["view", str(tmp_path / "nope.mp4")]))
    assert line == f"error: {tmp_path / 'nope.mp4'}: not found"
    assert napari.current_viewer() is None  # no window was opened for it

    monkeypatch.setattr(napari, "run", lambda *a, **k: None)  # do not block in Qt's loop
    result = runner.invoke(app, ["view", str(moving_video)])
    viewer = napari.current_viewer()
    try:
        assert result.exit_code == 0, result.output
        assert viewer.layers["video"].data.path == moving_video
        assert [layer.name for layer in viewer.layers] == ["video", "face ROI", "mask"]
        assert "mouseface: face ROI and masks" in viewer.window.dock_widgets
    finally:
        viewer.close()


def test_manifest_is_valid_and_registered():
    npe2 = pytest.importorskip("npe2", reason="npe2 comes with napari (the napari extra)")
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.name == "mouseface"
    # every command points at something importable
    import importlib

    for command in manifest.contributions.commands:
        module, _, attr = command.python_name.partition(":")
        assert callable(getattr(importlib.import_module(module), attr)), command.id
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["napari.manifest"]["mouseface"] == "mouseface.napari:napari.yaml"
    assert any(d.startswith("napari") for d in project["optional-dependencies"]["napari"])


def test_reader_takes_videos_and_results_folders(moving_video, tmp_path_factory):
    from tests.unit.report.video_results import shared_results

    from mouseface.napari._reader import get_reader
    from mouseface.napari.lazy import LazyVideo

    read = get_reader(str(moving_video))
    (data, meta, kind), = read(str(moving_video))
    assert kind == "image" and isinstance(data, LazyVideo) and meta["contrast_limits"] == [0, 255]
    assert data.reader.frames_out == 0  # nothing decoded until napari shows a frame
    results = shared_results(tmp_path_factory)
    layers = get_reader(str(results))(str(results))
    assert [kind for *_, kind in layers] == ["image", "shapes"]
    assert get_reader(str(results / "trials.csv")) is None
    assert get_reader(str(tmp_path_factory.mktemp("empty"))) is None
