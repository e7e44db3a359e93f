"""Keypoints in the viewer: a pose file's points as a Points layer over the video, frame for
frame (`mouseface view VIDEO --poses FILE`), and a results folder's action units under its
similarity traces.

The video is the synthetic face renderer's (three states, a real H.264 file) and the poses are
the keypoints it draws, with label noise and lost points, written in Facemap's layout and read
back through `movement`. Skips without napari or a display (tests/fixtures/viewer.py).
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cli_error
from tests.unit.report.video_results import shared_results, with_poses_copy
from typer.testing import CliRunner

from mouseface._errors import InputError
from mouseface.cli import app
from mouseface.napari.view import open_path

pytestmark = pytest.mark.napari

SIZE = (160, 160)
STATES = ("neutral", "pain", "pleasure")
PER_STATE = 12
FPS = 20.0


@pytest.fixture(scope="module")
def face(tmp_path_factory):
    """A face video (36 frames: neutral, pain, pleasure) and its keypoints in a Facemap file:
    1 px of label noise, 15 % of the points lost (likelihood below 0.5)."""
    from mouseface.io.poses import to_facemap_file
    from mouseface.io.video import write_video
    from mouseface.synth.face import KEYPOINTS, face_keypoints, label_keypoints, render_face
    from mouseface.synth.states import state_actions

    folder = tmp_path_factory.mktemp("face_poses")
    label = np.repeat(STATES, PER_STATE)
    frames = np.stack([render_face(s, size=SIZE) for s in label])
    video = write_video(folder / "face.mp4", frames, FPS)
    clean = np.stack([face_keypoints(state_actions(s), size=SIZE) for s in label])
    xy, like = label_keypoints(clean, np.random.default_rng(3), noise_px=1.0, dropout=0.15)
    poses = to_facemap_file(folder / "face_FacemapPose.h5", xy, list(KEYPOINTS), like)
    return {"video": video, "poses": poses, "xy": xy, "like": like,
            "keypoints": list(KEYPOINTS), "folder": folder}


def _shown(layer) -> np.ndarray:
    """Indices of the points napari draws in the current slice."""
    return np.asarray(layer._view_indices, dtype=int)


def test_keypoints_over_the_video_frame_for_frame(make_napari_viewer, face, artifacts):
    viewer = make_napari_viewer()
    regions, _ = open_path(viewer, face["video"], poses=face["poses"])
    layer = viewer.layers["keypoints"]
    kept = face["like"] >= 0.6
    assert layer.ndim == 3 and len(layer.data) == int(kept.sum()) < kept.size
    assert layer.metadata["hidden"] == int((~kept).sum())
    # the ROI and mask layers stay on top, so drawing still reaches them
    assert [lay.name for lay in viewer.layers][-2:] == ["face ROI", "mask"]

    names = np.asarray(face["keypoints"])
    for k in (0, PER_STATE + 5, 2 * PER_STATE + 11):
        viewer.dims.set_current_step(0, k)
        shown = _shown(layer)
        assert np.all(layer.data[shown, 0] == k)
        # exactly the frame's confident keypoints, at their (row, col)
        assert sorted(layer.features["keypoint"].iloc[shown]) == sorted(names[kept[k]])
        for i in shown:
            j = face["keypoints"].index(layer.features["keypoint"].iloc[i])
            assert layer.data[i, 1:] == pytest.approx(face["xy"][k, j, ::-1])
    # coloured by keypoint: one colour per keypoint, each keypoint its own
    colours = pd.DataFrame(layer.face_color.round(4)).assign(k=layer.features["keypoint"].values)
    per = colours.groupby("k", observed=True).nunique()
    assert (per.to_numpy() == 1).all()
    assert len(colours.drop(columns="k").drop_duplicates()) == len(names)
    assert list(layer.text.values[:3]) == list(layer.features["keypoint"].astype(str)[:3])

    # in pain the eye closes: the eye's top and bottom points come together on screen
    eye = {n: layer.data[(layer.features["keypoint"] == n).to_numpy()] for n in
           ("eye_top", "eye_bottom")}
    gap = {s: np.median([abs(a[1] - b[1]) for a in eye["eye_top"] for b in eye["eye_bottom"]
                         if a[0] == b[0] and s * PER_STATE <= a[0] < (s + 1) * PER_STATE])
           for s in (0, 1)}
    assert gap[1] < 0.5 * gap[0]

    viewer.window.resize(1200, 900)
    viewer.dims.set_current_step(0, 2 * PER_STATE + 3)  # pleasure: ears forward, nose down
    regions.set_regions((4, 4, SIZE[1] - 8, SIZE[0] - 8))
    regions.zoom_to_roi(margin=0.05)
    shot = viewer.screenshot(str(artifacts / "napari_keypoints.png"), canvas_only=False)
    # the keypoints' colours are on screen (not only the gray video and the yellow ROI)
    rgb = shot[..., :3].astype(int)
    assert (np.ptp(rgb, axis=-1) > 80).mean() > 1e-4

    # another video: the old one's keypoints go with it
    other = face["folder"] / "other.mp4"
    if not other.exists():
        shutil.copy(face["video"], other)
    regions.open_video(other)
    assert "keypoints" not in viewer.layers


def test_hidden_points_and_a_short_pose_file(make_napari_viewer, face, tmp_path):
    from mouseface.io.poses import to_facemap_file

    viewer = make_napari_viewer()
    regions, _ = open_path(viewer, face["video"])
    from mouseface.io.poses import read_poses

    ds = read_poses(face["poses"])
    every = regions.show_poses(ds, min_likelihood=None)
    assert len(every.data) == face["like"].size  # nothing missing in the file: all shown
    short = to_facemap_file(tmp_path / "short_FacemapPose.h5", face["xy"][:-1],
                            face["keypoints"], face["like"][:-1])
    with pytest.raises(InputError, match=r"the poses have 35 frames, the video .*36"):
        open_path(make_napari_viewer(), face["video"], poses=short)
    # from the command line: one line naming the file, before any window opens
    import napari

    before = napari.current_viewer()
    line = cli_error(CliRunner().invoke(app, ["view", str(face["video"]), "--poses",
                                              str(short)]))
    assert str(short) in line and "35 frames" in line
    assert napari.current_viewer() is before


def test_view_poses_from_the_command_line(make_napari_viewer, monkeypatch, face):
    make_napari_viewer  # noqa: B018  (the skips and the QApplication)
    import napari

    monkeypatch.setattr(napari, "run", lambda *a, **k: None)
    result = CliRunner().invoke(app, ["view", str(face["video"]), "--poses", str(face["poses"]),
                                      "--min-likelihood", "0"])
    viewer = napari.current_viewer()
    try:
        assert result.exit_code == 0, result.output
        assert len(viewer.layers["keypoints"].data) == face["like"].size
    finally:
        viewer.close()


def test_a_run_with_poses_keypoints_and_action_units(make_napari_viewer, tmp_path_factory,
                                                     tmp_path):
    """A results folder made with poses: its keypoints over the session's video on the frames
    `poses/<session>.nc` names, and its `au_<name>` traces in a row of their own under the
    similarities, with their values in their units on the status line."""
    path, ds, aus, f = with_poses_copy(shared_results(tmp_path_factory), tmp_path)
    viewer = make_napari_viewer()
    regions, results = open_path(viewer, path, session="mA_s1")
    tr = results.traces
    assert set(tr.aus) == {c.removeprefix("au_") for c in aus.columns}
    assert tr.au_units["eye_opening"] == "ratio" and tr.au_units["ear_angle"] == "deg"
    axes = results.figure.axes
    assert axes[0].get_ylabel() == "similarity (r)"
    assert axes[1].get_ylabel().startswith("action units")
    labels = [lab.get_text() for lab in axes[1].get_yticklabels()]
    assert "eye_opening (ratio)" in labels and "ear_angle (deg)" in labels
    # a row per action unit, about neutral in its spreads: the eye's row is blue (below
    # neutral) in pain and near 0 elsewhere
    eye = np.ma.filled(axes[1].get_images()[0].get_array(), np.nan)[
        labels.index("eye_opening (ratio)")]
    pain = (f["time"].to_numpy() % 6) < 2
    assert np.nanmedian(eye[pain]) < -1 and abs(np.nanmedian(eye[~pain])) < 0.5
    k = results.go_to_trial(0)
    row = tr.row_of(k)
    assert f"eye_opening {tr.aus['eye_opening'][row]:.3g} ratio" in results.status.text()
    # the keypoints of that frame: the cleaned points the action units were measured on
    layer = viewer.layers["keypoints"]
    shown = _shown(layer)
    xy = ds["position"].isel(individuals=0).transpose("time", "keypoints", "space").values
    seen = np.isfinite(xy[row]).all(axis=-1)
    assert len(shown) == int(seen.sum()) > 0 and np.all(layer.data[shown, 0] == k)
    for i in shown:
        j = list(ds["keypoints"].values).index(layer.features["keypoint"].iloc[i])
        assert layer.data[i, 1:] == pytest.approx(xy[row, j, ::-1])
    # a session without poses: no keypoints, no action-unit row
    results.select_session("mB_s1")
    assert "keypoints" not in viewer.layers and not results.traces.aus
    assert not any(ax.get_ylabel().startswith("action units") for ax in results.figure.axes)
