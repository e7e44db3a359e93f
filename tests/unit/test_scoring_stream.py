"""`run`'s scoring streams the stores: the same prototypes and trial scores as holding every
labelled frame in memory, while only a few frames per condition and trial are held."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.trials import TrialFrames, crossfit_trial_scores
from mouseface.expressions.windows import label_frames, trial_frames
from mouseface.io.store import FeatureStore
from mouseface.settings import load_settings
from mouseface.workflows import scoring

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


def _in_memory(stores, events, settings, exclude, quality):
    """The reference: every labelled, unflagged frame of the animal and every frame of each
    trial's windows read at once (what scoring did before it streamed)."""
    baseline = settings.prototypes.baseline
    xs, ys, trials = [], [], []
    for session, store in stores.items():
        ev = events[events["session"] == session]
        if ev.empty:
            continue
        t = store.time
        ok = ~quality[session]["flag"].to_numpy(dtype=bool)[: len(t)]
        ex = None if exclude is None else exclude[ev.index.to_numpy()]
        labels, _ = label_frames(t, ev, baseline, exclude=ex)
        x = store.read()
        keep = (labels != "") & ok
        xs.append(x[keep])
        ys.append(labels[keep])
        for k, row in enumerate(ev.itertuples(index=False)):
            b, s_ = trial_frames(t, row.onset, row.duration, baseline)
            trials.append(TrialFrames(int(row.event), str(row.trial_type), x[b], x[s_],
                                      in_prototype=not (ex is not None and ex[k]),
                                      usable=ok[s_]))
    return np.concatenate(xs), np.concatenate(ys), trials


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

    X, y, trials = _in_memory(stores, events, settings, exclude, quality)
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


def _prepared(stores, events, sessions, quality):
    """What `prepare` hands the scoring stages, for these stores."""
    from types import SimpleNamespace

    return SimpleNamespace(sessions=sessions, events=events, stores=stores, quality=quality,
                           keep=None, labels=dict.fromkeys(stores),
                           frame_extras=lambda session, n: None)


def _two_animals(animal):
    stores, events, sessions, quality = animal
    return stores, events, sessions.assign(animal=["m1", "m2"]), quality


def test_transfer_partial_fit_over_blocks_is_the_definition():
    from mouseface.expressions.transfer import TransferModel, neutral_reference

    rng = np.random.default_rng(3)
    X = rng.gamma(2.0, 0.1, size=(900, 40))
    y = rng.choice(["neutral", "pain", "sucrose", ""], size=900)
    g = np.repeat(["a", "b", "c"], 300)
    X[y == "pain", :5] += 0.3
    expected = []
    for c in ("pain", "sucrose"):
        per_animal = []
        for a in ("a", "b", "c"):
            ref = neutral_reference(X[(g == a) & (y == "neutral")])
            per_animal.append(ref.difference(X[(g == a) & (y == c)]).mean(axis=0))
        expected.append(np.mean(per_animal, axis=0))

    model = TransferModel()
    for a in ("a", "b", "c"):  # each animal's baseline first, then its stimulus frames
        rows = np.flatnonzero(g == a)
        for part in (rows[y[rows] == "neutral"], rows[y[rows] != "neutral"]):
            for block in np.array_split(part, 4):
                model.partial_fit(X[block], y[block], groups=g[block])
    assert model.classes_.tolist() == ["neutral", "pain", "sucrose"]
    np.testing.assert_allclose(model.prototypes_[1:], expected, rtol=1e-10, atol=1e-12)
    whole = TransferModel().fit(X, y, groups=g)
    np.testing.assert_allclose(whole.prototypes_, model.prototypes_, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="n_frames=None"):
        TransferModel(n_frames=5).partial_fit(X, y, groups=g)
    with pytest.raises(ValueError, match="no baseline frames"):
        TransferModel().partial_fit(X[y == "pain"], y[y == "pain"])


