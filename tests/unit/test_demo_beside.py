"""The demo's second process (``workflows.demo._beside``): the jobs handed over before the run,
then the analyses only on ``go``; an error goes back to the demo, pickled."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

from mouseface.workflows.demo import _beside


def _fail(message: str) -> None:
    raise ValueError(message)


def test_the_early_jobs_run_and_nothing_more_without_go(tmp_path):
    target = tmp_path / "drawn.txt"
    jobs = pickle.dumps(([(Path.write_text, (target, "figure"))], None, str(tmp_path)))
    out = io.BytesIO()
    _beside(str(tmp_path), io.BytesIO(jobs + b"stopped"), out)
    assert target.read_text() == "figure"
    assert out.getvalue() == b""  # no analyses: the demo stopped


def test_an_early_job_that_fails_reaches_the_demo(tmp_path):
    out = io.BytesIO()
    jobs = pickle.dumps(([(_fail, ("no figure",))], None, str(tmp_path)))
    _beside(str(tmp_path), io.BytesIO(jobs + b"go"), out)
    status, (exc, text) = pickle.loads(out.getvalue())
    assert status == "error" and isinstance(exc, ValueError) and "no figure" in text


def _faces(results: Path) -> Path:
    """A run's registration QC faces (one animal, two sessions) in ``results``."""
    import numpy as np

    from mouseface.io.layout import ResultsLayout
    from mouseface.workflows.register import save_qc_faces

    face = np.add.outer(np.arange(24.0), np.arange(24.0))
    layout = ResultsLayout(results)
    layout.registration.mkdir(parents=True, exist_ok=True)
    save_qc_faces(layout.registration_faces, [{
        "name": "qc_m01", "names": ["s1", "s2"], "before": np.stack([face, face.T]),
        "after": np.stack([face, face]), "template": face, "title": "animal m01"}])
    return layout.registration_faces


class _GoOnceDrawn:
    """``stdin`` that says ``go`` once the QC figure is on disk (or after 3000 looks)."""

    def __init__(self, figure: Path):
        self.figure = figure

    def read(self) -> bytes:
        import time

        for _ in range(3000):
            if self.figure.exists():
                break
            time.sleep(0.01)
        return b"go"


def test_the_qc_figures_are_drawn_once_the_run_wrote_their_faces(tmp_path):
    from mouseface.workflows.demo import _file_id, _while_running

    figure = tmp_path / "registration" / "qc_m01.png"
    stale = _file_id(_faces(tmp_path))  # an earlier run's: left alone
    go, drawn = _while_running(tmp_path, io.BytesIO(b"go"), stale)
    assert go and drawn is None and not figure.exists()
    _faces(tmp_path)  # the run writes them anew
    go, drawn = _while_running(tmp_path, _GoOnceDrawn(figure), stale)
    qc, caught = drawn
    assert go and list(qc) == ["qc_m01.png"] and caught == []
    assert figure.read_bytes() == qc["qc_m01.png"]
    assert _while_running(tmp_path, io.BytesIO(b""), None)[0] is False  # the demo stopped


def test_nothing_is_drawn_beside_once_the_demo_took_every_section(tmp_path):
    from mouseface.workflows.demo import BESIDE_SECTIONS, _claim, _draw_left

    for name in BESIDE_SECTIONS:
        assert _claim(tmp_path, name) and not _claim(tmp_path, name)
    assert _draw_left(None, tmp_path) == (None, [])


def test_kernels_compile_beside_only_where_fork_is_safe(monkeypatch):
    # on macOS a forked child of a process that loaded the system's frameworks may crash:
    # the demo then compiles the run's kernels in its own process (no children started)
    from mouseface.settings import Settings
    from mouseface.workflows import demo

    monkeypatch.setattr(demo.sys, "platform", "darwin")
    assert demo._compile_beside(Settings()) == []
