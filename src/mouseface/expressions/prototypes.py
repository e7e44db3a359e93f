"""Prototype expressions and the estimator that fits them (Dolensek et al. 2020).

The neutral prototype is the mean HOG of baseline frames. The prototype of a condition is the
mean HOG of the ``n_frames`` stimulus frames that are least correlated with the neutral
prototype: the moments where the face departs most from neutral.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from mouseface.expressions.fitting import emotion_prototype, fit_prototypes, least_neutral_frames
from mouseface.expressions.similarity import (
    float_rows,
    require_fitted,
    similarity,
    standardize_rows,
)
from mouseface.expressions.windows import NEUTRAL


def encode_labels(y, neutral_label, ignore_label) -> tuple[np.ndarray, dict, str, str]:
    """Frame labels as text, how the estimators compare them.

    Returns the labels as text, the caller's own label behind each text (which ``classes_``
    and ``predict`` give back), and ``neutral_label`` and ``ignore_label`` as they read among
    these labels (a number as the labels' type writes it: ``0`` among float labels is
    ``"0.0"``).

    Raises
    ------
    ValueError
        Continuous targets ("Unknown label type"): a label names a window, not an amount.
    """
    check_classification_targets(y)
    y = np.asarray(y)
    text = y.astype(str)
    names, first = np.unique(text, return_index=True)

    def as_text(label) -> str:
        if isinstance(label, numbers.Number) and y.dtype.kind in "iuf":
            return str(np.asarray(label).astype(y.dtype)[()])
        return str(label)

    return (text, {str(n): y[i] for n, i in zip(names, first, strict=True)},
            as_text(neutral_label), as_text(ignore_label))


def label_array(names, originals: dict) -> np.ndarray:
    """``classes_`` from class names as text: the caller's labels where known."""
    return np.array([originals.get(str(n), n) for n in names])


class PrototypeModel(TransformerMixin, ClassifierMixin, BaseEstimator):
    """Neutral and emotion prototypes; transforms frames into similarities to each.

    Parameters
    ----------
    n_frames : int, default=10
        Stimulus frames per condition (and per group, when ``groups`` are given) averaged into
        that condition's prototype: those least correlated with the neutral prototype.
    neutral_label : str, default="neutral"
        Label of baseline frames in ``y`` (compared as text: ``0`` matches a label ``0``).
    ignore_label : str, default=""
        Label of frames that belong to no window; they are not used in ``fit``.

    Attributes
    ----------
    classes_ : ndarray, shape (n_prototypes,)
        Prototype names as given in ``y``: the neutral label first, then the conditions sorted
        (as text).
    prototypes_ : ndarray, shape (n_prototypes, n_features)
        One HOG prototype per class.
    n_features_in_ : int
        HOG length seen in ``fit``.

    Notes
    -----
    ``transform`` returns Pearson similarities (columns in ``classes_`` order); ``predict`` the
    class of the most similar prototype. With ``groups`` (one animal per frame) each frame's
    departure from neutral is measured against its own animal's neutral, ``n_frames`` frames are
    taken per animal, and the prototypes pool the animals: the paper's prototypes are per animal,
    pooling is for models applied to new animals.

    References
    ----------
    Dolensek N, Gehrlach DA, Klein AS, Gogolla N (2020). Facial expressions of emotion states
    and their neuronal correlates in mice. Science 368:89-94. doi:10.1126/science.aaz9468

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 16))
    >>> X[20:40, :4] += 3
    >>> y = np.array(["neutral"] * 20 + ["pain"] * 20 + [""] * 20)
    >>> model = PrototypeModel(n_frames=5).fit(X, y)
    >>> model.classes_.tolist()
    ['neutral', 'pain']
    >>> model.transform(X).shape
    (60, 2)
    """

    def __init__(self, n_frames: int = 10, *, neutral_label: str = NEUTRAL,
                 ignore_label: str = ""):
        self.n_frames = n_frames
        self.neutral_label = neutral_label
        self.ignore_label = ignore_label

    @classmethod
    def from_prototypes(cls, names, prototypes, **params) -> PrototypeModel:
        """A fitted model from saved prototypes (``names[0]`` is the neutral one)."""
        model = cls(**params)
        model.classes_ = np.asarray(names).astype(str)
        model.prototypes_ = np.atleast_2d(np.asarray(prototypes, dtype=np.float64))
        model.n_features_in_ = model.prototypes_.shape[1]
        return model

    def fit(self, X, y, groups=None, sample_weight=None):
        """Build the prototypes from labelled frames.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)
            HOG per frame.
        y : array-like of str, shape (n_frames,)
            ``neutral_label`` for baseline frames, the condition for stimulus frames,
            ``ignore_label`` for the rest.
        groups : array-like, shape (n_frames,), optional
            Animal of each frame.
        sample_weight : array-like, shape (n_frames,), optional
            Weight of each baseline row in the neutral means (e.g. a row that stands for the
            mean of that many baseline frames, when long sessions are summarised block by
            block); stimulus frames are chosen and averaged unweighted. Rows of weight 0 are
            left out.

        Raises
        ------
        ValueError
            No frame carries ``neutral_label`` (the neutral prototype is the method's
            reference); fewer than 2 features (a Pearson r needs two); continuous ``y``.
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=1,
                             ensure_min_features=2)
        if not (isinstance(self.n_frames, int | np.integer) and self.n_frames > 0):
            raise ValueError(f"n_frames must be a positive integer, got {self.n_frames!r}")
        y, originals, neutral, ignore = encode_labels(y, self.neutral_label, self.ignore_label)
        w = (None if sample_weight is None
             else _check_sample_weight(sample_weight, X, ensure_non_negative=True))
        names, self.prototypes_ = fit_prototypes(X, y, neutral, ignore, self.n_frames,
                                                 groups=groups, weights=w,
                                                 neutral_label=self.neutral_label)
        self.classes_ = label_array(names, originals)
        return self

    def transform(self, X) -> np.ndarray:
        """Pearson similarity of each frame to each prototype, (n_frames, n_prototypes)."""
        check_is_fitted(self, "prototypes_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return similarity(X, self.prototypes_)

    def transform_array(self, X: np.ndarray) -> np.ndarray:
        """:meth:`transform` of an array, with the same numbers and without scikit-learn's
        input validation (:func:`~mouseface.expressions.similarity.float_rows` checks it):
        the per-block path of a pass over the feature stores."""
        require_fitted(self, "prototypes_")
        return similarity(float_rows(X, getattr(self, "n_features_in_", None)),
                          self.prototypes_)

    def predict(self, X) -> np.ndarray:
        """Name of the most similar prototype for each frame."""
        check_is_fitted(self, "prototypes_")
        return self.classes_[np.nanargmax(self.transform(X), axis=1)]

    def decision_function(self, X) -> np.ndarray:
        """Similarity is the score of each class: :meth:`transform`, (n_frames, n_classes).

        With two classes (neutral and one condition), scikit-learn's binary form: one column,
        the condition's similarity minus the neutral one (> 0 where ``predict`` gives the
        condition).
        """
        check_is_fitted(self, "prototypes_")
        s = self.transform(X)
        return s[:, 1] - s[:, 0] if s.shape[1] == 2 else s


__all__ = ["NEUTRAL", "PrototypeModel", "emotion_prototype", "encode_labels", "label_array",
           "least_neutral_frames", "standardize_rows"]