def test_streamed_fit_and_score_equal_the_in_memory_ones(animal):
    from mouseface.expressions.transfer import TransferModel, transfer_trial_scores
    from mouseface.expressions.trials import trial_scores

    stores, events, sessions, quality = _two_animals(animal)
    settings = load_settings(prototypes={"baseline": 2.0, "mode": "transfer"})
    p = _prepared(stores, events, sessions, quality)
    per = {a: _in_memory({s: stores[s]}, events, settings, None, quality)
           for a, s in (("m1", "s1"), ("m2", "s2"))}

    mode, model = scoring.fit_model(p, settings, "events.csv")
    X = np.concatenate([per[a][0] for a in per])
    y = np.concatenate([per[a][1] for a in per])
    g = np.concatenate([np.full(len(per[a][1]), a, dtype=object) for a in per])
    expected = TransferModel().fit(X, y, groups=g)
    assert mode == "transfer"
    np.testing.assert_allclose(model.prototypes_, expected.prototypes_, rtol=1e-9, atol=1e-12)

    saved = {"transfer": (list(model.classes_), model.prototypes_)}
    frames, scores, _ = scoring.apply_model(p, saved, {"mode": "transfer",
                                                       "feature_shape": list(SHAPE)},
                                            settings, "model", "events.csv", "sessions.csv")
    X1, y1, trials1 = per["m1"]
    ref = model.reference(X1[y1 == "neutral"])
    want = transfer_trial_scores(model, trials1, ref)
    pd.testing.assert_frame_equal(scores[0], want, check_exact=False, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(frames[0].filter(like="sim_").to_numpy(float),
                               model.transform(stores["s1"].read(), baseline=ref), atol=1e-6)

    pooled = {"pooled": (list(model.classes_), model.prototypes_)}
    _, scores, _ = scoring.apply_model(p, pooled, {"mode": "pooled",
                                                   "feature_shape": list(SHAPE)},
                                       settings, "model", "events.csv", "sessions.csv")
    own = model.prototypes_.copy()
    own[0] = X1[y1 == "neutral"].astype(np.float64).mean(axis=0)
    want = trial_scores(trials1, own, list(model.classes_))
    pd.testing.assert_frame_equal(scores[0], want, check_exact=False, rtol=1e-9, atol=1e-12)


def test_pooled_fit_is_the_estimator_on_every_labelled_frame(animal):
    stores, events, sessions, quality = _two_animals(animal)
    settings = load_settings(prototypes={"baseline": 2.0, "mode": "pooled"})
    p = _prepared(stores, events, sessions, quality)
    mode, model = scoring.fit_model(p, settings, "events.csv")
    per = [_in_memory({s: stores[s]}, events, settings, None, quality) for s in ("s1", "s2")]
    X = np.concatenate([x for x, _, _ in per])
    y = np.concatenate([y for _, y, _ in per])
    g = np.repeat(["m1", "m2"], [len(y) for _, y, _ in per])
    expected = PrototypeModel(n_frames=10).fit(X, y, groups=g)
    assert mode == "pooled"
    assert model.classes_.tolist() == expected.classes_.tolist()
    np.testing.assert_allclose(model.prototypes_, expected.prototypes_, rtol=0, atol=1e-12)


def test_pooled_fit_of_an_animal_without_baseline_frames_says_so(animal):
    from mouseface._errors import InputError

    stores, events, sessions, quality = _two_animals(animal)
    settings = load_settings(prototypes={"baseline": 2.0, "mode": "pooled"})
    labels, _ = label_frames(stores["s2"].time, events[events["session"] == "s2"], 2.0)
    flagged = dict(quality, s2=quality["s2"].assign(flag=labels == "neutral"))
    with pytest.raises(InputError, match="group 'm2' has .* frames but no baseline frames"):
        scoring.fit_model(_prepared(stores, events, sessions, flagged), settings, "events.csv")


@pytest.mark.parametrize("masked", [False, True])
def test_streamed_grades_are_the_expression_axis_refitted_without_each_trial(animal, masked):
    """The run's ``grade_`` columns: per trial, ExpressionAxis fitted on every kept labelled
    frame but the trial's own, in units of the baseline spread on the full axis; with a mask the
    stores yield only the kept HOG entries."""
    from mouseface.expressions.intensity import ExpressionAxis
    from mouseface.expressions.trials import window_scores
    from mouseface.workflows.prepare import MaskedStore

    stores, events, sessions, quality = animal
    if masked:
        keep = np.ones(int(np.prod(SHAPE)), bool)
        keep[::5] = False
        stores = {s: MaskedStore(st, keep) for s, st in stores.items()}
    settings = load_settings(prototypes={"baseline": 2.0, "n_frames": 10})
    frames = scoring._AnimalFrames(stores, events, settings, None, quality)
    axis, grades = frames.grade()

    X, y, _ = _in_memory(stores, events, settings, None, quality)
    X = X.astype(np.float64)
    full = ExpressionAxis().fit(X, y)
    np.testing.assert_allclose(axis.axes_, full.axes_, atol=1e-12)
    np.testing.assert_allclose(axis.scale_, full.scale_, rtol=1e-9)
    for tr in frames.trials:
        x = stores[tr["session"]].read().astype(np.float64)
        labels = frames.labels[tr["session"]]
        mine = np.zeros(len(labels), bool)
        mine[tr["stimulus"]] = True
        c = tr["condition"]
        j = list(full.classes_).index(c)
        # rebuild the condition's mean without the trial's kept frames of its condition
        kept = frames.keep[tr["session"]] & (labels == c) & mine
        rest_sum = X[y == c].sum(axis=0) - x[kept].sum(axis=0)
        rest_mean = rest_sum / ((y == c).sum() - kept.sum())
        axis_k = (rest_mean - full.neutral_) / np.linalg.norm(rest_mean - full.neutral_)
        trace = (x - full.neutral_) @ axis_k / full.scale_[j]
        want = window_scores(trace[tr["baseline"], None], trace[tr["stimulus"], None])
        got = grades.loc[tr["event"]]
        assert got[f"grade_{c}"] == pytest.approx(want["peak"][0], abs=1e-9)
        assert got[f"grade_mean_{c}"] == pytest.approx(want["score"][0], abs=1e-9)


def test_stores_read_once_give_what_the_disk_gives(animal):
    """`prepare`'s stores keep their masked blocks after a whole read, within one budget:
    the grades come out the same, later reads hand back the kept (read-only) blocks, and a
    store the budget cannot hold is read from disk each time."""
    from mouseface.workflows.prepare import MaskedStore, _Budget

    stores, events, _, quality = animal
    keep = np.ones(int(np.prod(SHAPE)), bool)
    keep[::3] = False
    settings = load_settings(prototypes={"baseline": 2.0, "n_frames": 10})
    plain = {s: MaskedStore(st, keep) for s, st in stores.items()}
    one = next(iter(stores.values()))
    size = one.n_frames * int(keep.sum()) * 4
    budget = _Budget(size)  # room for one of the two stores
    cached = {s: MaskedStore(st, keep, budget) for s, st in stores.items()}
    want = scoring._AnimalFrames(plain, events, settings, None, quality).grade()[1]
    got = scoring._AnimalFrames(cached, events, settings, None, quality).grade()[1]
    pd.testing.assert_frame_equal(got, want)
    held = [st for st in cached.values() if st._blocks is not None]
    assert len(held) == 1 and budget.left == 0
    first, again = list(held[0].iter_blocks()), list(held[0].iter_blocks())
    assert all(a[1] is b[1] and not a[1].flags.writeable for a, b in zip(first, again,
                                                                          strict=True))
    np.testing.assert_array_equal(np.concatenate([x for _, x in first]),
                                  held[0].store.read()[:, keep])
    other = next(st for st in cached.values() if st._blocks is None)
    assert next(other.iter_blocks())[1].flags.writeable
