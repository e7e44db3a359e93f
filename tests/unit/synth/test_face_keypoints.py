"""The synthetic face's keypoints: known action units per state, recovered through a Facemap
file with label noise and 10 % of the points dropped."""

from __future__ import annotations

import numpy as np
import pytest

from mouseface.features.action_units import ActionUnits
from mouseface.io import poses
from mouseface.synth.animals import make_animal
from mouseface.synth.poses import action_unit_truth, eye_ratio, face_keypoint_session
from mouseface.synth.states import STATES

NOISE_PX = 1.5      # label noise per coordinate on a 256-px face (see the tolerance below)
DROPOUT = 0.10


def test_truth_follows_the_state_table():
    truth = action_unit_truth()
    for state, delta in STATES.items():
        row = truth.loc[state]
        assert row["au_eye_opening"] == pytest.approx(eye_ratio(1 + delta.get("eye_open", 0)),
                                                      rel=1e-9)
        flat = min(max(delta.get("ear_flat", 0.0), 0.0), 1.0)
        assert row["au_ear_angle"] == pytest.approx(delta.get("ear_angle", 0.0) - 28 * flat,
                                                    abs=1e-9)
    # the Mouse Grimace Scale's pain face: eye narrowed, ears back, nose bulging; the gape of
    # disgust opens the mouth; pleasure's ears come forward; nothing moves in neutral
    assert truth.loc["pain", "au_eye_opening"] < 0.2
    assert truth.loc["pain", "au_ear_angle"] < -40 and truth.loc["pain", "au_nose_bulge"] > 1
    assert truth.loc["disgust", "au_mouth_opening"] > 10
    assert truth.loc["pleasure", "au_ear_angle"] == pytest.approx(36.0)
    assert truth.loc["passive_fear", "au_eye_opening"] == pytest.approx(1.5)
    assert np.allclose(truth.loc["neutral"].drop("au_eye_opening"), 0.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_action_units_recover_the_states(tmp_path, seed):
    """Through a Facemap file, the likelihood threshold and ActionUnits fitted on the neutral
    frames: each state's median action unit lies within its tolerance of the known value.

    Tolerance: four standard errors of the difference of two medians (state and neutral),
    ``4 * 1.2533 * sd * sqrt(1/n_state + 1/n_neutral)``, with ``sd`` the action unit's spread
    over the neutral frames (what label noise alone does to it) and ``n`` the frames that have
    its points. The nose displacement is a distance, never negative: under label noise of
    ``s`` pixels per coordinate its median over frames where the nose did not move is the
    Rayleigh median ``1.18 s``, which is added to its tolerance.
    """
    animal = make_animal(seed)
    s = face_keypoint_session(animal=animal, seed=seed, noise_px=NOISE_PX, dropout=DROPOUT)
    f = poses.to_facemap_file(tmp_path / "face_FacemapPose.h5", s.position, list(s.keypoints),
                              s.likelihood)
    ds, report = poses.clean_poses(poses.read_poses(f), max_gap=0)
    assert report["below_threshold"].sum() == pytest.approx(DROPOUT * s.position[..., 0].size,
                                                            rel=0.1)
    pos, names = poses.position_array(ds)
    assert sorted(names) == sorted(s.keypoints)  # h5py lists groups by name
    au = ActionUnits().fit(pos[s.state == "neutral"], names)
    table = au.transform(pos).assign(state=s.state)
    neutral = table[table["state"] == "neutral"]
    for state in STATES:
        got = table[table["state"] == state]
        for col in s.truth.columns:
            x = got[col].dropna()
            sd = neutral[col].std()
            tol = 4 * 1.2533 * sd * np.sqrt(1 / len(x) + 1 / neutral[col].notna().sum())
            if col == "au_nose_displacement":
                tol += 1.18 * NOISE_PX
            assert len(x) > 0.35 * len(got)  # 0.9 ** 6 = 0.53: a unit of six points
            assert abs(x.median() - s.truth.loc[state, col]) <= tol, (state, col, x.median(),
                                                                       s.truth.loc[state, col],
                                                                       tol)
