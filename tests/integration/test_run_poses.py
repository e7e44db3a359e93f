"""`mouseface run --poses`: facial action units beside the expression scores, on synthetic
sessions whose keypoints the face renderer drew (H.264 videos through PyAV), and one line for
each bad pose input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cli_error
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.expressions.windows import trial_frames
from mouseface.io import poses
from mouseface.io.layout import ResultsLayout

runner = CliRunner()

CONFIG = '[hog]\npixels_per_cell = [16, 16]\nblock_norm = "L1"\n[prototypes]\nbaseline = 2.0\n'


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """One animal, pain and disgust (2 trials each), keypoints written as Facemap files; the
    sessions table without its poses column and a poses table naming them instead."""
    from mouseface.synth import simulate_experiment

    d = tmp_path_factory.mktemp("run_poses")
    exp = simulate_experiment(d / "exp", n_animals=1, conditions=("pain", "disgust"),
                              n_trials=2, size=(96, 96), seed=2, keypoints=True, workers=1)
    plain = d / "exp" / "sessions_plain.csv"
    exp.sessions.drop(columns="poses").to_csv(plain, index=False)
    table = d / "exp" / "poses.csv"
    exp.sessions[["session", "poses"]].to_csv(table, index=False)
    cfg = d / "mouseface.toml"
    cfg.write_text(CONFIG)
    return d, exp, plain, table, cfg


@pytest.fixture(scope="module")
def results(experiment):
    """The run without poses, then again (features reused) with the poses table."""
    d, exp, plain, table, cfg = experiment
    out = d / "results"
    r = runner.invoke(app, ["run", str(plain), str(exp.events_path), "--out", str(out),
                            "--config", str(cfg), "-q", "--no-report"])
    assert r.exit_code == 0, r.output
    before = pd.read_parquet(out / "frames.parquet"), pd.read_csv(out / "trials.csv")
    r = runner.invoke(app, ["run", str(plain), str(exp.events_path), "--out", str(out),
                            "--config", str(cfg), "-q", "--poses", str(table)])
    assert r.exit_code == 0, r.output
    return out, before


def test_action_units_in_frames_and_trials(experiment, results):
    d, exp, _, _, _ = experiment
    out, (frames0, trials0) = results
    frames = pd.read_parquet(out / "frames.parquet")
    trials = pd.read_csv(out / "trials.csv")
    au = [c for c in frames.columns if c.startswith("au_")]
    assert au[:3] == ["au_eye_opening", "au_ear_angle", "au_ear_eye_distance"]
    assert [c for c in trials.columns if c.startswith("au_")] == au
    # everything else as without poses
    pd.testing.assert_frame_equal(frames.drop(columns=au), frames0)
    pd.testing.assert_frame_equal(trials.drop(columns=au), trials0)
    # every frame measured (5 % of points lost, gaps filled, the rest left NaN)
    assert frames["au_eye_opening"].notna().mean() > 0.9
    # against the animal's own neutral: its baseline frames sit at 1 (ratio) and 0
    base = frames[frames["window"] == "neutral"]
    assert base["au_eye_opening"].median() == pytest.approx(1.0, abs=0.02)
    assert abs(base["au_ear_angle"].median()) < 1.0
    # the known direction of each state (synth.states): pain narrows the eye, flattens the
    # ears back and bulges the nose; disgust opens the mouth and leaves the eye nearly open
    by = trials.groupby("trial_type")[au].mean()
    assert by.loc["pain", "au_eye_opening"] < -0.3 < by.loc["disgust", "au_eye_opening"]
    assert by.loc["pain", "au_ear_angle"] < -15
    assert by.loc["pain", "au_nose_bulge"] > 1.0
    assert by.loc["disgust", "au_mouth_opening"] > 2.0 > by.loc["pain", "au_mouth_opening"]
    # the trial score is the stimulus window's mean minus the baseline window's, as score_<p>
    ev = trials.iloc[0]
    f = frames[frames["session"] == ev["session"]].reset_index(drop=True)
    b, s = trial_frames(f["time"].to_numpy(), ev["onset"], ev["duration"], 2.0)
    x = f["au_ear_angle"].to_numpy(np.float64)
    assert ev["au_ear_angle"] == pytest.approx(np.nanmean(x[s]) - np.nanmean(x[b]), rel=1e-5)


def test_report_action_units_section(results):
    """The report shows each condition's change with its interval and the separation."""
    import re

    from mouseface.expressions.action_units import au_changes, au_separation

    out, _ = results
    html = (out / "report.html").read_text()
    assert '<section id="action-units">' in html and 'href="#action-units"' in html
    section = html.split('<section id="action-units">')[1].split("</section>")[0]
    assert section.count("<img") == 2 and "p (Kruskal–Wallis)" in section
    trials = pd.read_csv(out / "trials.csv")
    ch = au_changes(trials).set_index(["action_unit", "condition"])
    row = ch.loc[("eye_opening", "pain")]
    assert row["ci_high"] < 0  # pain narrows the eye: the interval excludes 0, in bold
    cell = f"{row['mean_change']:+.3g} [{row['ci_low']:+.3g}, {row['ci_high']:+.3g}]"
    assert re.search(r'class="num top">' + re.escape(cell), section)
    best = au_separation(trials).iloc[0]
    assert f">{best['action_unit']}</td>" in section.split("<tr>")[2]


