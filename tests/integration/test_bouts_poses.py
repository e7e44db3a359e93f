"""`mouseface bouts --poses`: freezing and escape from a pose file of a freely moving mouse,
no video; the synthetic open-field sessions' true bouts are recovered."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cli_error
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.expressions.bouts import BOUT_COLUMNS, detection_scores, match_bouts
from mouseface.synth.poses import body_pose_session

runner = CliRunner()
SEEDS = (0, 1, 2, 3)


def _dlc_file(tmp_path, seed, *, multi=False, likelihood=1.0):
    from movement.io import save_poses

    b = body_pose_session(seed)
    b.likelihood = b.likelihood * likelihood
    ds = b.to_movement()
    if multi:
        import xarray as xr

        other = ds.assign_coords(individuals=["other"])
        ds = xr.concat([ds, other], dim="individuals")
    f = tmp_path / f"open_field_{seed}{'_multi' if multi else ''}_{likelihood:g}.h5"
    save_poses.to_dlc_file(ds, f, split_individuals=False)
    return f, b


def test_synthetic_bouts_recovered(tmp_path):
    found, truth = [], []
    for seed in SEEDS:
        f, b = _dlc_file(tmp_path, seed)
        out = tmp_path / f"bouts_{seed}"
        r = runner.invoke(app, ["bouts", "--poses", str(f), "--fps", "30", "--out", str(out)])
        assert r.exit_code == 0, r.output
        assert "freezing" in r.output and str(out / "bouts.tsv") in r.output
        got = pd.read_csv(out / "bouts.tsv", sep="\t")
        assert list(got.columns) == BOUT_COLUMNS          # today's bouts.tsv
        assert (got["session"] == f.stem).all() and (got["animal"] == "mouse").all()
        assert set(got["trial_type"]) <= {"passive_fear", "active_fear"}
        assert (out / "bouts.png").is_file() and (out / "thresholds.csv").is_file()
        summary = json.loads((out / "bouts_summary.json").read_text())
        assert summary["cleaning"]["below_threshold"] > 0      # the tracker lost points
        found.append(got.assign(session=str(seed)))
        print(f"seed {seed}:", got[["onset", "duration", "trial_type"]].values.tolist())
        truth.append(b.bouts.assign(session=str(seed)))
    matched = match_bouts(pd.concat(found), pd.concat(truth))
    scores = detection_scores(matched).set_index("trial_type")
    assert (scores["f1"] >= 0.95).all(), scores
    assert scores["true"].sum() == 6 * len(SEEDS)
    err = (matched["onset"] - matched["true_onset"]).abs().dropna()
    assert err.max() <= 0.3, matched


def test_pose_bouts_errors(tmp_path):
    f, _ = _dlc_file(tmp_path, 0)
    # a DeepLabCut file has no frame rate
    r = runner.invoke(app, ["bouts", "--poses", str(f), "--out", str(tmp_path / "o")])
    cli_error(r, str(f), "give --fps")
    bad = tmp_path / "poses.json"
    bad.write_text("{}")
    r = runner.invoke(app, ["bouts", "--poses", str(bad), "--fps", "30", "--out",
                            str(tmp_path / "o")])
    cli_error(r, str(bad), "unknown pose format")
    multi, _ = _dlc_file(tmp_path, 1, multi=True)
    r = runner.invoke(app, ["bouts", "--poses", str(multi), "--fps", "30", "--out",
                            str(tmp_path / "o")])
    cli_error(r, "2 individuals (mouse, other)", "--individual")
    r = runner.invoke(app, ["bouts", "--poses", str(multi), "--fps", "30", "--individual",
                            "other", "--out", str(tmp_path / "o2")])
    assert r.exit_code == 0, r.output
    dim, _ = _dlc_file(tmp_path, 0, likelihood=0.5)
    r = runner.invoke(app, ["bouts", "--poses", str(dim), "--fps", "30", "--out",
                            str(tmp_path / "o3")])
    cli_error(r, str(dim), "every point is below the likelihood threshold 0.6 (the highest is "
              "0.5)")
    assert not (tmp_path / "o3").exists()
    # nothing already written is lost when a later call fails
    before = (tmp_path / "o2" / "bouts.tsv").read_bytes()
    r = runner.invoke(app, ["bouts", "--poses", str(bad), "--fps", "30", "--out",
                            str(tmp_path / "o2")])
    assert r.exit_code == 2 and (tmp_path / "o2" / "bouts.tsv").read_bytes() == before


def test_given_thresholds(tmp_path):
    """Absolute thresholds (px/s) replace the data-driven ones: an impossible freezing
    threshold finds no freezing, and the thresholds table says so."""
    f, _ = _dlc_file(tmp_path, 2)
    out = tmp_path / "o"
    r = runner.invoke(app, ["bouts", "--poses", str(f), "--fps", "30", "--freeze-threshold",
                            "motion_parts=0.001", "--out", str(out)])
    assert r.exit_code == 0, r.output
    got = pd.read_csv(out / "bouts.tsv", sep="\t")
    assert (got["trial_type"] == "passive_fear").sum() == 0
    thr = pd.read_csv(out / "thresholds.csv").set_index("measure")
    assert thr.loc["motion_parts", "freeze_threshold"] == pytest.approx(0.001)
    assert np.isfinite(thr.loc["speed", "escape_threshold"])


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """A run of one synthetic animal (pain trials): a results folder with one session."""
    from mouseface.synth import simulate_experiment
    from mouseface.workflows import pipeline

    d = tmp_path_factory.mktemp("poses_run")
    exp = simulate_experiment(d / "exp", n_animals=1, conditions=("pain",), n_trials=3,
                              size=(64, 64), seed=5, baseline_s=6.0, iti_s=40.0)
    out = pipeline.run(exp.sessions_path, exp.events_path, d / "results", quiet=True)
    return out, exp


def _poses_for(tmp_path, n, name, seed=4):
    """Open-field poses cut to ``n`` frames (the session's), as a DeepLabCut .h5."""
    from movement.io import save_poses

    b = body_pose_session(seed)
    b.position, b.likelihood = b.position[:n], b.likelihood[:n]
    f = tmp_path / f"{name}.h5"
    save_poses.to_dlc_file(b.to_movement(), f, split_individuals=False)
    return f, b


def test_bouts_of_a_results_folder_become_events(results, tmp_path):
    out, exp = results
    frames = pd.read_parquet(out / "frames.parquet")
    session = str(frames["session"].iloc[0])
    n = int((frames["session"] == session).sum())
    f, b = _poses_for(tmp_path, n, session)
    r = runner.invoke(app, ["bouts", str(out), "--poses", str(f), "--fps", "20", "--context",
                            "pain"])
    assert r.exit_code == 0, r.output
    assert "events with the bouts" in r.output
    got = pd.read_csv(out / "behaviour" / "bouts.tsv", sep="\t")
    assert list(got.columns) == BOUT_COLUMNS and (got["session"] == session).all()
    ev = pd.read_csv(out / "behaviour" / "events.tsv", sep="\t")
    assert (ev["trial_type"] == "pain").sum() == 3              # the run's events are kept
    assert len(ev) == 3 + len(got)
    # only in the context (from the first pain onset), never inside a stimulus window
    first = float(exp.events["onset"].min())
    assert (got["onset"] >= first).all()
    summary = json.loads((out / "behaviour" / "bouts_summary.json").read_text())
    assert summary["session"] == session and summary["next"].startswith("mouseface run")
    # a pose file of another length, and one of no session
    (tmp_path / "short").mkdir()
    g, _ = _poses_for(tmp_path / "short", n - 1, session)
    r = runner.invoke(app, ["bouts", str(out), "--poses", str(g), "--fps", "20", "--context",
                            "pain"])
    cli_error(r, str(g), f"the poses have {n - 1} frames, the video (session {session}) {n}")
    h, _ = _poses_for(tmp_path, n, "elsewhere")
    r = runner.invoke(app, ["bouts", str(out), "--poses", str(h), "--fps", "20"])
    cli_error(r, str(h), "which session are the poses of? give --session", session)
