import pickle

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks
from threadpoolctl import threadpool_limits

from mouseface.expressions.classify import (
    CappedPCA,
    block_ids,
    cross_validate,
    make_classifier,
    make_splitter,
    permute_blocks,
    trial_features,
)


@pytest.fixture(autouse=True)
def one_thread():
    """As mouseface.workflows.analysis does: BLAS/OpenMP threads only slow these small jobs down."""
    with threadpool_limits(limits=1):
        yield

def correlated_trials(seed=0, n_animals=4, n_trials=12, n_frames=30, n_features=8,
                      classes=("a", "b", "c", "d")):
    """AR(1) features with a random offset per trial; labels constant within a trial and
    unrelated to the features: nothing to learn but the trial's identity."""
    rng = np.random.default_rng(seed)
    X, y, trial, animal = [], [], [], []
    for a in range(n_animals):
        labels = rng.permutation(np.resize(classes, n_trials))
        for t in range(n_trials):
            x = np.empty((n_frames, n_features))
            x[0] = rng.normal(size=n_features)
            for i in range(1, n_frames):
                x[i] = 0.9 * x[i - 1] + 0.3 * rng.normal(size=n_features)
            X.append(x + rng.normal(scale=2.0, size=n_features))
            y += [labels[t]] * n_frames
            trial += [a * n_trials + t] * n_frames
            animal += [a] * n_frames
    return np.concatenate(X), np.array(y), np.array(trial), np.array(animal)


def test_random_frame_cv_overstates_accuracy_grouped_splitters_do_not():
    X, y, trial, animal = correlated_trials()
    est = make_classifier("rf", n_components=None).set_params(clf__n_estimators=50)
    blocks = block_ids(trial, y)
    res = {}
    for split, groups in (("frame", trial), ("trial", trial), ("animal", animal)):
        cv = make_splitter(split, n_groups=len(np.unique(groups)))
        res[split] = cross_validate(est, X, y, groups, cv=cv, n_permutations=2, blocks=blocks)
    # random frames: the forest recognises each trial's offset, so it "classifies" noise
    assert res["frame"]["balanced_accuracy"] > 0.8
    # ... and the block-permutation null shows it: chance itself is inflated
    assert res["frame"]["chance"]["balanced_accuracy_mean"] > 0.6
    for split in ("trial", "animal"):
        assert res[split]["balanced_accuracy"] < 0.45, split
        assert res[split]["chance"]["balanced_accuracy_mean"] < 0.45, split


def test_folds_and_permutations_fitted_side_by_side_give_the_same_results():
    # a forest over PCA with permutations: every fit is the one it would be alone, so the
    # predictions, scores and chance level do not depend on how many run at once
    from sklearn.base import clone
    from sklearn.metrics import balanced_accuracy_score

    X, y, trial, _ = correlated_trials(seed=3, n_animals=2, n_trials=6, n_frames=12)
    X = np.hstack([X, X ** 2])
    est = make_classifier("rf", n_components=5).set_params(clf__n_estimators=20)
    cv = make_splitter("trial", n_groups=len(np.unique(trial)))
    one = cross_validate(est, X, y, trial, cv=cv, n_permutations=6)
    for n_jobs in (2, -1):
        assert cross_validate(est, X, y, trial, cv=cv, n_permutations=6, n_jobs=n_jobs) == one

    # ... and they are those of fitting fold after fold, permutation after permutation
    def one_by_one(labels):
        pred = np.empty(len(labels), dtype=object)
        for train, test in cv.split(X, labels, trial):
            pred[test] = clone(est).fit(X[train], labels[train]).predict(X[test])
        return pred.astype(labels.dtype)

    assert one["predictions"] == one_by_one(y).tolist()
    rng = np.random.default_rng(0)
    null = [balanced_accuracy_score(p, one_by_one(p))
            for p in (permute_blocks(y, block_ids(trial, y), rng) for _ in range(6))]
    assert one["chance"]["balanced_accuracy_mean"] == np.mean(null)