def test_aligned_poses_written_and_recorded(experiment, results):
    d, exp, _, _, _ = experiment
    out, _ = results
    layout = ResultsLayout(out)
    assert layout.stored_poses() == sorted(exp.sessions["session"])
    frames = pd.read_parquet(out / "frames.parquet")
    s = "m01_pain"
    ds = poses.read_session_poses(layout.pose_file(s))
    f = frames[frames["session"] == s]
    np.testing.assert_array_equal(ds["frame"].values, f["frame"].to_numpy())
    np.testing.assert_allclose(ds["time"].values, f["time"].to_numpy())
    raw = poses.read_poses(d / "exp" / "keypoints" / f"{s}_FacemapPose.h5")
    clean, _ = poses.clean_poses(raw)
    np.testing.assert_array_equal(ds["position"].values, clean["position"].values)
    assert json.loads(ds.attrs["roles"])["eye_top"] == "eye_top"
    run = json.loads((out / "run.json").read_text())
    assert run["poses"]["animals"]["m01"]["units"]["au_eye_opening"] == "ratio"
    assert run["poses"]["sessions"][s]["cleaning"]["below_threshold"] > 0
    assert "action_units" in run["timings_s"]
    assert any(i.get("kind") == "poses" for i in run["inputs"])


def test_python_api_with_the_sessions_poses_column(experiment, results):
    """mouseface.run with the sessions table's poses column gives the same action units."""
    import mouseface

    d, exp, _, _, cfg = experiment
    out, _ = results
    key = ["session", "frame"]
    cli = pd.read_parquet(out / "frames.parquet").sort_values(key, ignore_index=True)
    res = mouseface.run(exp.sessions_path, exp.events_path, out, cfg, quiet=True, report=False)
    mem = res.frames.sort_values(key, ignore_index=True)
    au = [c for c in mem.columns if c.startswith("au_")]
    assert au and cli[au].equals(mem[au])
    by_dict = mouseface.run(exp.sessions_path.parent / "sessions_plain.csv", exp.events_path,
                            out, cfg, quiet=True, report=False,
                            poses=dict(zip(exp.sessions["session"],
                                           [str(d / "exp" / p) for p in exp.sessions["poses"]],
                                           strict=True)))
    pd.testing.assert_frame_equal(by_dict.trials, res.trials)


def test_bad_pose_inputs_one_line_each_before_the_pass(experiment, results, tmp_path):
    """Each bad pose input is refused with one line before any frame is decoded: a fresh
    results folder is not even left behind (nothing written: no features, no frames.parquet),
    and an earlier results folder is unchanged."""
    d, exp, plain, _, cfg = experiment
    out, _ = results
    before = (out / "frames.parquet").read_bytes()
    fresh = tmp_path / "fresh"
    src = d / "exp" / "keypoints" / "m01_pain_FacemapPose.h5"
    ds = poses.read_poses(src)
    xy, names = poses.position_array(ds)
    like = ds["confidence"].values[..., 0]

    def run_with(f, session="m01_pain", into=fresh):
        table = tmp_path / "poses.csv"
        pd.DataFrame({"session": [session], "poses": [str(f)]}).to_csv(table, index=False)
        r = runner.invoke(app, ["run", str(plain), str(exp.events_path), "--out", str(into),
                                "--config", str(cfg), "-q", "--no-report",
                                "--poses", str(table)])
        assert not fresh.exists()  # refused before the pass: nothing written, no folder
        return r

    # keypoint names that match no role
    body = poses.to_facemap_file(tmp_path / "body_FacemapPose.h5", xy[:, :3],
                                 ["snout", "tailbase", "paw"], like[:, :3])
    cli_error(run_with(body), str(body), "no action unit can be measured",
              "paw, snout, tailbase")
    # poses shorter and longer than the video: refused once the video is open
    n = len(xy)
    for m in (n - 5, n + 5):
        pad = np.concatenate([xy, xy[:5]])[:m]
        f = poses.to_facemap_file(tmp_path / f"cut{m}_FacemapPose.h5", pad, names,
                                  np.concatenate([like, like[:5]])[:m])
        cli_error(run_with(f), str(f), f"the poses have {m} frames, the video", str(n))
        # and into the earlier results folder (features there reused): the same line
        cli_error(run_with(f, into=out), str(f), f"the poses have {m} frames, the video")
    # every point below the likelihood threshold
    dim = poses.to_facemap_file(tmp_path / "dim_FacemapPose.h5", xy, names, like * 0.5)
    cli_error(run_with(dim), str(dim), "every point is below the likelihood threshold 0.6")
    # an unknown format
    bad = tmp_path / "face.npy"
    np.save(bad, np.zeros(3))
    cli_error(run_with(bad), str(bad), "unknown pose format: '.npy' files")
    # a session the sessions table lacks; a missing pose file
    r = run_with(src, session="m09_pain")
    cli_error(r, "poses.csv", "row 2", "session 'm09_pain' is not in the sessions table")
    r = run_with(tmp_path / "gone.h5")
    cli_error(r, "poses.csv", "row 2", "pose file not found")
    # one animal's two sessions with differently named keypoints
    other = poses.to_facemap_file(tmp_path / "other_FacemapPose.h5", xy, [
        "Eye_Top" if k == "eye_top" else k for k in names], like)
    table = tmp_path / "two.csv"
    pd.DataFrame({"session": ["m01_pain", "m01_disgust"],
                  "poses": [str(src), str(other)]}).to_csv(table, index=False)
    r = runner.invoke(app, ["run", str(plain), str(exp.events_path), "--out", str(fresh),
                            "--config", str(cfg), "-q", "--poses", str(table)])
    cli_error(r, str(other), "animal m01: its pose files name different keypoints")
    assert not fresh.exists()
    # both a poses column and a poses table
    r = runner.invoke(app, ["run", str(exp.sessions_path), str(exp.events_path), "--out",
                            str(out), "--config", str(cfg), "-q", "--poses",
                            str(tmp_path / "poses.csv")])
    cli_error(r, str(exp.sessions_path), "a poses column and a poses table")
    assert (out / "frames.parquet").read_bytes() == before


