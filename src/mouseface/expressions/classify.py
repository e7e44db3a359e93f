"""Cross-validated classification of frames and trials that never leaks.

Neighbouring video frames are nearly copies of each other, and every trial has its own offset
(head position, lighting, the animal's state). A classifier tested on random frames therefore
meets, in its test set, near-copies of its training frames and can recognise the trial instead
of the expression: accuracy is overstated. Here every frame carries a group, all frames of a
group are held out together:

- ``split="trial"``: the frames of a trial (its stimulus *and* baseline windows) stay together
  (:class:`~sklearn.model_selection.StratifiedGroupKFold`);
- ``split="animal"``: all frames of an animal stay together
  (:class:`~sklearn.model_selection.LeaveOneGroupOut`);
- ``split="frame"``: random frames (:class:`~sklearn.model_selection.KFold`), only to show the
  leak.

The chance level comes from the same cross-validation repeated on permuted labels. Labels are
permuted by block (one block = the frames of one group with one label), so the permuted data keep
the temporal structure that makes leaks possible; permuting single frames would not.
:func:`sklearn.model_selection.permutation_test_score` permutes *within* groups, which leaves
trial-constant labels unchanged, hence the own loop.
"""

from __future__ import annotations

import functools
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.model_selection import (
    GroupKFold,
    KFold,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
)
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data

from mouseface.expressions.prototypes import NEUTRAL, PrototypeModel

CLASSIFIERS = ("rf", "logreg")
SPLITS = ("trial", "animal", "frame")


def make_classifier(
    classifier: str = "rf", *, n_components: int | None = 50, prototypes: bool = False,
    n_frames: int = 10, random_state: int = 0,
) -> Pipeline:
    """A scikit-learn Pipeline: optional prototypes or PCA, then the classifier.

    Parameters
    ----------
    classifier : {"rf", "logreg"}, default="rf"
        Random forest (200 trees, balanced class weights) or multinomial logistic regression
        (standardised inputs, balanced class weights).
    n_components : int or None, default=50
        PCA components (fitted inside each training fold); ``None`` for no PCA (similarity
        vectors are short already). Capped at the training set's size when fitting.
    prototypes : bool, default=False
        Start with a :class:`~mouseface.expressions.prototypes.PrototypeModel` fitted on the
        training frames (labels ``neutral`` and the conditions), so that the classifier sees
        similarities to prototypes that never saw a test frame. Replaces PCA.
    n_frames : int, default=10
        ``n_frames`` of the PrototypeModel.
    random_state : int, default=0
        Seed of the forest and the PCA solver.

    Returns
    -------
    Pipeline
    """
    if classifier not in CLASSIFIERS:
        raise ValueError(f"classifier must be one of {CLASSIFIERS}, got {classifier!r}")
    steps = []
    if prototypes:
        steps.append(("prototypes", PrototypeModel(n_frames=n_frames)))
    elif n_components:
        steps.append(("pca", CappedPCA(n_components, random_state=random_state)))
    if classifier == "rf":
        steps.append(("clf", RandomForestClassifier(
            n_estimators=200, min_samples_leaf=2, class_weight="balanced", n_jobs=1,
            random_state=random_state)))
    else:
        steps += [("scale", StandardScaler()),
                  ("clf", LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000))]
    return Pipeline(steps)


