"""Graded expression intensity: how far along the neutral → expression axis each frame lies.

The paper's similarity (Pearson r to a prototype) says *which* expression a face is closest to;
it is a poor ruler of *how strong* the expression is. A correlation saturates, it is built from the
10 frames least like neutral (a handful of idiosyncratic extremes when an animal has few trials),
and it mixes in every change of the face that the prototype happens to share. For a dose–response
or an analgesic study the question is linear: how far has the face moved from its neutral
position, in the direction that this expression moves it?

:class:`ExpressionAxis` answers it with the simplest readout that has a reason:

- the **axis** of a condition is the mean HOG of *all* its stimulus frames minus the animal's
  neutral (mean baseline) HOG: the direction in feature space that the condition moves the face,
  estimated from every frame rather than the 10 most extreme ones, so it is not noisier with few
  trials;
- a frame's **grade** on that axis is its projection ``(h - neutral) · axis / |axis|``, in units of
  the spread of the animal's own baseline frames along the same axis (so 3 means "three baseline
  standard deviations along the expression"): a number a person can read and compare across
  animals;
- applied to a new animal, the axis learned on others is kept and the new animal's own neutral
  and baseline spread are used (the transfer that keeps the grading: only baseline frames of the
  new animal are needed).

A trial's grade is the **peak** of the frame grades in its stimulus window minus their mean in
its baseline window (:func:`~mouseface.expressions.trials.window_scores`, as for the paper's
``peak_`` score): an expression evoked by a brief stimulus is brief, and a window mean dilutes it
with the frames around it. ``benchmarks/der_dose.py`` compares the peak and the mean with the
paper's score on real mice.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mouseface.expressions.fitting import axes_from, floor_scale
from mouseface.expressions.windows import NEUTRAL

__all__ = ["ExpressionAxis"]


class ExpressionAxis(TransformerMixin, BaseEstimator):
    """Each frame's position on the axis from the neutral face to each condition's mean face.

    Parameters
    ----------
    neutral_label : str, default="neutral"
        Label of baseline frames in ``y``.
    ignore_label : str, default=""
        Label of frames that belong to no window; they are not used in ``fit``.

    Attributes
    ----------
    classes_ : ndarray of str, shape (n_conditions,)
        The conditions, sorted (the neutral label is not one: its grade is 0 by construction).
    axes_ : ndarray, shape (n_conditions, n_features)
        Unit vectors: each condition's mean change from neutral, averaged over the animals
        (``groups``) seen in ``fit``, each animal's change taken from its own neutral.
    neutral_ : ndarray, shape (n_features,)
        The mean baseline HOG of the frames seen in ``fit`` (used by ``transform`` when no
        ``baseline`` is given: meaningful when ``fit`` saw one animal).
    scale_ : ndarray, shape (n_conditions,)
        Standard deviation of the baseline frames' projections on each axis, per animal, averaged
        (the unit of the grade when no ``baseline`` is given).
    n_features_in_ : int
        HOG length seen in ``fit``.
    groups_ : ndarray
        The animals seen in ``fit``.

    See Also
    --------
    mouseface.expressions.prototypes.PrototypeModel : the paper's similarity to prototypes.
    mouseface.expressions.transfer.TransferModel : similarity of changes from each animal's
        neutral, for new animals.

    Notes
    -----
    With one animal the axis is the difference of two class means (the direction a linear
    discriminant takes when the within-class covariance is isotropic); with several it is the
    mean of the animals' directions, each from its own neutral, so a face that differs between
    animals does not enter the axis. A frame exactly at its animal's neutral grades 0 on every
    axis; a frame that moved along the expression grades positive.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> change = np.r_[np.ones(4), np.zeros(12)]         # what pain does to the face
    >>> levels = np.repeat([0.0, 0.5, 1.0, 2.0], 10)     # four strengths of it
    >>> X = rng.normal(0, .1, (80, 16)) + np.r_[np.zeros(40), levels][:, None] * change
    >>> y = np.r_[["neutral"] * 40, ["pain"] * 40]
    >>> axis = ExpressionAxis().fit(X, y)
    >>> g = axis.transform(X[40:])[:, 0]                # in baseline standard deviations
    >>> bool(g[:10].mean() < g[10:20].mean() < g[20:30].mean() < g[30:].mean())
    True
    """

    def __init__(self, *, neutral_label: str = NEUTRAL, ignore_label: str = ""):
        self.neutral_label = neutral_label
        self.ignore_label = ignore_label

    @classmethod
    def from_means(cls, classes, neutral, means, scale=None, **params) -> ExpressionAxis:
        """A fitted axis from an animal's neutral mean and its conditions' mean HOGs.

        For data read block by block: ``means[k]`` is the mean of condition ``classes[k]``'s
        frames, ``scale[k]`` the spread of the baseline frames' projections on its axis (1 when
        not known yet).
        """
        neutral = np.asarray(neutral, dtype=np.float64)
        change = np.atleast_2d(np.asarray(means, dtype=np.float64)) - neutral
        return cls.from_axes(classes, change, neutral, scale, **params)

    @classmethod
    def from_axes(cls, classes, axes, neutral, scale=None, **params) -> ExpressionAxis:
        """A fitted axis from saved directions (normalised here), applied from ``neutral`` in
        units of ``scale`` (1 when not known yet): how a model fitted on other animals grades
        a new one, from that animal's own neutral face and baseline spread."""
        axis = cls(**params)
        fitted = axes_from(classes, axes, neutral, scale)
        axis.axes_, axis.classes_ = fitted.axes_, fitted.classes_
        axis.neutral_, axis.scale_ = fitted.neutral_, fitted.scale_
        axis.n_features_in_ = fitted.n_features_in_
        axis.groups_ = np.array([], dtype=object)
        return axis

    def scaled(self, baseline_blocks) -> ExpressionAxis:
        """This axis in units of the spread of an animal's baseline frames along it: the
        standard deviation of their projections from ``neutral_`` (blocks of HOG rows, read one
        at a time: ``score`` passes its stores' blocks, ``live`` its calibration frames)."""
        from mouseface.expressions.fitting import BaselineMoments

        check_is_fitted(self, "axes_")
        spread = BaselineMoments()
        for x in baseline_blocks:
            spread.add((x - self.neutral_) @ self.axes_.T)
        sd = spread.sd if spread.n else None
        return ExpressionAxis.from_axes(self.classes_, self.axes_, self.neutral_, sd,
                                        **self.get_params())

    def fit(self, X, y, groups=None):
        """Learn each condition's axis from labelled frames.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)
            HOG per frame.
        y : array-like of str, shape (n_frames,)
            ``neutral_label`` for baseline frames, the condition for stimulus frames,
            ``ignore_label`` for the rest.
        groups : array-like, shape (n_frames,), optional
            Animal of each frame: each animal's changes are taken from its own neutral.

        Returns
        -------
        self : ExpressionAxis
        """
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        y = np.asarray(y).astype(str)
        groups = np.zeros(len(y), dtype=int) if groups is None else np.asarray(groups)
        if len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} entries for {len(y)} frames")
        is_neutral = y == self.neutral_label
        if not is_neutral.any():
            raise ValueError(f"no baseline frames (label {self.neutral_label!r}) to take the "
                             "neutral face from")
        conditions = sorted(set(y[~is_neutral & (y != self.ignore_label)]))
        if not conditions:
            raise ValueError("no stimulus frames: every frame is baseline or ignored")
        neutral_of = {}
        for g in np.unique(groups):
            rows = is_neutral & (groups == g)
            if not rows.any() and np.isin(y[groups == g], conditions).any():
                raise ValueError(f"group {str(g)!r} has stimulus frames but no baseline frames")
            if rows.any():
                neutral_of[g] = X[rows].mean(axis=0)
        axes, scales = [], []
        for c in conditions:
            changes, spreads = [], []
            for g, neutral in neutral_of.items():
                rows = (y == c) & (groups == g)
                if rows.any():
                    changes.append(X[rows].mean(axis=0) - neutral)
            axis = np.mean(changes, axis=0)
            norm = np.linalg.norm(axis)
            if not norm > 0:
                raise ValueError(f"condition {c!r}: its frames do not differ from neutral")
            axis = axis / norm
            for g, neutral in neutral_of.items():
                spreads.append(np.std((X[is_neutral & (groups == g)] - neutral) @ axis))
            axes.append(axis)
            scales.append(float(np.mean(spreads)))
        self.classes_ = np.array(conditions)
        self.axes_ = np.vstack(axes)
        self.neutral_ = X[is_neutral].mean(axis=0)
        self.scale_ = floor_scale(np.asarray(scales))
        self.groups_ = np.array(list(neutral_of))
        return self

    def transform(self, X, *, baseline=None) -> np.ndarray:
        """Grade of each frame on each condition's axis, ``(n_frames, n_conditions)``.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)
            HOG per frame, of one animal.
        baseline : array-like, shape (n_baseline, n_features), optional
            That animal's baseline frames: their mean is its neutral face and the spread of their
            projections the unit of the grade. Without it the fitted ``neutral_`` and
            ``scale_`` are used (right when ``fit`` saw this one animal).

        Returns
        -------
        ndarray, shape (n_frames, n_conditions)
            Projection of ``X - neutral`` on each axis, in baseline standard deviations.
        """
        check_is_fitted(self, "axes_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        neutral, scale = self.neutral_, self.scale_
        if baseline is not None:
            baseline = validate_data(self, baseline, dtype=np.float64, reset=False)
            if len(baseline) < 2:
                raise ValueError("baseline needs at least 2 frames to measure its spread")
            neutral = baseline.mean(axis=0)
            scale = floor_scale(((baseline - neutral) @ self.axes_.T).std(axis=0))
        return (X - neutral) @ self.axes_.T / scale

