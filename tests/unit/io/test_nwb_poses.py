"""NWB export of a run with poses: ndx-pose keypoints and action-unit series, read back with
pynwb from a real file, valid under the NWB validator and nwbinspector's DANDI configuration.

The results folder is the shared small run (tests/unit/report/video_results.py) with aligned
poses written as `run --poses` writes them (`io.poses.write_session_poses`, the synthetic face's
keypoints with label noise and lost points) and `au_<name>` columns in its frames.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from tests.unit.report.video_results import shared_results, with_poses_copy

pynwb = pytest.importorskip("pynwb")
pytest.importorskip("ndx_pose")


def _export(copy, out):
    from mouseface.io.nwb_export import export_nwb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the DANDI metadata warning
        return dict(zip(["mA_s1", "mB_s1"], export_nwb(copy, out), strict=True))


@pytest.fixture(scope="module")
def with_poses(tmp_path_factory):
    results = shared_results(tmp_path_factory)
    tmp = tmp_path_factory.mktemp("nwb_poses")
    copy, ds, aus, f = with_poses_copy(results, tmp)
    return copy, ds, aus, f, _export(copy, tmp / "nwb")


def test_poses_and_action_units_read_back_with_pynwb(with_poses):
    import ndx_pose
    from pynwb import NWBHDF5IO

    from mouseface.io.nwb_export import read_session

    _, ds, aus, f, paths = with_poses
    names = [str(k) for k in ds["keypoints"].values]
    with NWBHDF5IO(str(paths["mA_s1"]), "r") as io:
        nwb = io.read()
        behavior = nwb.processing["behavior"]
        pe = behavior["PoseEstimation"]
        assert isinstance(pe, ndx_pose.PoseEstimation)
        assert sorted(pe.pose_estimation_series) == sorted(names)
        assert pe.source_video is nwb.acquisition["face_video"]
        assert pe.source_software == "mouseface.synth"
        assert list(pe.skeleton.nodes[:]) == names
        assert "skeleton_face" in behavior["Skeletons"].skeletons
        assert pe.skeleton.subject is nwb.subject
        nose = pe.pose_estimation_series["nose_tip"]
        assert nose.unit == "pixels" and "top-left pixel" in nose.reference_frame
        # on the video's frame times, as the similarity series: starting_time and rate
        assert nose.rate == 10.0 and nose.starting_time == pytest.approx(f["time"].iloc[0])
        assert "likelihood" in nose.confidence_definition
    back = read_session(paths["mA_s1"])
    p = back["poses"]
    assert p["keypoints"] == names and p["source_video"] == "face_video"
    for k in names:
        want = ds["position"].sel(keypoints=k, individuals=ds["individuals"].values[0])
        np.testing.assert_array_equal(p["position"][k], want.transpose("time", "space").values)
        np.testing.assert_array_equal(
            p["confidence"][k], ds["confidence"].sel(keypoints=k).values.ravel())
    assert np.isnan(p["position"]["eye_top"]).any()  # a lost point stays missing
    np.testing.assert_allclose(p["time"], f["time"].to_numpy(), atol=1e-9)
    # the skeleton joins the eye's four points in a ring, and the lips
    edges = {tuple(sorted((names[a], names[b]))) for a, b in p["edges"]}
    assert {("eye_front", "eye_top"), ("eye_back", "eye_bottom"), ("lip", "mouth")} <= edges
    assert set(back["action_units"]) == {c.removeprefix("au_") for c in aus.columns}
    for c in aus.columns:
        np.testing.assert_allclose(back["action_units"][c[3:]], aus[c].to_numpy(np.float32))
    # the pain frames narrowed the eye: the exported trace says so
    pain = (f["time"].to_numpy() % 6) < 2
    eye = back["action_units"]["eye_opening"]
    assert np.nanmedian(eye[pain]) < 0.5 < np.nanmedian(eye[~pain])
    # a session without poses has neither
    other = read_session(paths["mB_s1"])
    assert "poses" not in other and "action_units" not in other


def test_units_and_descriptions_of_the_action_units(with_poses):
    from pynwb import NWBHDF5IO

    paths = with_poses[-1]
    with NWBHDF5IO(str(paths["mA_s1"]), "r") as io:
        series = io.read().processing["behavior"]["action_units"].time_series
        assert series["au_eye_opening"].unit == "ratio"
        assert series["au_ear_angle"].unit == "degrees"
        assert series["au_mouth_opening"].unit == "px"
        assert "neutral" in series["au_nose_bulge"].description


def test_validator_and_inspector_find_nothing_new(with_poses):
    """The export with poses is valid NWB, and nwbinspector (DANDI configuration) reports
    nothing critical beyond the subject metadata the small run lacks."""
    from nwbinspector import Importance, inspect_nwbfile, load_config
    from pynwb import validate

    path = with_poses[-1]["mA_s1"]
    errors = validate(path=str(path))
    if isinstance(errors, tuple):
        errors = errors[0]
    assert list(errors) == []
    messages = list(inspect_nwbfile(nwbfile_path=path, config=load_config("dandi")))
    critical = {m.check_function_name for m in messages
                if m.importance == Importance.CRITICAL}
    assert critical <= {"check_subject_sex", "check_subject_age"}, messages
    about_poses = [m for m in messages if "Pose" in str(m.object_type)
                   or "au_" in str(m.object_name)]
    assert about_poses == [], about_poses


def test_irregular_frames_the_poses_link_the_video_times(results_irregular):
    from pynwb import NWBHDF5IO

    path, f = results_irregular
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        face = nwb.acquisition["face_video"]
        pe = nwb.processing["behavior"]["PoseEstimation"]
        for s in pe.pose_estimation_series.values():
            assert s.rate is None
            np.testing.assert_array_equal(s.timestamps[:], f["time"].to_numpy())
        np.testing.assert_array_equal(face.timestamps[:], f["time"].to_numpy())
    # stored once: the action units and keypoints link the video's timestamps
    import h5py

    with h5py.File(path, "r") as h5:
        for where in ("processing/behavior/action_units/au_eye_opening/timestamps",
                      "processing/behavior/PoseEstimation/eye_top/timestamps"):
            link = h5.get(where, getlink=True)
            assert isinstance(link, (h5py.SoftLink, h5py.HardLink)), where
            assert h5[where].name == "/acquisition/face_video/timestamps" or \
                h5[where].id == h5["acquisition/face_video/timestamps"].id


@pytest.fixture
def results_irregular(tmp_path_factory, tmp_path):
    copy, _, _, f = with_poses_copy(shared_results(tmp_path_factory), tmp_path, irregular=True)
    return _export(copy, tmp_path / "nwb")["mA_s1"], f