def test_cross_validate_separable_toy_set_reports_everything():
    rng = np.random.default_rng(1)
    n = 20
    y = np.repeat(["neutral", "pain", "pleasure"], n * 5)
    centres = {"neutral": 0.0, "pain": 4.0, "pleasure": -4.0}
    X = np.array([rng.normal(centres[c], 0.5, size=3) for c in y])
    groups = np.repeat(np.arange(15), n)
    res = cross_validate(make_classifier("logreg", n_components=None), X, y, groups,
                         n_permutations=5)
    assert res["classes"] == ["neutral", "pain", "pleasure"]
    assert res["balanced_accuracy"] == 1.0 and res["accuracy"] == 1.0
    assert np.array_equal(np.diag(res["confusion_matrix"]), [100, 100, 100])
    assert res["precision"] == {"neutral": 1.0, "pain": 1.0, "pleasure": 1.0}
    assert res["recall"]["pain"] == 1.0 and res["support"]["pain"] == 100
    assert res["chance"]["uniform"] == pytest.approx(1 / 3)
    assert res["chance"]["balanced_accuracy_mean"] < 0.7
    assert res["chance"]["p_value"] == pytest.approx(1 / 6)
    assert len(res["predictions"]) == len(y)
    assert sum(len(g) for g in res["fold_groups"]) == 15


def test_prototype_pipeline_rebuilds_prototypes_in_each_fold():
    rng = np.random.default_rng(2)
    base = np.abs(rng.normal(1, 0.3, 64))
    dirs = {"pain": rng.normal(size=64), "pleasure": rng.normal(size=64)}
    X, y, g = [], [], []
    for trial in range(18):
        c = ["pain", "pleasure"][trial % 2]
        X += [base + rng.normal(0, 0.05, (10, 64)),
              base * (1 + 0.5 * dirs[c]) + rng.normal(0, 0.05, (10, 64))]
        y += ["neutral"] * 10 + [c] * 10
        g += [trial] * 20
    X, y, g = np.vstack(X), np.array(y), np.array(g)
    est = make_classifier("rf", prototypes=True, n_frames=5)
    res = cross_validate(est, X, y, g, n_permutations=0)
    assert res["balanced_accuracy"] > 0.95
    assert est.steps[0][0] == "prototypes"


def test_permute_blocks_moves_whole_blocks_and_keeps_their_labels():
    y = np.array(["a"] * 3 + ["b"] * 2 + ["a"] * 4 + ["c"] * 1)
    blocks = np.array([0] * 3 + [1] * 2 + [2] * 4 + [3] * 1)
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(30):
        p = permute_blocks(y, blocks, rng)
        for b in range(4):
            assert len(set(p[blocks == b])) == 1
        assert sorted(p[[0, 3, 5, 9]]) == ["a", "a", "b", "c"]
        seen.add(tuple(p))
    assert len(seen) > 1


def test_trial_features_subtract_each_trials_baseline():
    X = np.arange(12, dtype=float).reshape(6, 2)
    event = np.array([0, 0, 0, 1, 1, -1])
    part = np.array(["baseline", "stimulus", "stimulus", "baseline", "stimulus", ""])
    F, ids = trial_features(X, event, part)
    assert ids.tolist() == [0, 1]
    np.testing.assert_allclose(F, [[3.0, 3.0], [2.0, 2.0]])


def test_make_classifier_and_splitter_reject_unknown_options():
    with pytest.raises(ValueError, match="classifier must be one of"):
        make_classifier("svm")
    with pytest.raises(ValueError, match="split must be one of"):
        make_splitter("session")
    assert type(make_splitter("animal", n_groups=3)).__name__ == "LeaveOneGroupOut"
    assert type(make_splitter("animal", n_groups=30)).__name__ == "GroupKFold"
    assert make_splitter("trial", n_groups=3).n_splits == 3


def test_cross_validate_needs_two_classes_and_matching_lengths():
    X = np.zeros((6, 2))
    with pytest.raises(ValueError, match="at least two classes"):
        cross_validate(make_classifier(n_components=None), X, ["a"] * 6)
    with pytest.raises(ValueError, match="differ in length"):
        cross_validate(make_classifier(n_components=None), X, ["a", "b"] * 2)


def test_classifier_pipeline_pickles():
    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(40, 20)), np.repeat(["a", "b"], 20)
    est = make_classifier("logreg", n_components=5).fit(X, y)
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.predict(X), est.predict(X))
    assert est.named_steps["pca"].pca_.n_components_ == 5


@parametrize_with_checks([CappedPCA(n_components=3)])
def test_capped_pca_is_a_scikit_learn_estimator(estimator, check):
    check(estimator)
