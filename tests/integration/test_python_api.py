"""The Python door: ``mouseface.run/fit/score`` on DataFrames, the same functions the CLI calls.

A small synthetic experiment (two animals, pain and pleasure sessions) goes through the command
line and through ``mouseface.run`` with DataFrames and a config dict; the results must be the
same files. ``import mouseface`` must not load the heavy rooms.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import mouseface
from mouseface.cli import app

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"hog": {"pixels_per_cell": 16}, "prototypes": {"n_frames": 5}}
CONFIG_TOML = "[hog]\npixels_per_cell = 16\n\n[prototypes]\nn_frames = 5\n"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from mouseface.synth import simulate_experiment

    exp = simulate_experiment(tmp_path_factory.mktemp("api") / "data", n_animals=2,
                              conditions=("pain", "pleasure"), n_trials=2, size=(96, 96),
                              seed=1)
    sessions = exp.sessions.assign(video=[str(exp.out / v) for v in exp.sessions["video"]])
    return exp, sessions, exp.events


def test_import_is_light_and_lazy():
    code = ("import sys, mouseface\n"
            "heavy = ['numba', 'numpy', 'pandas', 'sklearn', 'scipy', 'zarr', 'av', 'pydantic',"
            " 'typer', 'matplotlib', 'mouseface.features', 'mouseface.expressions',"
            " 'mouseface.workflows', 'mouseface.io', 'mouseface.live', 'mouseface.settings']\n"
            "print(sorted(m for m in heavy if m in sys.modules))\n"
            "mouseface.PrototypeModel\n"
            "print('sklearn' in sys.modules, 'numba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "[]"
    # a name loads its room on first use, and only what that room needs
    assert out[1] == "True False"


def test_names_version_and_signatures():
    from mouseface.io.results import Results, load_results
    from mouseface.workflows import pipeline

    assert mouseface.__version__ == importlib.metadata.version("mouseface")
    assert mouseface.run is pipeline.run
    assert mouseface.fit is pipeline.fit and mouseface.score is pipeline.score
    assert mouseface.load_results is load_results and mouseface.Results is Results
    assert list(inspect.signature(mouseface.run).parameters)[:4] == ["sessions", "events", "out",
                                                                     "config"]
    assert set(mouseface.__all__) <= set(dir(mouseface))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        mouseface.nothing  # noqa: B018


def test_config_dict_is_validated_like_the_file(tiny):
    _, sessions, events = tiny
    with pytest.raises(mouseface.InputError, match=r"^config: hog\.orientation: unknown key$"):
        mouseface.run(sessions, events, config={"hog": {"orientation": 8}})
    with pytest.raises(mouseface.InputError, match=r"hog\.orientations: Input should be"):
        mouseface.run(sessions, events, config={"hog": {"orientations": 0}})


def test_a_bad_dataframe_is_named_in_the_error(tiny, tmp_path):
    _, sessions, events = tiny
    with pytest.raises(mouseface.InputError, match="^sessions DataFrame: row 2: video not "
                                                   "found"):
        mouseface.run(sessions.assign(video="nowhere.mp4"), events, out=tmp_path / "r")
    with pytest.raises(mouseface.InputError, match="^events DataFrame: .*onset"):
        mouseface.run(sessions, events.drop(columns="onset"), out=tmp_path / "r")
    assert not (tmp_path / "r" / "trials.csv").exists()


def test_run_on_dataframes_equals_the_command_line(tiny, tmp_path, monkeypatch):
    exp, sessions, events = tiny
    config = tmp_path / "config.toml"
    config.write_text(CONFIG_TOML)
    cli = tmp_path / "cli"
    result = CliRunner().invoke(app, ["run", str(exp.sessions_path), str(exp.events_path),
                                      "--out", str(cli), "--config", str(config), "-q",
                                      "--no-report"])
    assert result.exit_code == 0, result.output

    monkeypatch.chdir(tmp_path)  # out=None: ./mouseface-results
    res = mouseface.run(sessions, events, config=CONFIG, quiet=True, report=False)
    assert isinstance(res, mouseface.Results)
    assert res.path == Path("mouseface-results")
    assert Path(res / "trials.csv").read_bytes() == (cli / "trials.csv").read_bytes()
    from_cli = mouseface.load_results(cli)
    pd.testing.assert_frame_equal(res.trials, from_cli.trials, check_dtype=False,
                                  check_exact=True)
    pd.testing.assert_frame_equal(res.frames, from_cli.frames, check_exact=True)
    assert len(res.trials) == len(events) and res.trials["score_pain"].notna().all()
    # the DataFrames are recorded as such (their rows and a fingerprint of their content)
    inputs = json.loads((res / "run.json").read_text())["inputs"]
    tables = {i["kind"]: i for i in inputs if i.get("kind") in ("sessions", "events")}
    assert tables["sessions"]["source"] == "DataFrame" and tables["sessions"]["rows"] == 4
    assert tables["events"]["rows"] == len(events) and tables["events"]["fingerprint"]


def test_fit_then_score_on_dataframes(tiny, tmp_path):
    _, sessions, events = tiny
    train = sessions[sessions["animal"] == "m01"]
    model = mouseface.fit(train, events[events["session"].isin(train["session"])],
                          out=tmp_path / "model", config=CONFIG, quiet=True)
    assert model.model["mode"] == "transfer"
    assert list(model.prototypes) == ["neutral", "pain", "pleasure"]
    test = sessions[sessions["animal"] == "m02"]
    scored = mouseface.score(model, test, events[events["session"].isin(test["session"])],
                             out=tmp_path / "scored", quiet=True, report=False)
    t = scored.trials
    assert set(t["session"]) == set(test["session"])
    # the held-out animal's trials score highest on their own condition's prototype
    own = t.apply(lambda r: r[f"score_{r.trial_type}"], axis=1)
    other = t.apply(lambda r: r["score_pleasure" if r.trial_type == "pain" else "score_pain"],
                    axis=1)
    assert (own > other).all(), t


def test_quickstart_runs_and_draws(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "quickstart.py"),
                           str(tmp_path / "qs")], capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr
    png = tmp_path / "qs" / "quickstart.png"
    assert done.stdout.strip().endswith(f"figure: {png}")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    trials = pd.read_csv(tmp_path / "qs" / "results" / "trials.csv")
    # ground truth: every trial scores higher on its own condition's prototype
    own = trials.apply(lambda r: r[f"score_{r.trial_type}"], axis=1)
    other = trials.apply(lambda r: r["score_pleasure" if r.trial_type == "pain"
                                     else "score_pain"], axis=1)
    assert (own > other).all(), trials
