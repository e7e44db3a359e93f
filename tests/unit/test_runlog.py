"""The run log: warnings of later steps join run.json once, and still reach the terminal."""

import json
import warnings

import pytest

from mouseface.runlog import append_warnings, logs_warnings


@logs_warnings("inner")
def _inner(results):
    warnings.warn("careful", stacklevel=1)
    return 1


@logs_warnings("outer")
def _outer(results):
    return _inner(results) + _inner(results)


def test_warnings_of_a_workflow_reach_run_json_once_and_the_caller(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"warnings": ["run: earlier"]}))
    with pytest.warns(UserWarning, match="careful") as caught:
        assert _outer(tmp_path) == 2
    assert len(caught) == 2  # both calls' warnings re-emitted, nothing multiplied
    assert json.loads((tmp_path / "run.json").read_text())["warnings"] == [
        "run: earlier", "outer: careful"]
    _outer(tmp_path)  # the same warning again: not added twice
    assert len(json.loads((tmp_path / "run.json").read_text())["warnings"]) == 2


def test_without_run_json_nothing_is_written(tmp_path):
    append_warnings(tmp_path, "neural", ["x"])
    assert not (tmp_path / "run.json").exists()
