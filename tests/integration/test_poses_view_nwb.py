"""A run with poses, end to end after `run`: `mouseface view` shows its keypoints and action
units, `mouseface export-nwb` writes them with ndx-pose, pynwb reads them back, nwbinspector
finds nothing about them.

The experiment is synthetic (one animal, two pain trials, 128x128 H.264 video through PyAV)
with the keypoints the face renderer drew written as Facemap files, which the sessions table
names in its `poses` column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.io.layout import ResultsLayout
from mouseface.io.poses import read_session_poses

runner = CliRunner()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from mouseface.synth import simulate_experiment

    d = tmp_path_factory.mktemp("poses_view_nwb")
    exp = simulate_experiment(d / "exp", n_animals=1, conditions=("pain",), n_trials=2,
                              size=(128, 128), seed=2, keypoints=True, workers=1)
    cfg = d / "mouseface.toml"
    cfg.write_text("[hog]\npixels_per_cell = [16, 16]\n[prototypes]\nbaseline = 2.0\n")
    out = d / "results"
    r = runner.invoke(app, ["run", str(exp.sessions_path), str(exp.events_path), "--out",
                            str(out), "--config", str(cfg), "-q", "--no-report"])
    assert r.exit_code == 0, r.output
    layout = ResultsLayout(out)
    session = layout.stored_poses()[0]
    return out, session, pd.read_parquet(layout.frames), pd.read_csv(layout.trials)


@pytest.mark.napari
def test_view_shows_the_runs_keypoints_and_action_units(make_napari_viewer, run, artifacts):
    from qtpy.QtWidgets import QApplication

    from mouseface.napari.view import open_path

    out, session, frames, _ = run
    ds = read_session_poses(ResultsLayout(out).pose_file(session))
    viewer = make_napari_viewer()
    viewer.window.resize(1600, 1200)
    regions, results = open_path(viewer, out, session=session)
    t = results.traces
    assert t.poses == ResultsLayout(out).pose_file(session)
    layer = viewer.layers["keypoints"]
    # one point per seen keypoint per frame, each on the video frame the poses file names
    xy = ds["position"].isel(individuals=0).transpose("time", "keypoints", "space").values
    seen = np.isfinite(xy).all(axis=-1)
    assert len(layer.data) == int(seen.sum())
    assert set(layer.data[:, 0].astype(int)) == set(ds["frame"].values[seen.any(axis=1)])

    # 1 s into the first pain trial: the eye's row of the action units is below neutral there
    onset = float(t.trials["onset"].iloc[0])
    results._go(t.frame_at(onset + 1.0))
    row = t.row_of(regions.current_frame())
    assert t.aus["eye_opening"][row] < 0.7
    ax = next(a for a in results.figure.axes if a.get_ylabel().startswith("action units"))
    names = [lab.get_text().split(" ")[0] for lab in ax.get_yticklabels()]
    band = np.ma.filled(ax.get_images()[0].get_array(), np.nan)[names.index("eye_opening")]
    during = (t.time >= onset) & (t.time < onset + float(t.trials["duration"].iloc[0]))
    assert np.nanmedian(band[during]) < -2 < np.nanmedian(band[t.time < onset])
    assert "eye_opening" in results.status.text()
    for _ in range(20):  # let the window lay out before zooming onto the face
        QApplication.processEvents()
    regions.zoom_to_roi(margin=0.15)
    viewer.screenshot(str(artifacts / "napari_run_poses.png"), canvas_only=False)


def test_export_nwb_writes_the_poses_with_ndx_pose(run, tmp_path):
    import ndx_pose  # noqa: F401  (the pose types)
    from nwbinspector import Importance, inspect_nwbfile, load_config
    from pynwb import NWBHDF5IO

    from mouseface.io.nwb_export import read_session

    out, session, frames, trials = run
    r = runner.invoke(app, ["export-nwb", str(out), "--out", str(tmp_path)])
    assert r.exit_code == 0, r.output
    path = tmp_path / f"{session}.nwb"
    ds = read_session_poses(ResultsLayout(out).pose_file(session))
    f = frames[frames["session"] == session]
    back = read_session(path)
    keypoints = [str(k) for k in ds["keypoints"].values]
    assert back["poses"]["keypoints"] == keypoints
    for k in keypoints:
        want = ds["position"].sel(keypoints=k).isel(individuals=0).transpose("time", "space")
        np.testing.assert_array_equal(back["poses"]["position"][k], want.values)
    np.testing.assert_allclose(back["poses"]["time"], f["time"].to_numpy(), atol=1e-9)
    np.testing.assert_allclose(back["poses"]["time"], back["time"], atol=1e-9)
    for c in [c for c in f.columns if c.startswith("au_")]:
        np.testing.assert_allclose(back["action_units"][c[3:]], f[c].to_numpy(np.float32))
    # the trials' action-unit scores are trial columns, described
    au_trials = [c for c in trials.columns if c.startswith("au_")]
    assert au_trials and set(au_trials) <= set(back["trials"].columns)
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        pe = nwb.processing["behavior"]["PoseEstimation"]
        assert pe.source_software == "Facemap"
        assert len(pe.pose_estimation_series) == len(keypoints)
        assert "baseline window" in nwb.trials["au_eye_opening"].description
    messages = list(inspect_nwbfile(nwbfile_path=path, config=load_config("dandi")))
    critical = {m.check_function_name for m in messages
                if m.importance == Importance.CRITICAL}
    assert critical <= {"check_subject_sex", "check_subject_age"}, messages
    assert [m for m in messages if "Pose" in str(m.object_type) or "au_" in str(m.object_name)
            or "Skeleton" in str(m.object_type)] == []
