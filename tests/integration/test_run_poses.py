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


def test_bad_pose_inputs_one_line_each(experiment, results, tmp_path):
    d, exp, plain, _, cfg = experiment
    out, _ = results
    before = (out / "frames.parquet").read_bytes()
    src = d / "exp" / "keypoints" / "m01_pain_FacemapPose.h5"
    ds = poses.read_poses(src)
    xy, names = poses.position_array(ds)
    like = ds["confidence"].values[..., 0]

    def run_with(f, session="m01_pain"):
        table = tmp_path / "poses.csv"
        pd.DataFrame({"session": [session], "poses": [str(f)]}).to_csv(table, index=False)
        return runner.invoke(app, ["run", str(plain), str(exp.events_path), "--out", str(out),
                                   "--config", str(cfg), "-q", "--no-report",
                                   "--poses", str(table)])

    # keypoint names that match no role
    body = poses.to_facemap_file(tmp_path / "body_FacemapPose.h5", xy[:, :3],
                                 ["snout", "tailbase", "paw"], like[:, :3])
    cli_error(run_with(body), str(body), "no action unit can be measured",
              "paw, snout, tailbase")
    # poses shorter and longer than the video
    n = len(xy)
    for m in (n - 5, n + 5):
        pad = np.concatenate([xy, xy[:5]])[:m]
        f = poses.to_facemap_file(tmp_path / f"cut{m}_FacemapPose.h5", pad, names,
                                  np.concatenate([like, like[:5]])[:m])
        cli_error(run_with(f), str(f), f"the poses have {m} frames, the video", str(n))
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
    # both a poses column and a poses table
    r = runner.invoke(app, ["run", str(exp.sessions_path), str(exp.events_path), "--out",
                            str(out), "--config", str(cfg), "-q", "--poses",
                            str(tmp_path / "poses.csv")])
    cli_error(r, str(exp.sessions_path), "a poses column and a poses table")
    assert (out / "frames.parquet").read_bytes() == before
