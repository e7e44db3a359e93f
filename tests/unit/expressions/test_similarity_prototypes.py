import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.model_selection import GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from mouseface.expressions.prototypes import PrototypeModel, emotion_prototype, least_neutral_frames
from mouseface.expressions.similarity import similarity
from mouseface.expressions.trials import TrialFrames, crossfit_trial_scores
from mouseface.expressions.windows import label_frames


def test_similarity_equals_corrcoef_row_by_row():
    rng = np.random.default_rng(1)
    x = rng.random((40, 96)).astype(np.float32)
    p = rng.random((5, 96))
    r = similarity(x, p)
    ref = np.array([[np.corrcoef(xi, pj)[0, 1] for pj in p] for xi in x])
    assert np.max(np.abs(r - ref)) <= 1e-6


def test_similarity_constant_frame_is_nan_and_shape_mismatch_raises():
    r = similarity(np.ones((1, 8)), np.arange(8.0)[None])
    assert np.isnan(r).all()
    with pytest.raises(ValueError, match="same HOG parameters"):
        similarity(np.ones((2, 8)), np.ones((1, 9)))


def test_emotion_prototype_takes_frames_least_like_neutral():
    rng = np.random.default_rng(2)
    neutral = rng.random(64)
    frames = neutral + 0.01 * rng.normal(size=(30, 64))
    far = [3, 11, 17]
    frames[far] = rng.random((3, 64))  # unrelated faces: least correlated with neutral
    assert sorted(least_neutral_frames(frames, neutral, 3).tolist()) == far
    np.testing.assert_allclose(emotion_prototype(frames, neutral, 3), frames[far].mean(0))


def _toy(rng, n=50, d=32):
    base = rng.random(d)
    shift = {"pain": np.r_[np.ones(4), np.zeros(d - 4)], "sucrose": np.r_[np.zeros(d - 4),
                                                                          np.ones(4)]}
    X, y = [], []
    for label in ["neutral", "pain", "sucrose"]:
        X.append(base + shift.get(label, 0) + 0.05 * rng.normal(size=(n, d)))
        y += [label] * n
    return np.vstack(X), np.array(y)


def test_prototype_model_is_a_working_estimator():
    rng = np.random.default_rng(3)
    X, y = _toy(rng)
    model = PrototypeModel(n_frames=5).fit(X, y)
    assert model.classes_.tolist() == ["neutral", "pain", "sucrose"]
    assert model.prototypes_.shape == (3, X.shape[1])
    assert (model.predict(X) == y).mean() > 0.95
    assert clone(model).get_params() == {"n_frames": 5, "neutral_label": "neutral",
                                         "ignore_label": ""}
    pipe = make_pipeline(FunctionTransformer(), PrototypeModel(n_frames=5))
    groups = np.tile(np.arange(10), len(y) // 10)
    scores = cross_val_score(pipe, X, y, groups=groups, cv=GroupKFold(5))
    assert scores.mean() > 0.9


def test_prototype_model_checks():
    with pytest.raises(ValueError, match="no baseline frames"):
        PrototypeModel().fit(np.ones((3, 4)), ["a", "a", "b"])
    with pytest.raises(ValueError, match="n_frames"):
        PrototypeModel(n_frames=0).fit(np.ones((3, 4)), ["neutral", "a", "b"])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PrototypeModel().transform(np.ones((3, 4)))


def test_grouped_fit_measures_departure_against_each_animals_neutral():
    rng = np.random.default_rng(4)
    d = 40
    X, y, g = [], [], []
    for animal in range(2):
        neutral = rng.random(d)
        X += [neutral + 0.01 * rng.normal(size=(20, d))]
        y += ["neutral"] * 20
        stim = neutral + 0.01 * rng.normal(size=(20, d))
        stim[:3, :5] += 2.0  # three expressive frames per animal
        X += [stim]
        y += ["pain"] * 20
        g += [animal] * 40
    model = PrototypeModel(n_frames=3).fit(np.vstack(X), np.array(y), groups=np.array(g))
    expressive = np.vstack([X[1][:3], X[3][:3]]).mean(0)
    np.testing.assert_allclose(model.prototypes_[1], expressive)


def test_label_frames_windows():
    t = np.arange(0, 10, 0.5)
    ev = pd.DataFrame({"onset": [3.0, 7.0], "duration": [1.0, 1.0],
                       "trial_type": ["pain", "sucrose"], "event": [0, 1]})
    labels, ev_of = label_frames(t, ev, baseline=1.0)
    assert labels[t == 2.0][0] == "neutral" and labels[t == 2.5][0] == "neutral"
    assert labels[t == 3.0][0] == "pain" and labels[t == 3.5][0] == "pain"
    assert labels[t == 4.0][0] == ""
    assert labels[t == 7.5][0] == "sucrose" and ev_of[t == 7.5][0] == 1
    excl, _ = label_frames(t, ev, baseline=1.0, exclude=np.array([True, False]))
    assert excl[t == 3.0][0] == ""


def test_crossfit_never_uses_a_trials_own_frames():
    """A trial whose frames alone carry a feature must not score high on its own condition."""
    rng = np.random.default_rng(5)
    d = 48
    neutral = rng.random(d)

    def frames(n, bump=None):
        x = neutral + 0.02 * rng.normal(size=(n, d))
        if bump is not None:
            x[:, bump] += 1.0
        return x

    trials = [TrialFrames(0, "pain", frames(10), frames(10, bump=slice(0, 6)))]
    # The other pain trials express something else entirely.
    trials += [TrialFrames(k, "pain", frames(10), frames(10, bump=slice(30, 36)))
               for k in (1, 2, 3)]
    scores, names = crossfit_trial_scores(trials, n_frames=5)
    assert names == ["neutral", "pain"]
    honest = scores.loc[0, "score_pain"]
    # Scoring with a prototype that includes trial 0 would reward it: check that it is not.
    leaky = emotion_prototype(np.concatenate([t.stimulus for t in trials]), neutral, 40)
    r_leaky = similarity(trials[0].stimulus, leaky[None]).mean() - similarity(
        trials[0].baseline, leaky[None]).mean()
    assert honest < r_leaky
    assert scores.loc[1:3, "score_pain"].min() > honest


def test_a_weighted_neutral_row_stands_for_the_frames_it_averages():
    rng = np.random.default_rng(5)
    X = rng.gamma(2.0, 0.1, size=(120, 24))
    y = np.repeat(["neutral", "pain", "neutral", "pain"], 30)
    g = np.repeat(["a", "b"], 60)
    X[y == "pain", :4] += 0.4
    full = PrototypeModel(n_frames=5).fit(X, y, groups=g)
    rows, labels, groups, weights = [], [], [], []
    for a in ("a", "b"):
        base = X[(g == a) & (y == "neutral")]
        rows += [base.mean(axis=0)[None], X[(g == a) & (y == "pain")]]
        labels += ["neutral", *["pain"] * 30]
        groups += [a] * 31
        weights += [len(base), *[1.0] * 30]
    summary = PrototypeModel(n_frames=5).fit(np.vstack(rows), np.array(labels),
                                             groups=np.array(groups), sample_weight=weights)
    np.testing.assert_allclose(summary.prototypes_, full.prototypes_, rtol=0, atol=1e-12)