class CappedPCA(TransformerMixin, BaseEstimator):
    """PCA with at most ``n_components``, fewer when the training data have fewer samples
    or features (a fold of a small data set).

    Attributes
    ----------
    pca_ : PCA
        The fitted PCA.
    """

    def __init__(self, n_components: int = 50, *, random_state: int | None = 0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X, y=None):
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        if not (isinstance(self.n_components, int | np.integer) and self.n_components > 0):
            raise ValueError(f"n_components must be a positive integer, got "
                             f"{self.n_components!r}")
        n = int(min(self.n_components, *X.shape))
        self.pca_ = PCA(n_components=n, random_state=self.random_state).fit(X)
        return self

    def transform(self, X):
        check_is_fitted(self, "pca_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return self.pca_.transform(X)


def make_splitter(split: str = "trial", *, n_splits: int = 5, n_groups: int | None = None,
                  random_state: int = 0):
    """The cross-validation splitter of ``split`` (see the module notes).

    ``split="animal"`` leaves one animal out when there are at most 10 (``n_groups``), else
    uses :class:`~sklearn.model_selection.GroupKFold`. ``split="trial"`` is stratified by
    label and shuffled with ``random_state``.
    """
    if split == "trial":
        n = n_splits if n_groups is None else max(2, min(n_splits, n_groups))
        return StratifiedGroupKFold(n_splits=n, shuffle=True, random_state=random_state)
    if split == "animal":
        if n_groups is not None and n_groups > 10:
            return GroupKFold(n_splits=n_splits)
        return LeaveOneGroupOut()
    if split == "frame":
        return KFold(n_splits=n_splits, shuffle=True, random_state=random_state)
    raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def permute_blocks(y: np.ndarray, blocks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``y`` with the labels of whole blocks shuffled among blocks.

    Each block (the samples sharing a ``blocks`` value) must carry one label; it receives the
    label of another block, so class frequencies over blocks and all within-block structure
    are kept.
    """
    y = np.asarray(y)
    _, first, inverse = np.unique(blocks, return_index=True, return_inverse=True)
    labels = y[first]
    return labels[rng.permutation(len(labels))][inverse]


def block_ids(groups: np.ndarray, y: np.ndarray) -> np.ndarray:
    """One id per (group, label) pair: the unit the permutation null shuffles."""
    pairs = np.char.add(np.char.add(np.asarray(groups).astype(str), "\x1f"),
                        np.asarray(y).astype(str))
    return np.unique(pairs, return_inverse=True)[1]


def _folds(X, y, groups, cv) -> list[tuple[np.ndarray, np.ndarray]]:
    """``cv``'s (train, test) splits, checked: every training fold holds two classes and the
    test sets cover every sample (else ValueError)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        warnings.filterwarnings("ignore", message=".*members, which is less than n_splits.*")
        warnings.filterwarnings("ignore", message="The groups parameter is ignored")
        splits = list(cv.split(X, y, groups))
    seen = np.zeros(len(y), dtype=bool)
    for train, test in splits:
        if len(np.unique(y[train])) < 2:
            raise ValueError("a training fold holds a single class: too few groups per class "
                             "for this split")
        seen[test] = True
    if not seen.all():
        raise ValueError("the splitter left samples untested; use a splitter whose test sets "
                         "cover every sample once")
    return splits


def _fit_predict(estimator, X, y, train, test) -> np.ndarray:
    return clone(estimator).fit(X[train], y[train]).predict(X[test])


def _predict_all(estimator, X, labels: list[tuple[np.ndarray, list]], n_jobs: int | None
                 ) -> list[np.ndarray]:
    """Out-of-fold predictions for each ``(y, folds)`` of ``labels``: every fold's fit, of
    every labelling, side by side on ``n_jobs`` threads (:func:`mouseface._parallel.
    side_by_side`: each fit is what it would be alone, so the predictions do not depend on
    ``n_jobs``)."""
    from mouseface._parallel import side_by_side

    tasks = [(i, y, train, test) for i, (y, folds) in enumerate(labels)
             for train, test in folds]
    got = side_by_side([functools.partial(_fit_predict, estimator, X, y, train, test)
                        for _, y, train, test in tasks], n_jobs)
    preds = [np.empty(len(y), dtype=object) for y, _ in labels]
    for (i, _, _, test), p in zip(tasks, got, strict=True):
        preds[i][test] = p
    return [p.astype(y.dtype) for p, (y, _) in zip(preds, labels, strict=True)]


def _predict(estimator, X, y, groups, cv, n_jobs: int | None = None
             ) -> tuple[np.ndarray, list[np.ndarray]]:
    folds = _folds(X, y, groups, cv)
    return _predict_all(estimator, X, [(y, folds)], n_jobs)[0], [test for _, test in folds]


def cross_validate(
    estimator, X, y, groups=None, *, cv=None, n_permutations: int = 20, blocks=None,
    classes=None, random_state: int = 0, n_jobs: int | None = None,
) -> dict:
    """Cross-validated predictions, scores, confusion matrix and a permutation chance level.

    Parameters
    ----------
    estimator : scikit-learn classifier or Pipeline
        Cloned and refitted in every fold (e.g. from :func:`make_classifier`).
    X : ndarray, shape (n_samples, n_features)
    y : array-like of str, shape (n_samples,)
    groups : array-like, shape (n_samples,), optional
        Trial or animal of each sample, passed to ``cv.split``.
    cv : splitter, default=StratifiedGroupKFold(5) on ``groups``
        Its test sets must cover every sample exactly once.
    n_permutations : int, default=20
        Cross-validation repeats with labels permuted by block; 0 skips the chance estimate.
    blocks : array-like, shape (n_samples,), optional
        Permutation units; default one per (group, label) pair (:func:`block_ids`).
    classes : sequence of str, optional
        Order of classes in the outputs; default ``neutral`` first, then sorted.
    random_state : int, default=0
        Seed of the permutations.
    n_jobs : int, optional
        Folds (and, for the chance level, permutations) fitted side by side on this many
        threads, as joblib counts them (-1: every core; None: one). The results do not depend
        on it.

    Returns
    -------
    dict
        ``classes``; ``n_samples``; ``n_groups``; ``n_splits``; ``accuracy`` and
        ``balanced_accuracy`` of the pooled out-of-fold predictions; ``fold_balanced_accuracy``
        (per test fold, e.g. per held-out animal); ``fold_groups`` (the groups of each test
        fold, at most 20 listed); ``confusion_matrix`` (counts, rows = true
        class, columns = predicted, in ``classes`` order); ``precision``, ``recall``,
        ``support`` (per class, dicts); ``chance`` with ``uniform`` (1 / number of classes),
        ``n_permutations``, ``balanced_accuracy_mean``, ``balanced_accuracy_sd``,
        ``balanced_accuracy_p95``, ``accuracy_mean``, and ``p_value`` = (1 + permutations
        scoring at least the real balanced accuracy) / (1 + n_permutations); and
        ``predictions`` (the out-of-fold prediction of every sample, as a list).
    """
    X = np.asarray(X)
    y = np.asarray(y).astype(str)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    if len(y) != len(X) or len(groups) != len(y):
        raise ValueError(f"X, y and groups differ in length: {len(X)}, {len(y)}, {len(groups)}")
    present = np.unique(y)
    if len(present) < 2:
        raise ValueError(f"need at least two classes, got {present.tolist()}")
    if classes is None:
        classes = ([NEUTRAL] if NEUTRAL in present else []) + sorted(
            c for c in present if c != NEUTRAL)
    classes = [str(c) for c in classes]
    if cv is None:
        cv = make_splitter("trial", n_groups=len(np.unique(groups)))
    pred, tests = _predict(estimator, X, y, groups, cv, n_jobs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fold_bacc = [float(balanced_accuracy_score(y[t], pred[t])) for t in tests]
    prec, rec, _, support = precision_recall_fscore_support(
        y, pred, labels=classes, zero_division=0)
    result = {
        "classes": classes,
        "n_samples": len(y),
        "n_groups": len(np.unique(groups)),
        "n_splits": len(tests),
        "accuracy": float(accuracy_score(y, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)),
        "fold_balanced_accuracy": fold_bacc,
        "fold_groups": [sorted(map(str, np.unique(groups[t])))[:20] for t in tests],
        "confusion_matrix": confusion_matrix(y, pred, labels=classes).tolist(),
        "precision": dict(zip(classes, map(float, prec), strict=True)),
        "recall": dict(zip(classes, map(float, rec), strict=True)),
        "support": dict(zip(classes, map(int, support), strict=True)),
    }
    result["chance"] = permutation_chance(
        estimator, X, y, groups, cv=cv, n_permutations=n_permutations, blocks=blocks,
        observed=result["balanced_accuracy"], n_classes=len(classes),
        random_state=random_state, n_jobs=n_jobs)
    result["predictions"] = pred.tolist()
    return result


def permutation_chance(
    estimator, X, y, groups, *, cv, n_permutations: int = 20, blocks=None,
    observed: float | None = None, n_classes: int | None = None, random_state: int = 0,
    n_jobs: int | None = None,
) -> dict:
    """Chance level: the same cross-validation on labels permuted by block.

    See :func:`cross_validate` for the parameters and the returned keys. A permutation
    that leaves a training fold with one class is left out.
    """
    y = np.asarray(y).astype(str)
    n_classes = n_classes or len(np.unique(y))
    out = {"uniform": 1.0 / n_classes, "n_permutations": int(n_permutations)}
    if n_permutations <= 0:
        return out
    blocks = block_ids(groups, y) if blocks is None else np.asarray(blocks)
    rng = np.random.default_rng(random_state)
    labels = []
    for _ in range(n_permutations):
        yp = permute_blocks(y, blocks, rng)
        try:
            labels.append((yp, _folds(X, yp, groups, cv)))
        except ValueError:  # a permutation left a fold with one class
            continue
    preds = _predict_all(estimator, X, labels, n_jobs)
    bacc = [balanced_accuracy_score(yp, pred) for (yp, _), pred in zip(labels, preds,
                                                                         strict=True)]
    acc = [accuracy_score(yp, pred) for (yp, _), pred in zip(labels, preds, strict=True)]
    if not bacc:
        return out
    bacc = np.asarray(bacc)
    out.update({
        "n_permutations": len(bacc),
        "balanced_accuracy_mean": float(bacc.mean()),
        "balanced_accuracy_sd": float(bacc.std(ddof=1)) if len(bacc) > 1 else 0.0,
        "balanced_accuracy_p95": float(np.quantile(bacc, 0.95)),
        "accuracy_mean": float(np.mean(acc)),
    })
    if observed is not None:
        out["p_value"] = float((1 + np.sum(bacc >= observed)) / (1 + len(bacc)))
    return out


def trial_features(
    X: np.ndarray, event: np.ndarray, part: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """One feature vector per trial: mean of its stimulus frames minus mean of its baseline.

    Parameters
    ----------
    X : ndarray, shape (n_frames, n_features)
    event : ndarray of int, shape (n_frames,)
        Trial of each frame (-1: none), e.g. from
        :func:`mouseface.expressions.windows.assign_windows`.
    part : ndarray of str, shape (n_frames,)
        ``"baseline"`` or ``"stimulus"`` (others ignored).

    Returns
    -------
    features : ndarray, shape (n_trials, n_features)
        Trials without stimulus frames are left out; without baseline frames the stimulus
        mean is kept as it is.
    events : ndarray of int, shape (n_trials,)
    """
    X = np.asarray(X, dtype=np.float64)
    event, part = np.asarray(event), np.asarray(part)
    ids = np.unique(event[(event >= 0) & (part == "stimulus")])
    out = np.empty((len(ids), X.shape[1]))
    for i, e in enumerate(ids):
        stim = X[(event == e) & (part == "stimulus")].mean(axis=0)
        b = (event == e) & (part == "baseline")
        out[i] = stim - X[b].mean(axis=0) if b.any() else stim
    return out, ids


def window_features(
    X: np.ndarray, event: np.ndarray, part: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One feature vector per trial window: the mean of its frames.

    Every trial with frames gives a ``"stimulus"`` sample and a ``"baseline"`` sample (each
    when it has frames), so that baseline windows can be classified as ``neutral`` beside the
    conditions.

    Returns
    -------
    features : ndarray, shape (n_windows, n_features)
    events : ndarray of int, shape (n_windows,)
    parts : ndarray of str, shape (n_windows,)
    """
    X = np.asarray(X, dtype=np.float64)
    event, part = np.asarray(event), np.asarray(part).astype(str)
    ok = (event >= 0) & np.isin(part, ["baseline", "stimulus"])
    keys = sorted(set(zip(event[ok].tolist(), part[ok].tolist(), strict=True)))
    out = np.empty((len(keys), X.shape[1]))
    for i, (e, p) in enumerate(keys):
        out[i] = X[(event == e) & (part == p)].mean(axis=0)
    return (out, np.array([k[0] for k in keys], dtype=np.int64),
            np.array([k[1] for k in keys], dtype=str))


__all__ = ["CLASSIFIERS", "SPLITS", "CappedPCA", "block_ids", "cross_validate", "make_classifier",
           "make_splitter", "permutation_chance", "permute_blocks", "trial_features",
           "window_features"]
