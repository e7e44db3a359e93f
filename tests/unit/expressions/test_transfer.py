"""Transfer mode: difference prototypes carry over to animals the model never saw."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone

from mouseface import hog
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.transfer import (
    NeutralReference,
    TransferModel,
    neutral_reference,
    transfer_trial_scores,
)
from mouseface.expressions.trials import TrialFrames
from mouseface.features.drift import reference_face
from mouseface.features.similarity_fit import estimate_similarity_transform
from mouseface.features.warp import warp_frames
from mouseface.synth import Pose, make_animal, render_face

CONDITIONS = ("pain", "disgust", "pleasure")


def _toy(rng, n_animals=4, d=40, n=30):
    """Animals with very different faces; each condition adds the same change to any face."""
    change = {c: rng.normal(0, 1, d) for c in CONDITIONS}
    X, y, g = [], [], []
    for a in range(n_animals):
        face = rng.random(d) * 5
        for label in ("neutral", *CONDITIONS):
            delta = 0 if label == "neutral" else change[label]
            X.append(face + delta + rng.normal(0, 0.8, (n, d)))
            y += [label] * n
            g += [f"a{a}"] * n
    return np.vstack(X), np.array(y), np.array(g)


def test_toy_transfer_beats_pooled_raw_prototypes():
    rng = np.random.default_rng(0)
    X, y, g = _toy(rng)
    train, test = g != "a3", g == "a3"
    model = TransferModel().fit(X[train], y[train], groups=g[train])
    assert model.classes_.tolist() == ["neutral", "disgust", "pain", "pleasure"]
    assert model.prototypes_.shape == (4, 40)
    base = test & (y == "neutral")
    pred = model.predict(X[test], baseline=X[base])
    stim = y[test] != "neutral"
    acc = (pred[stim] == y[test][stim]).mean()
    assert acc >= 0.95
    # the change from neutral is measured on the change, not on the face: a larger shift in
    # similarity than the pooled raw prototype gives
    pooled = PrototypeModel(n_frames=10).fit(X[train], y[train], groups=g[train])
    j = model.classes_.tolist().index("pain")
    s_t = model.transform(X[test], baseline=X[base])[:, j]
    s_p = pooled.transform(X[test])[:, j]
    yt = y[test]
    assert (s_t[yt == "pain"].mean() - s_t[yt == "neutral"].mean()
            > 1.5 * (s_p[yt == "pain"].mean() - s_p[yt == "neutral"].mean()))


def test_transform_forms_agree_and_groups():
    rng = np.random.default_rng(1)
    X, y, g = _toy(rng)
    model = TransferModel().fit(X, y, groups=g)
    rows = g == "a1"
    Xa, base = X[rows], y[rows] == "neutral"
    by_frames = model.transform(Xa, baseline=Xa[base])
    by_mask = model.transform(Xa, baseline=base)
    by_ref = model.transform(Xa, baseline=model.reference(Xa[base]))
    assert np.allclose(by_frames, by_mask) and np.allclose(by_frames, by_ref)
    both = model.transform(X, baseline=y == "neutral", groups=g)
    assert np.allclose(both[rows], by_frames)
    # neutral column: Pearson r of the raw frame with the animal's neutral mean
    r = np.corrcoef(Xa[0], Xa[base].mean(axis=0))[0, 1]
    assert by_frames[0, 0] == pytest.approx(r)
    # baseline frames sit near 0 on every condition
    assert np.abs(by_frames[base, 1:].mean(axis=0)).max() < 0.1


def test_options_and_estimator_conventions():
    rng = np.random.default_rng(2)
    X, y, g = _toy(rng, n_animals=2)
    m = TransferModel(n_frames=5, standardize=False, control="pleasure")
    assert clone(m).get_params() == m.get_params()
    m.fit(X, y, groups=g)
    assert np.allclose(m.prototypes_[m.classes_.tolist().index("pleasure")],
                       TransferModel(n_frames=5, standardize=False).fit(X, y, groups=g)
                       .prototypes_[3])
    again = pickle.loads(pickle.dumps(m))
    assert np.array_equal(again.transform(X[:5], baseline=X[:30]),
                          m.transform(X[:5], baseline=X[:30]))
    saved = TransferModel.from_prototypes(m.classes_, m.prototypes_, standardize=False)
    assert np.allclose(saved.transform(X[:5], baseline=X[:30]),
                       m.transform(X[:5], baseline=X[:30]))
    ref = neutral_reference(X[:30], standardize=False)
    assert isinstance(ref, NeutralReference) and np.all(ref.scale == 1)


def test_bad_input():
    rng = np.random.default_rng(3)
    X, y, g = _toy(rng, n_animals=1)
    with pytest.raises(ValueError, match="no baseline frames"):
        TransferModel().fit(X[y != "neutral"], y[y != "neutral"])
    with pytest.raises(ValueError, match="control condition"):
        TransferModel(control="sucrose").fit(X, y)
    with pytest.raises(ValueError, match="n_frames"):
        TransferModel(n_frames=0).fit(X, y)
    with pytest.raises(ValueError, match="has stimulus frames but no baseline"):
        TransferModel().fit(X, y, groups=np.where(y == "neutral", "a", "b"))
    model = TransferModel().fit(X, y)
    with pytest.raises(ValueError, match="own neutral face"):
        model.transform(X, baseline=np.zeros((0, X.shape[1])))
    with pytest.raises(ValueError, match="mask has"):
        model.transform(X, baseline=np.ones(3, bool))


def test_transfer_trial_scores():
    rng = np.random.default_rng(4)
    X, y, g = _toy(rng)
    model = TransferModel().fit(X[g != "a0"], y[g != "a0"], groups=g[g != "a0"])
    a0 = X[g == "a0"]
    ya = y[g == "a0"]
    base = a0[ya == "neutral"]
    trials = [TrialFrames(i, c, base[:10], a0[ya == c][:15]) for i, c in enumerate(CONDITIONS)]
    s = transfer_trial_scores(model, trials, base)
    for i, c in enumerate(CONDITIONS):
        others = [f"score_{o}" for o in CONDITIONS if o != c]
        assert s.loc[i, f"score_{c}"] > s.loc[i, others].max()


def test_synthetic_held_out_animals():
    """Acceptance (small version): trial classification of held-out synthetic animals with
    their own face shapes and head offsets, after registration, >= 90 %."""
    rng = np.random.default_rng(5)
    size, roi = (96, 96), (6, 6, 84, 84)
    hp = {"orientations": 8, "pixels_per_cell": (12, 12)}
    conditions = ("pain", "disgust", "pleasure", "passive_fear")
    animals = [make_animal(np.random.default_rng([11, a])) for a in range(4)]
    data = []
    for a, animal in enumerate(animals):
        # one head placement per animal: an offset and a rotation
        dx, dy, rot = rng.uniform(-3, 3), rng.uniform(-3, 3), rng.uniform(-2, 2)

        def render(state, k, animal=animal, dx=dx, dy=dy, rot=rot):
            return render_face(state, k, size=size, animal=animal, noise_std=2.5, rng=rng,
                               pose=Pose(dx + rng.normal(0, 0.2), dy + rng.normal(0, 0.2),
                                         rot))

        neutral = np.stack([render("neutral", 0.0) for _ in range(24)])
        trials = []
        for c in conditions:
            for _ in range(3):
                amp = rng.uniform(0.5, 1.0)
                trials.append((c, np.stack([render(c, amp * rng.uniform(0.7, 1))
                                            for _ in range(8)])))
        data.append((a, neutral, trials))
    template = reference_face(data[0][1])
    feats = []
    for a, neutral, trials in data:
        tf = estimate_similarity_transform(reference_face(neutral), template, roi=roi)
        feats.append((a, hog(warp_frames(neutral, tf, None), **hp),
                      [(c, hog(warp_frames(f, tf, None), **hp)) for c, f in trials]))
    correct = []
    for test in range(4):
        X, y, g = [], [], []
        for a, neutral, trials in feats:
            if a == test:
                continue
            X.append(neutral)
            y += ["neutral"] * len(neutral)
            g += [a] * len(neutral)
            for c, f in trials:
                X.append(f)
                y += [c] * len(f)
                g += [a] * len(f)
        model = TransferModel().fit(np.vstack(X), np.array(y), groups=np.array(g))
        _, neutral, trials = feats[test]
        ref = model.reference(neutral)
        for c, f in trials:
            s = (model.transform(f, baseline=ref).mean(axis=0)
                 - model.transform(neutral, baseline=ref).mean(0))
            correct.append(model.classes_[1:][np.argmax(s[1:])] == c)
    assert np.mean(correct) >= 0.9, np.mean(correct)
