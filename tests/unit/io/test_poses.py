"""Pose files through movement: every format in, cleaning, and the one-line errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from tests.fixtures.real import REAL_DATA

from mouseface._errors import InputError
from mouseface.io import poses

KEYPOINTS = REAL_DATA / "face_keypoints"


def _dataset(n=40, k=3, seed=0, individuals=("mouse",)):
    from movement.io import load_poses

    rng = np.random.default_rng(seed)
    pos = rng.uniform(0, 200, (n, 2, k, len(individuals)))
    conf = rng.uniform(0.7, 1.0, (n, k, len(individuals)))
    return load_poses.from_numpy(pos, conf, individual_names=list(individuals),
                                 keypoint_names=[f"kp{i}" for i in range(k)], fps=30.0)


@pytest.mark.parametrize("kind", ["dlc_h5", "dlc_csv", "lp_csv", "sleap_h5", "dlc_multi"])
def test_formats_movement_writes_read_back(tmp_path, kind):
    from movement.io import save_poses

    ds = _dataset(individuals=("a", "b") if kind == "dlc_multi" else ("mouse",))
    if kind == "dlc_h5" or kind == "dlc_multi":
        f = tmp_path / "v_DLC.h5"
        save_poses.to_dlc_file(ds, f, split_individuals=False)
    elif kind == "dlc_csv":
        f = tmp_path / "v_DLC.csv"
        save_poses.to_dlc_file(ds, f, split_individuals=False)
    elif kind == "lp_csv":
        save_poses.to_lp_file(ds, tmp_path / "v_lp.csv")
        f, = tmp_path.glob("v_lp*.csv")  # one file per individual
    else:
        f = tmp_path / "v.analysis.h5"
        save_poses.to_sleap_analysis_file(ds, f)
    source = "LightningPose" if kind == "lp_csv" else None
    back = poses.read_poses(f, fps=30.0, source_software=source)
    assert back.sizes["time"] == 40
    assert [str(k) for k in back["keypoints"].values] == ["kp0", "kp1", "kp2"]
    np.testing.assert_allclose(back["position"].values, ds["position"].values, atol=1e-4)
    if kind == "lp_csv":
        assert back.attrs["source_software"] == "LightningPose"
    if kind == "dlc_multi":
        one = poses.read_poses(f, individual="b")
        np.testing.assert_allclose(one["position"].values[..., 0],
                                   ds["position"].sel(individuals="b").values, atol=1e-4)
        with pytest.raises(InputError, match="individuals \\(a, b\\)"):
            poses.one_individual(back, f)
        with pytest.raises(InputError, match="no individual 'c'.*a, b"):
            poses.read_poses(f, individual="c")


def test_facemap_layout_written_by_hand(tmp_path):
    """A file laid out as Facemap writes it (scorer/keypoint/x, y, likelihood), made here
    with h5py alone, reads into the same numbers."""
    rng = np.random.default_rng(1)
    names = ["eye(back)", "eye(bottom)", "nose(tip)", "whisker(I)"]
    xy = rng.uniform(0, 256, (25, len(names), 2))
    lk = rng.uniform(0, 1, (25, len(names)))
    f = tmp_path / "cam_FacemapPose.h5"
    with h5py.File(f, "w") as h:
        for i, n in enumerate(names):
            h[f"Facemap/{n}/x"] = xy[:, i, 0]
            h[f"Facemap/{n}/y"] = xy[:, i, 1]
            h[f"Facemap/{n}/likelihood"] = lk[:, i]
    ds = poses.read_poses(f, fps=50.0)
    assert ds.attrs["source_software"] == "Facemap"
    assert sorted(str(k) for k in ds["keypoints"].values) == sorted(names)
    for i, n in enumerate(names):
        np.testing.assert_array_equal(ds["position"].sel(keypoints=n, individuals=ds[
            "individuals"].values[0]).values, xy[:, i, :])
        np.testing.assert_array_equal(ds["confidence"].sel(keypoints=n).values[:, 0], lk[:, i])
    assert float(ds["time"].values[1]) == pytest.approx(1 / 50)
    # our writer makes the same layout
    g = poses.to_facemap_file(tmp_path / "again_FacemapPose.h5", xy, names, lk)
    again = poses.read_poses(g)
    np.testing.assert_array_equal(again["position"].values, ds["position"].values)


def test_clean_poses_threshold_and_gaps():
    ds = _dataset(n=60, k=2)
    conf = ds["confidence"].values
    conf[10:13, 0, 0] = 0.1   # a 3-frame gap: filled
    conf[30:40, 0, 0] = 0.2   # a 10-frame gap: left
    conf[5, 1, 0] = 0.59      # just below 0.6
    truth = ds["position"].values.copy()
    out, report = poses.clean_poses(ds, min_likelihood=0.6, max_gap=5)
    r = report.set_index("keypoint")
    assert r.loc["kp0", "below_threshold"] == 13 and r.loc["kp0", "filled"] == 3
    assert r.loc["kp0", "left"] == 10
    assert r.loc["kp1", "below_threshold"] == 1 and r.loc["kp1", "left"] == 0
    p = out["position"].values
    assert np.isnan(p[30:40, :, 0, 0]).all() and np.isfinite(p[10:13, :, 0, 0]).all()
    # linear interpolation between the frames either side of the gap
    np.testing.assert_allclose(p[11, :, 0, 0], (truth[9, :, 0, 0] * 2 + truth[13, :, 0, 0] * 2)
                               / 4, atol=1e-9)
    assert poses.summary(report)["filled"] == 4
    # no threshold: nothing dropped
    _, rep = poses.clean_poses(ds, min_likelihood=None, max_gap=0)
    assert rep["below_threshold"].sum() == 0


def test_clean_poses_all_below_threshold():
    ds = _dataset()
    ds["confidence"].values[:] = 0.3
    with pytest.raises(InputError, match="every point is below the likelihood threshold 0.6 "
                                         "\\(the highest is 0.3\\)"):
        poses.clean_poses(ds, path="x.h5")


def test_bad_files(tmp_path):
    (tmp_path / "p.txt").write_text("x")
    with pytest.raises(InputError, match="p.txt: unknown pose format: '.txt' files"):
        poses.read_poses(tmp_path / "p.txt")
    (tmp_path / "p.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="p.csv: unknown pose format: a CSV without"):
        poses.read_poses(tmp_path / "p.csv")
    with h5py.File(tmp_path / "p.h5", "w") as h:
        h["foo"] = np.zeros(3)
    with pytest.raises(InputError, match="p.h5: unknown pose format: an HDF5 file"):
        poses.read_poses(tmp_path / "p.h5")
    with pytest.raises(InputError, match="pose file not found"):
        poses.read_poses(tmp_path / "none.h5")
    with pytest.raises(InputError, match="the poses have 40 frames, the video \\(v.mp4\\) 41"):
        poses.check_length(_dataset(), 41, "p.h5", "v.mp4")
    poses.check_length(_dataset(), 40)
    # a count estimated from the container's duration: held to its tolerance, said "about"
    poses.check_length(_dataset(), 42, tolerance=2)
    with pytest.raises(InputError, match="the poses have 40 frames, the video about 43"):
        poses.check_length(_dataset(), 43, "p.h5", tolerance=2)


def test_real_labels_both_formats():
    """The hand-labelled real keypoints: DeepLabCut's labelled-data CSV and HDF5 hold the same
    points (the HDF5 of clip 1 has one frame more)."""
    if not KEYPOINTS.is_dir():
        pytest.skip(f"real data not found: {KEYPOINTS}")
    for clip, n_csv, n_h5 in (("cam1_G7c1_1", 118, 119), ("cam1_G7c1_2", 119, 119)):
        a = poses.read_poses(KEYPOINTS / clip / "CollectedData_AVS.csv")
        b = poses.read_poses(KEYPOINTS / clip / "CollectedData_AVS.h5")
        assert (a.sizes["time"], b.sizes["time"]) == (n_csv, n_h5)
        assert a.sizes["keypoints"] == b.sizes["keypoints"] == 12
        la, lb = a.attrs["frame_labels"], b.attrs["frame_labels"]
        common = [x for x in la if x in lb]
        assert len(common) == n_csv
        pa = a["position"].values[[la.index(x) for x in common]]
        pb = b["position"].values[[lb.index(x) for x in common]]
        np.testing.assert_allclose(pa, pb, atol=1e-9, equal_nan=True)
        # hand labels: no likelihood, so the threshold drops nothing
        _, rep = poses.clean_poses(b)
        assert rep["below_threshold"].sum() == 0


def test_session_poses_round_trip_as_movement_netcdf(tmp_path):
    """The aligned poses file of a results folder reads back as a valid movement dataset with
    the video's times and frame indices."""
    import xarray as xr
    from movement.validators.datasets import ValidPosesInputs

    from mouseface.io.layout import ResultsLayout

    ds = _dataset(n=12)
    ds["position"][3, :, 1, 0] = np.nan
    f = ResultsLayout(tmp_path).pose_file("m1_s1")
    t = np.arange(12) / 30.0 + 0.011
    poses.write_session_poses(f, ds, time=t, frame=np.arange(12) + 5, session="m1_s1",
                              roles={"eye_top": "kp0"}, min_likelihood=0.6)
    assert f.name == "m1_s1.nc" and ResultsLayout(tmp_path).stored_poses() == ["m1_s1"]
    back = poses.read_session_poses(f)
    ValidPosesInputs.validate(back)
    np.testing.assert_array_equal(back["time"].values, t)
    np.testing.assert_array_equal(back["frame"].values, np.arange(12) + 5)
    np.testing.assert_array_equal(back["position"].values, ds["position"].values)
    assert back.attrs["session"] == "m1_s1" and back.attrs["ds_type"] == "poses"
    assert back.attrs["roles"] == '{"eye_top": "kp0"}'
    with xr.open_dataset(f) as plain:          # what movement's napari widget does
        assert plain.attrs["ds_type"] == "poses"
    with pytest.raises(InputError, match="no aligned poses"):
        poses.read_session_poses(tmp_path / "poses" / "other.nc")
