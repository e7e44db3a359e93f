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
    jobs = pickle.dumps([(Path.write_text, (target, "figure"))])
    out = io.BytesIO()
    _beside(str(tmp_path), io.BytesIO(jobs + b"stopped"), out)
    assert target.read_text() == "figure"
    assert out.getvalue() == b""  # no analyses: the demo stopped


def test_an_early_job_that_fails_reaches_the_demo(tmp_path):
    out = io.BytesIO()
    _beside(str(tmp_path), io.BytesIO(pickle.dumps([(_fail, ("no figure",))]) + b"go"), out)
    status, (exc, text) = pickle.loads(out.getvalue())
    assert status == "error" and isinstance(exc, ValueError) and "no figure" in text
