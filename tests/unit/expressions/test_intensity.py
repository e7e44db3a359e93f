"""The expression axis: graded intensity with known answers, transfer through a new animal's own
neutral, and the trial readout."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from mouseface.expressions.intensity import ExpressionAxis
from mouseface.expressions.prototypes import PrototypeModel

N_FEATURES = 48


def _animal(rng, face, change, levels, n_base=60, n_per=12, noise=0.15):
    """Baseline frames of one face, then frames at each strength of one change of it."""
    base = face + rng.normal(0, noise, (n_base, N_FEATURES))
    strengths = np.repeat(levels, n_per)
    stim = face + strengths[:, None] * change + rng.normal(0, noise, (len(strengths), N_FEATURES))
    return base, stim, strengths


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def test_the_grade_follows_the_strength_of_the_change_linearly(rng):
    change = np.r_[np.ones(6), np.zeros(N_FEATURES - 6)]
    face = rng.random(N_FEATURES) * 2
    base, stim, strength = _animal(rng, face, change, [0.0, 0.25, 0.5, 1.0, 2.0])
    X = np.vstack([base, stim])
    y = np.r_[["neutral"] * len(base), ["pain"] * len(stim)]
    axis = ExpressionAxis().fit(X, y)
    g = axis.transform(stim)[:, 0]
    means = [g[strength == s].mean() for s in np.unique(strength)]
    # linear in the strength: a straight line through the level means explains them
    slope, intercept = np.polyfit(np.unique(strength), means, 1)
    assert np.allclose(means, slope * np.unique(strength) + intercept, atol=0.1 * slope)
    assert abs(intercept) < 0.05 * slope and slope > 5
    # in baseline standard deviations: the animal's own baseline grades have spread 1, mean 0
    gb = axis.transform(base)[:, 0]
    assert abs(gb.std() - 1) < 1e-9 and abs(gb.mean()) < 1e-9
    # the paper's Pearson similarity saturates where the grade keeps growing
    proto = PrototypeModel(n_frames=10).fit(X, y)
    r = proto.transform(stim)[:, 1]
    rs = [r[strength == s].mean() for s in np.unique(strength)]
    assert (rs[-1] - rs[-2]) / (rs[1] - rs[0]) < (means[-1] - means[-2]) / (means[1] - means[0])


def test_transfer_keeps_the_grading_through_the_new_animals_own_neutral(rng):
    change = np.r_[np.zeros(10), np.ones(5), np.zeros(N_FEATURES - 15)]
    levels = [0.0, 0.5, 1.0, 1.5]
    faces = [rng.random(N_FEATURES) * 3 for _ in range(3)]
    faces[2] = faces[2] + 1.5 * change  # a mouse whose resting face already leans that way
    animals = [_animal(rng, face, change, levels) for face in faces]
    X = np.vstack([np.vstack([b, s]) for b, s, _ in animals[:2]])
    y = np.concatenate([np.r_[["neutral"] * len(b), ["pain"] * len(s)] for b, s, _ in animals[:2]])
    groups = np.concatenate([[k] * (len(b) + len(s)) for k, (b, s, _) in enumerate(animals[:2])])
    axis = ExpressionAxis().fit(X, y, groups=groups)
    # the axis is the change, not the difference between the two training faces
    assert abs(axis.axes_[0] @ change / np.linalg.norm(change)) > 0.95
    base, stim, strength = animals[2]
    g = axis.transform(stim, baseline=base)[:, 0]
    assert spearmanr(strength, g).statistic > 0.9
    # its own neutral is its zero: without it, its resting face would read as pain
    assert abs(axis.transform(base, baseline=base)[:, 0].mean()) < 1e-9
    assert axis.transform(base)[:, 0].mean() > 3


def test_from_means_is_the_fit_of_the_frames_it_summarises(rng):
    change = np.r_[np.ones(6), np.zeros(N_FEATURES - 6)]
    base, stim, _ = _animal(rng, rng.random(N_FEATURES), change, [0.5, 1.5])
    X = np.vstack([base, stim])
    y = np.r_[["neutral"] * len(base), ["pain"] * len(stim)]
    fitted = ExpressionAxis().fit(X, y)
    summed = ExpressionAxis.from_means(["pain"], base.mean(axis=0), stim.mean(axis=0)[None],
                                       scale=fitted.scale_)
    assert np.allclose(summed.transform(stim), fitted.transform(stim), atol=1e-12)


def test_scaled_takes_the_unit_from_baseline_blocks(rng):
    """An axis from another animal, put in a new animal's baseline spread from blocks read one
    at a time, grades as ``transform(baseline=...)`` does with all the frames at once."""
    change = np.r_[np.ones(6), np.zeros(N_FEATURES - 6)]
    base, stim, _ = _animal(rng, rng.random(N_FEATURES), change, [0.5, 1.5])
    saved = ExpressionAxis.from_axes(["pain"], 3.0 * change[None], np.zeros(N_FEATURES))
    own = ExpressionAxis.from_axes(["pain"], saved.axes_, base.mean(axis=0))
    scaled = own.scaled([base[:25], base[25:40], base[40:]])
    np.testing.assert_allclose(scaled.transform(stim), saved.transform(stim, baseline=base),
                               rtol=1e-12)
    assert scaled.scale_[0] != own.scale_[0] == 1.0  # own is in raw units; scaled is not
    assert own.scaled([]).scale_[0] == 1.0  # no baseline frame: raw units


def test_it_is_a_scikit_learn_transformer(rng):
    base, stim, _ = _animal(rng, rng.random(N_FEATURES), np.ones(N_FEATURES), [1.0])
    X, y = np.vstack([base, stim]), np.r_[["neutral"] * len(base), ["pain"] * len(stim)]
    with pytest.raises(NotFittedError):
        ExpressionAxis().transform(X)
    fitted = clone(ExpressionAxis(neutral_label="rest")).fit(
        X, np.where(y == "neutral", "rest", y))
    assert fitted.classes_.tolist() == ["pain"] and fitted.get_params()["neutral_label"] == "rest"
    with pytest.raises(ValueError, match="features"):
        fitted.transform(X[:, :5])


def test_it_says_what_is_missing(rng):
    X = rng.normal(size=(20, N_FEATURES))
    with pytest.raises(ValueError, match="no baseline frames"):
        ExpressionAxis().fit(X, ["pain"] * 20)
    with pytest.raises(ValueError, match="no stimulus frames"):
        ExpressionAxis().fit(X, ["neutral"] * 20)
    with pytest.raises(ValueError, match="group 'b' has stimulus frames but no baseline"):
        ExpressionAxis().fit(X, ["neutral"] * 10 + ["pain"] * 10, groups=["a"] * 10 + ["b"] * 10)
    fitted = ExpressionAxis().fit(X, ["neutral"] * 10 + ["pain"] * 10)
    with pytest.raises(ValueError, match="at least 2 frames"):
        fitted.transform(X, baseline=X[:1])
