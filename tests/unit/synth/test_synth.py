"""Synthetic faces and experiments: determinism, the state table, HOG sensitivity, the files."""

import av
import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr
from skimage.feature import hog

from mouseface.synth import (
    ACTIONS,
    STATES,
    Experiment,
    Paw,
    Pose,
    make_animal,
    render_face,
    response,
    simulate_experiment,
    state_actions,
    state_figure,
)

SIZE = (160, 160)
EXPRESSIONS = [s for s in STATES if s != "neutral"]


def _hog(img: np.ndarray) -> np.ndarray:
    return hog(img, orientations=8, pixels_per_cell=(8, 8), cells_per_block=(1, 1),
               block_norm="L2-Hys", transform_sqrt=True)


def _r(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def _decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.array([f.to_ndarray(format="gray") if f.format.name == "gray"
                         else f.to_ndarray()[: f.height] for f in c.decode(video=0)])


# --- state table and renderer ------------------------------------------------------------------


def test_states_use_known_actions_and_differ_from_each_other():
    assert set(STATES) == {"neutral", "pleasure", "disgust", "malaise", "pain", "passive_fear",
                           "active_fear"}
    assert STATES["neutral"] == {}
    for state, delta in STATES.items():
        assert set(delta) <= set(ACTIONS), state
    combos = {tuple(sorted(d.items())) for d in STATES.values()}
    assert len(combos) == len(STATES)


def test_state_actions_is_neutral_plus_intensity_times_delta():
    act = state_actions("pain", 0.5)
    for name, neutral in ACTIONS.items():
        assert act[name] == pytest.approx(neutral + 0.5 * STATES["pain"].get(name, 0.0))
    with pytest.raises(ValueError, match="unknown state 'joy'"):
        state_actions("joy")
    with pytest.raises(ValueError, match="unknown face actions"):
        state_actions("pain", 1.0, {"tail": 1.0})


@pytest.mark.parametrize("size", [(256, 256), (160, 160), (120, 200)])
def test_render_face_shape_and_dtype(size):
    img = render_face("pain", 0.7, size=size)
    assert img.shape == size and img.dtype == np.uint8
    assert img.std() > 20  # a face, not a flat field


def test_intensity_zero_is_the_neutral_face_exactly():
    animal = make_animal(3)
    neutral = render_face("neutral", size=SIZE, animal=animal)
    for state in EXPRESSIONS:
        np.testing.assert_array_equal(render_face(state, 0.0, size=SIZE, animal=animal), neutral)


def test_render_is_deterministic_under_a_seed():
    animal = make_animal(np.random.default_rng(5))
    assert animal == make_animal(np.random.default_rng(5))
    assert animal != make_animal(np.random.default_rng(6))
    a = render_face("malaise", 0.6, size=SIZE, animal=animal, noise_std=3.0,
                    rng=np.random.default_rng(1))
    b = render_face("malaise", 0.6, size=SIZE, animal=animal, noise_std=3.0,
                    rng=np.random.default_rng(1))
    c = render_face("malaise", 0.6, size=SIZE, animal=animal, noise_std=3.0,
                    rng=np.random.default_rng(2))
    np.testing.assert_array_equal(a, b)
    assert np.any(a != c)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_state_changes_the_hog_and_states_differ(seed):
    animal = make_animal(seed)
    h = {s: _hog(render_face(s, 1.0, size=SIZE, animal=animal)) for s in STATES}
    for state in EXPRESSIONS:
        assert _r(h[state], h["neutral"]) < 0.9, state
    for i, s in enumerate(EXPRESSIONS):
        for t in EXPRESSIONS[i + 1:]:
            assert _r(h[s], h[t]) < 0.93, (s, t)


@pytest.mark.parametrize("seed", [0, 1])
def test_hog_similarity_to_the_full_state_grows_with_intensity(seed):
    animal = make_animal(seed)
    levels = [0.0, 0.25, 0.5, 0.75, 1.0]
    for state in EXPRESSIONS:
        proto = _hog(render_face(state, 1.0, size=SIZE, animal=animal))
        r = [_r(_hog(render_face(state, i, size=SIZE, animal=animal)), proto) for i in levels]
        assert np.all(np.diff(r) > 0), (state, np.round(r, 3))


def _dark_centroid(img: np.ndarray, below: int = 30) -> np.ndarray:
    """Centroid (x, y) of the eye: the dark pixels in a window around it."""
    y0, x0 = 55, 70
    yy, xx = np.nonzero(img[y0:115, x0:135] < below)
    return np.array([xx.mean() + x0, yy.mean() + y0])


def test_pose_shift_and_rotation_follow_the_documented_convention():
    size = (200, 200)
    c = np.array([(size[1] - 1) / 2, (size[0] - 1) / 2])
    eye0 = _dark_centroid(render_face(size=size))
    eye1 = _dark_centroid(render_face(size=size, pose=Pose(dx=4.0, dy=-3.0)))
    np.testing.assert_allclose(eye1 - eye0, [4.0, -3.0], atol=0.25)
    rot = 6.0
    eye2 = _dark_centroid(render_face(size=size, pose=Pose(rotation=rot)))
    t = np.radians(rot)
    v = eye0 - c  # counter-clockwise on screen (y down)
    expect = c + [np.cos(t) * v[0] + np.sin(t) * v[1], -np.sin(t) * v[0] + np.cos(t) * v[1]]
    np.testing.assert_allclose(eye2, expect, atol=0.4)


def test_paw_covers_the_snout():
    clean = render_face(size=SIZE).astype(float)
    paw = render_face(size=SIZE, paw=Paw(1.0)).astype(float)
    snout = (slice(90, 120), slice(95, 130))
    assert paw[snout].mean() > clean[snout].mean() + 15
    assert np.abs(paw - clean)[:60].max() < 1  # the top of the head is untouched


def test_response_rises_peaks_and_decays():
    t = np.arange(0, 20, 0.05)
    r = response(t, 2.0, 3.0, rise_s=0.5, decay_s=2.5)
    assert np.all(r[t < 2.0] == 0)
    assert r.max() == pytest.approx(1 - np.exp(-3 / 0.5))
    assert t[np.argmax(r)] == pytest.approx(5.0, abs=0.05)
    assert r[np.searchsorted(t, 7.0)] > 0.3  # persists after the stimulus
    assert np.all(r[t > 15] == 0)


def test_state_figure_writes_a_png(tmp_path):
    path = state_figure(tmp_path / "states.png", animal_seed=0, size=96)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# --- simulated experiment ----------------------------------------------------------------------

SMALL = dict(n_animals=2, conditions=("pain", "pleasure"), n_trials=2, fps=10.0, seed=3,
             baseline_s=3.0, stimulus_s=2.0, iti_s=5.0, grooming_per_min=20.0)


PROGRESS: list[tuple[int, int]] = []  # what the module's simulation reported


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Experiment:
    return simulate_experiment(tmp_path_factory.mktemp("sim") / "exp",
                               on_progress=lambda *a: PROGRESS.append(a), **SMALL)


def test_experiment_writes_tables_with_the_contract_columns(small):
    assert small.sessions_path.name == "sessions.csv" and small.sessions_path.exists()
    sessions = pd.read_csv(small.sessions_path)
    assert list(sessions.columns[:5]) == ["session", "video", "animal", "roi", "fps"]
    assert len(sessions) == 4 and sessions.session.is_unique
    assert sessions.animal.nunique() == 2 and (sessions.fps == 10.0).all()
    assert (sessions.roi == "0,0,160,160").all()
    events = pd.read_csv(small.events_path)
    assert list(events.columns) == ["session", "onset", "duration", "trial_type", "intensity"]
    assert len(events) == 4 * 2
    assert set(events.intensity) <= {0.25, 0.5, 0.75, 1.0}
    for _, ev in events.iterrows():
        assert ev.session.endswith(ev.trial_type)
    truth = pd.read_parquet(small.truth_path)
    for col in ["session", "animal", "frame", "time", "state", "intensity", "occluded", "dx",
                "dy", "rotation"]:
        assert col in truth.columns, col
    pd.testing.assert_frame_equal(truth, small.truth)


def test_videos_decode_with_the_expected_frame_count(small):
    n = int(round((3.0 + 2 * (2.0 + 5.0)) * 10.0))
    for _, row in small.sessions.iterrows():
        frames = _decode(small.out / row.video)
        assert frames.shape == (n, 160, 160)
        assert (small.truth.session == row.session).sum() == n
        with av.open(str(small.out / row.video)) as c:
            assert float(c.streams.video[0].average_rate) == pytest.approx(10.0)


def test_truth_is_aligned_with_the_events(small):
    truth, events = small.truth, small.events
    for session, tr in truth.groupby("session"):
        ev = events[events.session == session].sort_values("onset")
        first = ev.onset.min()
        assert (tr.intensity[tr.time < first] == 0).all()
        assert (tr.state[tr.time < first] == "neutral").all()
        for _, e in ev.iterrows():
            during = tr[(tr.time >= e.onset + 1.0) & (tr.time < e.onset + e.duration)]
            assert (during.state == e.trial_type).all() and (during.intensity > 0).all()
            assert during.dose.eq(e.intensity).all()
            peak = tr[(tr.time >= e.onset) & (tr.time < e.onset + e.duration + 2)].intensity
            expect = np.sqrt(e.intensity) * (1 - np.exp(-2 / 0.5))  # default dose response
            if e.onset == first:
                assert peak.max() == pytest.approx(expect, rel=1e-6)
            else:  # the previous response may not have decayed entirely
                assert expect <= peak.max() < expect + 0.2
            after = tr[(tr.time > e.onset + e.duration) & (tr.time < e.onset + e.duration + 1)]
            assert (after.intensity > 0).all()  # persistence beyond the stimulus
        assert set(tr.state) <= {"neutral", tr.condition.iloc[0]}
        assert (tr.state == "neutral").eq(tr.intensity == 0).all()


def test_occluded_frames_are_marked_and_show_a_paw(small):
    truth = small.truth
    assert truth.occluded.any() and not truth.occluded.all()
    row = small.sessions.iloc[int(np.argmax([truth[truth.session == s].occluded.sum()
                                             for s in small.sessions.session]))]
    frames = _decode(small.out / row.video).astype(float)
    occ = truth[truth.session == row.session].occluded.to_numpy()
    snout = frames[:, 90:125, 95:130].mean(axis=(1, 2))
    assert snout[occ].mean() > snout[~occ].mean() + 10


def test_simulation_reports_progress_in_frames_from_zero_to_all(small, tmp_path):
    one_by_one = []
    simulate_experiment(tmp_path / "exp", workers=1, on_progress=lambda *a: one_by_one.append(a),
                        n_animals=1, conditions=("pain",), n_trials=1, fps=5.0, baseline_s=1.0,
                        stimulus_s=1.0, iti_s=1.0, size=(64, 64))
    assert one_by_one == [(0, 15), (15, 15)]
    total = len(small.truth)  # one row per frame
    per_session = total // len(small.sessions)
    expected = [(k * per_session, total) for k in range(len(small.sessions) + 1)]
    assert expected == PROGRESS


def test_experiment_is_deterministic_across_worker_counts(small, tmp_path):
    again = simulate_experiment(tmp_path / "exp", workers=1, **SMALL)
    pd.testing.assert_frame_equal(again.truth, small.truth)
    pd.testing.assert_frame_equal(again.events, small.events)
    for video in small.sessions.video:
        np.testing.assert_array_equal(_decode(tmp_path / "exp" / video),
                                      _decode(small.out / video))


def test_experiment_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="unknown conditions"):
        simulate_experiment(tmp_path, conditions=("joy",))
    with pytest.raises(ValueError, match="neutral"):
        simulate_experiment(tmp_path, conditions=("neutral", "pain"))
    with pytest.raises(ValueError, match="even"):
        simulate_experiment(tmp_path, size=(161, 160))


