"""The estimators' arithmetic without scikit-learn: prototypes, expression axes, baseline
moments.

:class:`~mouseface.expressions.prototypes.PrototypeModel`,
:class:`~mouseface.expressions.intensity.ExpressionAxis` and
:class:`~mouseface.expressions.transfer.TransferModel` are scikit-learn estimators, and
importing scikit-learn (with SciPy's statistics) costs about half a second of CPU. ``run``
builds its per-animal prototypes and axes from rows it has already checked, so it calls the
functions here directly and never imports scikit-learn; the estimators call the same functions
after scikit-learn's checks of their input: the same numbers either way.
"""

from __future__ import annotations

import numpy as np

from mouseface.expressions.similarity import float_rows, similarity

__all__ = ["Axes", "BaselineMoments", "FittedPrototypes", "axes_from", "emotion_prototype",
           "fit_prototypes", "least_neutral_frames"]


def least_neutral_frames(
    features: np.ndarray, neutral: np.ndarray, n_frames: int = 10
) -> np.ndarray:
    """Indices of the ``n_frames`` rows of ``features`` least correlated with ``neutral``.

    Ties are broken by frame order (stable sort), so the choice is reproducible.
    """
    r = similarity(features, neutral[None, :])[:, 0]
    r = np.where(np.isnan(r), np.inf, r)
    return np.argsort(r, kind="stable")[: min(n_frames, len(r))]


def emotion_prototype(
    features: np.ndarray, neutral: np.ndarray, n_frames: int = 10
) -> np.ndarray:
    """Mean of the ``n_frames`` frames of ``features`` least like the ``neutral`` prototype."""
    if len(features) == 0:
        raise ValueError("no stimulus frames to build a prototype from")
    return features[least_neutral_frames(features, neutral, n_frames)].mean(axis=0)


def fit_prototypes(X: np.ndarray, y: np.ndarray, neutral: str, ignore: str, n_frames: int, *,
                   groups: np.ndarray | None = None, weights: np.ndarray | None = None,
                   neutral_label=None) -> tuple[list[str], np.ndarray]:
    """The neutral and emotion prototypes of labelled rows (what
    :meth:`PrototypeModel.fit <mouseface.expressions.prototypes.PrototypeModel.fit>` computes
    once it has checked its input).

    ``X`` float64 (n, d); ``y`` the labels as text, ``neutral`` and ``ignore`` the baseline's
    and the unused rows' labels among them; ``groups`` the animal of each row; ``weights``
    (float64, >= 0) of each row in the neutral means, rows of weight 0 left out. Returns the
    prototypes' names (the neutral label first, then the conditions sorted) and the
    prototypes (one row each). ``neutral_label`` is the label as the caller gave it (named
    in the error when no row is neutral).
    """
    groups = np.zeros(len(y), dtype=int) if groups is None else np.asarray(groups)
    if weights is not None:
        y = np.where(weights > 0, y, ignore)
    is_neutral = y == neutral
    if not is_neutral.any():
        label = neutral if neutral_label is None else neutral_label
        raise ValueError(f"no baseline frames (neutral class {label!r}) to "
                         "build the neutral prototype from")
    conditions = sorted(set(y[(~is_neutral) & (y != ignore)]))

    def mean(rows):
        return (X[rows].mean(axis=0) if weights is None
                else np.average(X[rows], axis=0, weights=weights[rows]))

    neutral_of = {g: mean(is_neutral & (groups == g)) for g in np.unique(groups[is_neutral])}
    prototypes = [mean(is_neutral)]
    for c in conditions:
        picked = []
        for g in np.unique(groups[y == c]):
            if g not in neutral_of:
                raise ValueError(f"group {g!r} has {c!r} frames but no baseline frames")
            frames = X[(y == c) & (groups == g)]
            picked.append(frames[least_neutral_frames(frames, neutral_of[g], n_frames)])
        prototypes.append(np.concatenate(picked).mean(axis=0))
    return [neutral, *conditions], np.vstack(prototypes)