@pytest.fixture(scope="module")
def scored(experiment, results):
    """The run's folder as a model, scoring the same sessions with the poses table."""
    d, exp, plain, table, _ = experiment
    out, _ = results
    into = d / "scored"
    r = runner.invoke(app, ["score", str(out), str(plain), str(exp.events_path), "--out",
                            str(into), "-q", "--no-report", "--poses", str(table)])
    assert r.exit_code == 0, r.output
    return into


def test_score_with_poses_as_run(experiment, results, scored):
    """`score --poses` measures the action units as `run --poses` does: the same columns per
    frame and trial, the same poses/ and run.json record; on the same sessions and events
    the same values (the same functions, each animal against its own baseline frames)."""
    _, exp, _, _, _ = experiment
    out, _ = results
    key = ["session", "frame"]
    run_frames = pd.read_parquet(out / "frames.parquet").sort_values(key, ignore_index=True)
    frames = pd.read_parquet(scored / "frames.parquet").sort_values(key, ignore_index=True)
    au = [c for c in run_frames.columns if c.startswith("au_")]
    assert au and [c for c in frames.columns if c.startswith("au_")] == au
    trials = pd.read_csv(scored / "trials.csv")
    run_trials = pd.read_csv(out / "trials.csv")
    assert [c for c in trials.columns if c.startswith("au_")] == au
    # the neutral comes from the baseline frames less the flagged ones: the score's own pass
    # (registered onto the model's template) flags the same frames here, so the values are
    # the run's
    pd.testing.assert_series_equal(frames["flag"], run_frames["flag"])
    pd.testing.assert_frame_equal(frames[au], run_frames[au])
    pd.testing.assert_frame_equal(trials.sort_values("event", ignore_index=True)[au],
                                  run_trials.sort_values("event", ignore_index=True)[au])
    assert ResultsLayout(scored).stored_poses() == sorted(exp.sessions["session"])
    run = json.loads((scored / "run.json").read_text())
    assert run["command"] == "score"
    assert run["poses"]["animals"]["m01"]["units"]["au_eye_opening"] == "ratio"
    assert sum(i.get("kind") == "poses" for i in run["inputs"]) == len(exp.sessions)


def test_score_poses_need_events(experiment, results, tmp_path):
    """Without events there are no baseline frames to set action units against: one line,
    before the pass, nothing written."""
    _, exp, plain, table, _ = experiment
    out, _ = results
    r = runner.invoke(app, ["score", str(out), str(plain), "--out", str(tmp_path / "s"),
                            "-q", "--poses", str(table)])
    cli_error(r, str(table), "give the events table")
    assert not (tmp_path / "s").exists()


def test_movement_imported_only_with_poses(experiment, results, tmp_path):
    """A run without poses does not import movement (about 2 s); with poses it does. Counted
    in fresh processes (sys.modules), on a copy of the run's features (no pass)."""
    import ast
    import shutil
    import subprocess
    import sys

    _, exp, plain, table, cfg = experiment
    out, _ = results
    into = tmp_path / "copy"
    shutil.copytree(out / "features", ResultsLayout(into).features)
    script = ("import sys, mouseface\n"
              "mouseface.run(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], quiet=True, "
              "report=sys.argv[5] == 'report', poses=sys.argv[6] or None)\n"
              "print(sorted(m for m in sys.modules if m.split('.')[0] == 'movement'))\n")

    def loaded(poses_table: str, report: str) -> list[str]:
        r = subprocess.run([sys.executable, "-c", script, str(plain), str(exp.events_path),
                            str(into), str(cfg), report, poses_table],
                           capture_output=True, text=True, check=True)
        return ast.literal_eval(r.stdout.strip().splitlines()[-1])

    assert loaded("", "report") == []
    assert "movement.io" in loaded(str(table), "no-report")