def test_frame_similarity_to_the_true_prototype_tracks_the_intensity(tmp_path):
    """The issue's acceptance depends on it: with nuisance on, per-frame HOG similarity to the
    animal's prototype of the true state follows the true intensity over stimulus frames."""
    exp = simulate_experiment(tmp_path / "exp", n_animals=1, conditions=EXPRESSIONS[:5],
                              n_trials=4, fps=10.0, seed=11, baseline_s=2.0, iti_s=7.0)
    truth = exp.truth
    stim = np.zeros(len(truth), bool)
    for _, e in exp.events.iterrows():
        stim |= ((truth.session == e.session) & (truth.time >= e.onset)
                 & (truth.time < e.onset + e.duration)).to_numpy()
    own_max = truth.groupby("condition").intensity.transform("max")
    peak = (truth.intensity >= 0.8 * own_max).to_numpy()
    frames = np.concatenate([_decode(exp.out / v) for v in exp.sessions.video])
    z = np.zeros((len(truth), _hog(frames[0]).size))
    for i in np.flatnonzero(stim | peak):  # HOG only where it is used
        h = _hog(frames[i])
        z[i] = (h - h.mean()) / h.std()
    for cond in exp.events.trial_type.unique():
        own = (truth.condition == cond).to_numpy()
        peak = own & (truth.intensity >= 0.8 * own_max).to_numpy()
        proto = z[peak].mean(0)
        proto = (proto - proto.mean()) / proto.std()
        sel = own & stim
        rho = spearmanr(z[sel] @ proto, truth.intensity[sel]).statistic
        assert rho >= 0.8, (cond, rho)


