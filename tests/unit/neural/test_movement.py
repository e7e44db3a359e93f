"""Expression beyond movement: trial blocks, unique variance, categories, HOG motion."""

import warnings

import numpy as np
import pytest

from mouseface.neural.encoding import encode
from mouseface.neural.movement import (
    CATEGORIES,
    classify,
    hog_motion,
    movement_control,
    trial_blocks,
    unique_variance,
)
from mouseface.synth.neurons import simulate_session


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        yield


def test_trial_blocks_never_split_a_trial():
    t = np.arange(3000) / 10.0
    onsets = 5 + np.cumsum(np.random.default_rng(0).uniform(8, 20, 20))
    labels = trial_blocks(t.size, t, onsets, 5)
    assert np.unique(labels).tolist() == [0, 1, 2, 3, 4] and np.all(np.diff(labels) >= 0)
    for on in onsets:  # onset to 3 s after it: one block
        inside = labels[(t >= on) & (t < on + 3.0)]
        assert inside.min() == inside.max()
    assert np.bincount(labels).min() > 300  # about equal blocks


def test_unique_variance_attributes_each_neuron_to_its_source():
    s = simulate_session(5.0, fs=10.0, n_neurons=6, seed=3, snr=2.0, realistic=False,
                         coupled={0: "pleasure", 1: "disgust", 2: "motion_energy"})
    folds = trial_blocks(s.time.size, s.time, s.events["onset"])
    v = unique_variance(s.population.traces, s.expressions, s.motion[None], fs=10.0,
                        folds=folds, tau=0.7)
    # each expression's own unique part is small (neutral falls whenever another rises, so
    # it stands in for a missing one), that of all expressions together large
    assert v.unique_expression[0].argmax() == 1 and v.unique_expression[1].argmax() == 2
    assert v.unique_expression[0, 1] > 0.05 and v.unique_expressions[:2].min() > 0.4
    assert v.unique_movement[2] > 0.3 and v.unique_expressions[2] < 0.05
    assert v.unique_movement[0] < 0.05 and v.r2_full[3:].max() < 0.05  # the others: nothing
    assert np.all(v.r2_full >= v.r2_expressions - 0.02)


def test_movement_control_on_motion_artefacts():
    # no neuron encodes anything, but imaging artefacts follow the face, which moves when it
    # expresses: the plain test calls some, the controlled one none, and they track movement
    s = simulate_session(8.0, fs=10.0, n_neurons=40, seed=9, motion_artefact=0.06)
    x = s.population.traces
    plain = encode(x, s.expressions, fs=10.0, names=s.names, tau=0.7)
    mc = movement_control(plain, x, s.expressions, s.motion[None],
                          movement_names=["motion_energy"],
                          folds=trial_blocks(x.shape[1], s.time, s.events["onset"]))
    assert plain.significant.any(axis=1).sum() >= 3
    assert not mc.after_movement.significant.any()
    assert (mc.tracks == "movement").sum() >= 10
    assert set(mc.counts()) == set(CATEGORIES) and sum(mc.counts().values()) == 40
    cols = mc.columns()
    assert len(cols) == 40 * 3 and {"r_after_movement", "q_after_movement", "tracks",
                                    "unique_r2", "movement_q"} <= set(cols.columns)


def test_classify_the_four_ways():
    from types import SimpleNamespace as N

    t, f = True, False
    got = classify(N(preferred=np.array(["a", "a", "a", "", "a", "", ""])),
                   N(positive=np.array([[t], [t], [f], [f], [f], [f], [t]])),
                   N(significant=np.array([[f], [t], [t], [t], [f], [f], [f]])))
    assert got.tolist() == ["expression", "both", "movement", "movement", "shared", "none",
                            "none"]  # the last: significant only after movement, not tracked


def test_hog_motion_finds_a_moving_part_in_two_bounded_passes():
    rng = np.random.default_rng(0)
    n = 3000
    jaw = (np.sin(np.arange(n) / 7.0) > 0.8).astype(float)  # the jaw opens now and then
    hog = rng.random((n, 4, 4, 8)).astype(np.float32) * 0.05
    hog[:, 2, 1, :] += jaw[:, None] * rng.random(8)
    calls = []

    def blocks():
        calls.append(1)
        for start in range(0, n, 700):
            yield start, hog[start:start + 700]

    comps = hog_motion(blocks, 2, batch=500)
    assert comps.shape == (2, n) and len(calls) == 2  # fit, then transform
    change = np.abs(np.diff(jaw, prepend=jaw[0]))
    assert abs(np.corrcoef(comps[0], change)[0, 1]) > 0.9
