"""`run`'s scoring streams the stores: the same prototypes and trial scores as holding every
labelled frame in memory, while only a few frames per condition and trial are held."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.trials import crossfit_trial_scores
from mouseface.io.store import FeatureStore
from mouseface.workflows import scoring
from mouseface.workflows.settings import load_settings

FPS = 30.0
SHAPE = (4, 4, 8)


def _store(path, n: int, seed: int, onsets, kinds) -> FeatureStore:
    """HOG with a face that departs from neutral, by condition, in each stimulus window."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    x = rng.gamma(2.0, 0.1, size=(n, int(np.prod(SHAPE)))).astype(np.float32)
    for onset, kind in zip(onsets, kinds, strict=True):
        w = (t >= onset) & (t < onset + 2.0)
        bump = {"pain": slice(0, 20), "sucrose": slice(40, 60), "quinine": slice(80, 100)}[kind]
        x[np.flatnonzero(w)[:, None], np.arange(128)[bump]] += rng.uniform(0.2, 0.8,
                                                                            (w.sum(), 1))
    store = FeatureStore.open(path, n_frames=n, feature_shape=SHAPE, chunk_size=256,
                              params={}, fingerprint=str(seed))
    for i in range(store.n_chunks):
        lo, hi = store.chunk_range(i)
        store.write_chunk(i, x[lo:hi], t[lo:hi])
    store.finalize(n)
    return store


@pytest.fixture
def animal(tmp_path):
    """Two sessions of one animal, windows straddling the stores' read blocks, some frames
    flagged, overlapping trials, a condition with one trial."""
    kinds = ["pain", "sucrose", "quinine", "pain", "sucrose"] * 6
    rows, stores, quality = [], {}, {}
    for k, (session, n) in enumerate([("s1", 5000), ("s2", 3300)]):
        onsets = np.arange(3.0, n / FPS - 4.0, 5.3)[: len(kinds)]
        if session == "s2":
            onsets = np.r_[onsets[:3], onsets[2] + 1.0]  # a trial overlapping the one before
        kind = kinds[: len(onsets)] if session == "s1" else ["pain", "sucrose", "pain", "quinine"]
        stores[session] = _store(tmp_path / f"{session}.zarr", n, k, onsets, kind)
        rows += [{"session": session, "onset": o, "duration": 2.0, "trial_type": c}
                 for o, c in zip(onsets, kind, strict=True)]
        flag = np.random.default_rng(10 + k).random(n) < 0.1
        quality[session] = pd.DataFrame({"flag": flag})
    events = pd.DataFrame(rows)
    events["event"] = np.arange(len(events))
    sessions = pd.DataFrame({"session": ["s1", "s2"], "animal": "m1"})
    return stores, events, sessions, quality


@pytest.mark.parametrize("exclude_first", [False, True])
def test_streamed_scoring_equals_the_in_memory_one(animal, exclude_first):
    stores, events, sessions, quality = animal
    settings = load_settings(prototypes={"baseline": 2.0, "n_frames": 10})
    exclude = scoring._first_trials(events, sessions) if exclude_first else None

    X, y, trials = scoring._animal_frames(stores, events, settings, exclude, quality)
    expected = PrototypeModel(n_frames=10).fit(X, y)
    expected_scores, _ = crossfit_trial_scores(trials, n_frames=10,
                                               neutral=expected.prototypes_[0])

    frames = scoring._AnimalFrames(stores, events, settings, exclude, quality)
    assert frames.missing() == ""
    model, scores = frames.fit_and_crossfit(10)

    assert model.classes_.tolist() == expected.classes_.tolist()
    np.testing.assert_allclose(model.prototypes_, expected.prototypes_, rtol=0, atol=1e-12)
    pd.testing.assert_frame_equal(scores, expected_scores, check_exact=False, rtol=0,
                                  atol=1e-12)
    assert scores.filter(like="score_pain").notna().all().all()


def test_streamed_scoring_holds_a_few_frames_per_condition_and_trial(animal, monkeypatch):
    stores, events, sessions, quality = animal
    settings = load_settings(prototypes={"baseline": 2.0, "n_frames": 10})
    frames = scoring._AnimalFrames(stores, events, settings, None, quality)
    held = []
    original = scoring._LeastNeutral.add

    def add(self, x, r, order):
        original(self, x, r, order)
        held.append(len(self.x))

    monkeypatch.setattr(scoring._LeastNeutral, "add", add)
    frames.fit_and_crossfit(10)
    assert max(held) == 10  # never more than n_frames rows, whatever the session's length


def test_every_frame_flagged_is_said(animal):
    stores, events, sessions, quality = animal
    settings = load_settings(prototypes={"baseline": 2.0})
    flagged = {s: q.assign(flag=True) for s, q in quality.items()}
    frames = scoring._AnimalFrames(stores, events, settings, None, flagged)
    with pytest.warns(UserWarning, match="every .* frame is quality-flagged"):
        assert frames.missing() == "every labelled frame is flagged"