class FittedPrototypes:
    """Prototypes as ``run`` scores with them: ``classes_``, ``prototypes_``,
    ``n_features_in_`` and :meth:`transform_array`, as a fitted
    :class:`~mouseface.expressions.prototypes.PrototypeModel` has them.

    Built by :meth:`fit` from rows already float64, 2-D and finite (the feature stores'),
    with labels as text.
    """

    def __init__(self, classes, prototypes: np.ndarray):
        self.classes_ = np.asarray(classes)
        self.prototypes_ = prototypes
        self.n_features_in_ = prototypes.shape[1]

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, n_frames: int, neutral: str,
            weights: np.ndarray | None = None) -> FittedPrototypes:
        """:func:`fit_prototypes` of rows that have no ignored label."""
        X = float_rows(X)
        if X.shape[1] < 2:
            raise ValueError(f"{X.shape[1]} feature(s) (shape={X.shape}) while a minimum of 2 "
                             "is required: a Pearson r needs two")
        names, prototypes = fit_prototypes(X, np.asarray(y).astype(str), neutral, "",
                                           n_frames, weights=weights)
        return cls(np.array(names), prototypes)

    def transform_array(self, X: np.ndarray) -> np.ndarray:
        """Pearson similarity of each row to each prototype, (n_rows, n_prototypes)."""
        return similarity(float_rows(X, self.n_features_in_), self.prototypes_)


class Axes:
    """Fitted expression axes as ``run`` grades with them: ``classes_``, ``axes_`` (unit
    rows), ``neutral_``, ``scale_`` and ``n_features_in_``, as a fitted
    :class:`~mouseface.expressions.intensity.ExpressionAxis` has them (built by
    :func:`axes_from`)."""

    def __init__(self, classes, axes: np.ndarray, neutral: np.ndarray, scale: np.ndarray):
        self.classes_ = classes
        self.axes_ = axes
        self.neutral_ = neutral
        self.scale_ = scale
        self.n_features_in_ = axes.shape[1]

    @classmethod
    def from_means(cls, classes, neutral, means, scale=None) -> Axes:
        """Axes from an animal's neutral mean and its conditions' mean rows (``scale`` as in
        :func:`axes_from`)."""
        neutral = np.asarray(neutral, dtype=np.float64)
        change = np.atleast_2d(np.asarray(means, dtype=np.float64)) - neutral
        return axes_from(classes, change, neutral, scale)


def axes_from(classes, axes, neutral, scale=None) -> Axes:
    """Directions ``axes`` (normalised here) applied from ``neutral`` in units of ``scale``
    (1 when not known yet; a spread of 0 counts as 1)."""
    axes = np.atleast_2d(np.asarray(axes, dtype=np.float64))
    norm = np.linalg.norm(axes, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(norm > 0, axes / norm, np.nan)
    scale = floor_scale(np.ones(len(axes)) if scale is None else np.asarray(scale, float))
    return Axes(np.asarray(classes).astype(str), unit, np.asarray(neutral, dtype=np.float64),
                scale)


def floor_scale(scale: np.ndarray) -> np.ndarray:
    """A baseline spread of exactly 0 (a still image) would divide by 0: use 1 (raw units)."""
    return np.where(scale > 0, scale, 1.0)


class BaselineMoments:
    """Per-feature count, mean and sum of squared deviations of frames added block by block
    (Chan et al.'s pairwise update: as exact as computing them over all frames at once).

    Examples
    --------
    >>> x = np.arange(12.0).reshape(6, 2)
    >>> m = BaselineMoments()
    >>> m.add(x[:4]); m.add(x[4:])
    >>> m.n, m.mean.tolist(), bool(np.allclose(m.sd, x.std(axis=0)))
    (6, [5.0, 6.0], True)
    """

    def __init__(self):
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None

    def add(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float64)
        if not len(x):
            return
        mean_b = x.mean(axis=0)
        self._merge(len(x), mean_b, ((x - mean_b) ** 2).sum(axis=0))

    def _merge(self, n_b: int, mean_b: np.ndarray, m2_b: np.ndarray) -> None:
        if self.n == 0:
            self.n, self.mean, self.m2 = n_b, mean_b, m2_b
            return
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (n_b / n)
        self.m2 = self.m2 + m2_b + delta ** 2 * (self.n * n_b / n)
        self.n = n

    @property
    def sd(self) -> np.ndarray:
        return np.sqrt(self.m2 / self.n)