def test_primitives_are_placed_on_the_frame_as_the_keypoints_are():
    # to_pixels (a compiled loop) and points_to_pixels (numpy) apply one head pose, to the bit
    from mouseface.synth import face as F

    pr = F._Prims()
    pr.capsule((0.2, 0.3), (0.6, 0.7), 0.01, 0.02, 10.0)
    pr.ellipse((0.5, 0.4), 0.1, 0.0, 30.0, 5.0, soft=0.5)
    pr.points.update(a=(0.2, 0.3), b=(0.6, 0.7), c=(0.5, 0.4))
    for size, pose in [((128, 128), F.Pose(1.3, -0.4, 2.0)), ((192, 128), F.Pose(-2, 1, -7))]:
        table = pr.to_pixels(*size, pose)
        xy = pr.points_to_pixels(*size, pose)
        assert table[0, 1:5].tolist() == xy[:2].ravel().tolist()
        assert table[1, 1:3].tolist() == xy[2].tolist()
        s = min(size)
        assert table[0, 5:7].tolist() == [0.01 * s, 0.02 * s]
        assert table[1, 3:6].tolist() == [0.1 * s, 1e-3, float(np.radians(30.0 - pose.rotation))]
        assert table[:, 9].tolist() == [max(1.0 * (s / 160) ** 0.5, 0.6), 0.6]
