"""Prototypes that carry over to new animals: expressions relative to their own neutral face.

The paper's prototypes are raw HOG vectors of one animal's face. Pooled over animals and applied
to a new one they mostly measure how much the new face looks like the *other* animals' faces:
on the DER tail-shock videos a pooled 500 uA prototype separates strong from weak shocks at
chance in a left-out mouse. What carries over is the *change* an expression makes to a face.

:class:`TransferModel` expresses every frame relative to its animal's own neutral face, feature
by feature::

    d(x) = (x - mean_neutral) / scale_neutral

with the mean and standard deviation of that animal's baseline HOGs (the scale floored at
``scale_floor`` times its median, so near-constant cells do not explode). A condition's
*difference prototype* is the mean of ``d`` over the condition's stimulus frames, per animal,
then averaged over animals. A frame's expression strength is the Pearson r between its ``d``
and the difference prototype; the scaling gives cells that fluctuate a lot at rest (whiskers,
fur, a moving background) less weight, and the animal's own neutral removes what makes its
face (and its placement in the frame) its own. A new animal needs only baseline frames.

Register the faces first (:mod:`mouseface.features.similarity_fit`): the cells of a difference
prototype must cover the same face parts in every animal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from mouseface.expressions.fitting import BaselineMoments
from mouseface.expressions.prototypes import (
    NEUTRAL,
    encode_labels,
    label_array,
    least_neutral_frames,
)
from mouseface.expressions.similarity import similarity, standardize_rows
from mouseface.expressions.trials import TrialFrames, score_row

__all__ = ["BaselineMoments", "NeutralReference", "TransferModel", "neutral_reference",
           "transfer_trial_scores"]


@dataclass(frozen=True)
class NeutralReference:
    """One animal's neutral face in HOG space: per-feature ``mean`` and ``scale`` (D,)."""

    mean: np.ndarray
    scale: np.ndarray
    n_frames: int

    def difference(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / scale``: frames relative to this neutral face."""
        return (np.asarray(X, dtype=np.float64) - self.mean) / self.scale


def neutral_reference(
    baseline: np.ndarray, *, standardize: bool = True, scale_floor: float = 0.2
) -> NeutralReference:
    """The neutral reference of one animal from its baseline HOGs.

    Parameters
    ----------
    baseline : (n_frames, n_features) array
        HOG of the animal's baseline (neutral) frames; flagged frames already removed.
    standardize
        Divide by the per-feature standard deviation; False gives plain differences.
    scale_floor
        The standard deviation is combined with a floor of ``scale_floor`` times its median
        over features (``sqrt(sd**2 + floor**2)``).

    Examples
    --------
    >>> ref = neutral_reference(np.array([[1.0, 2.0], [3.0, 2.0]]), standardize=False)
    >>> ref.mean.tolist(), ref.scale.tolist()
    ([2.0, 2.0], [1.0, 1.0])
    """
    b = np.atleast_2d(np.asarray(baseline, dtype=np.float64))
    if len(b) == 0:
        raise ValueError("no baseline frames: a new animal needs its own neutral face (its "
                         "baseline frames) to be scored in transfer mode")
    sd = b.std(axis=0) if len(b) > 1 else np.zeros(b.shape[1])
    return reference_from_moments(b.mean(axis=0), sd, len(b), standardize=standardize,
                                  scale_floor=scale_floor)


def reference_from_moments(
    mean: np.ndarray, sd: np.ndarray, n_frames: int, *, standardize: bool = True,
    scale_floor: float = 0.2,
) -> NeutralReference:
    """The neutral reference from the baseline's per-feature mean and standard deviation
    (``ddof=0``), e.g. accumulated over blocks of a long session (:class:`BaselineMoments`);
    see :func:`neutral_reference` for the parameters."""
    mean = np.asarray(mean, dtype=np.float64)
    if not standardize:
        return NeutralReference(mean, np.ones_like(mean), int(n_frames))
    sd = np.asarray(sd, dtype=np.float64)
    med = float(np.median(sd))
    floor = scale_floor * med if med > 0 else 1.0
    return NeutralReference(mean, np.sqrt(sd ** 2 + floor ** 2), int(n_frames))


class TransferModel(TransformerMixin, ClassifierMixin, BaseEstimator):
    """Difference prototypes: expressions as changes from each animal's own neutral face.

    Parameters
    ----------
    n_frames : int or None, default=None
        Stimulus frames per condition and animal averaged into the prototype. None (default)
        uses all of them; an int takes the ``n_frames`` least correlated with the animal's
        neutral face, as the paper does for its per-animal prototypes (with few animals that
        selection picks idiosyncratic extremes and transfers worse).
    standardize : bool, default=True
        Scale differences by the animal's baseline standard deviation per feature.
    scale_floor : float, default=0.2
        Floor of that scale, as a fraction of its median (see :func:`neutral_reference`).
    control : str or None, default=None
        A condition (e.g. a sham or 0 uA stimulus) whose difference prototype is subtracted
        from every other condition's: what any stimulus window does (time since baseline,
        the sound of the device) cancels. The control keeps its own prototype.
    neutral_label : str, default="neutral"
        Label of baseline frames in ``y`` (compared as text: ``0`` matches a label ``0``).
    ignore_label : str, default=""
        Label of frames that belong to no window.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Class names as given in ``y``: the neutral label first, then the conditions sorted
        (as text).
    prototypes_ : ndarray, shape (n_classes, n_features)
        Row 0: the mean raw HOG of the training animals' neutral faces (for reference only);
        the other rows: difference prototypes in units of ``d`` (see the module notes).
    n_features_in_ : int
        HOG length seen in ``fit``.
    groups_ : ndarray
        The animals (reference groups) seen in ``fit``.
    references_ : dict
        Animal (group) -> its :class:`NeutralReference` from ``fit``: what its frames are
        taken relative to when ``transform`` gets ``groups`` and no ``baseline``.
    neutral_ : NeutralReference
        The training animals' neutral faces averaged (mean and scale): what frames are taken
        relative to when ``transform`` gets neither ``baseline`` nor ``groups``. With one
        training animal it is that animal's reference; a model read back with
        :meth:`from_prototypes` has none (give ``baseline``).

    Notes
    -----
    ``transform(X, baseline=...)`` returns one column per class: for the neutral class the Pearson
    r between each frame's raw HOG and the animal's neutral mean (the paper's neutral
    similarity), for each condition the Pearson r between the frame's difference ``d`` and the
    condition's difference prototype. Baseline frames score about 0 on every condition; the
    paper's trial score (mean in the stimulus window minus mean at baseline) applies as is
    (:func:`transfer_trial_scores`). A new animal is scored against its own neutral face: give
    it as ``baseline=``; without it ``transform`` uses the fitted ``neutral_`` (so the model
    works as the last step of a scikit-learn ``Pipeline``, relative to the training animals).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> faces = [rng.random(16) * 3 for _ in range(3)]  # three animals, different faces
    >>> pain = np.r_[np.ones(4), np.zeros(12)]  # the same change in every face
    >>> X = np.vstack([f + rng.normal(0, .1, (40, 16)) + np.r_[np.zeros((20, 1)),
    ...                np.ones((20, 1))] * pain for f in faces])
    >>> y = np.tile(np.repeat(["neutral", "pain"], 20), 3)
    >>> groups = np.repeat(["a", "b", "c"], 40)
    >>> model = TransferModel().fit(X[:80], y[:80], groups=groups[:80])
    >>> new = X[80:]  # a new animal: only its baseline frames are needed
    >>> s = model.transform(new, baseline=new[:20])[:, 1]
    >>> bool(s[20:].mean() > 0.5 > abs(s[:20].mean()))
    True
    """

    def __init__(self, n_frames: int | None = None, *, standardize: bool = True,
                 scale_floor: float = 0.2, control: str | None = None,
                 neutral_label: str = NEUTRAL, ignore_label: str = ""):
        self.n_frames = n_frames
        self.standardize = standardize
        self.scale_floor = scale_floor
        self.control = control
        self.neutral_label = neutral_label
        self.ignore_label = ignore_label

    @classmethod
    def from_prototypes(cls, names, prototypes, **params) -> TransferModel:
        """A fitted model from saved prototypes (``names[0]`` is the neutral one)."""
        model = cls(**params)
        model.classes_ = np.asarray(names).astype(str)
        model.prototypes_ = np.atleast_2d(np.asarray(prototypes, dtype=np.float64))
        model.n_features_in_ = model.prototypes_.shape[1]
        model.groups_ = np.array([], dtype=object)
        return model

    def _check_params(self):
        if self.n_frames is not None and not (isinstance(self.n_frames, int | np.integer)
                                              and self.n_frames > 0):
            raise ValueError(f"n_frames must be None or a positive integer, got "
                             f"{self.n_frames!r}")
        if not (np.isfinite(self.scale_floor) and self.scale_floor >= 0):
            raise ValueError(f"scale_floor must be >= 0, got {self.scale_floor!r}")

    def reference(self, baseline) -> NeutralReference:
        """The neutral reference of one animal from its baseline HOGs (with this model's
        ``standardize`` and ``scale_floor``)."""
        return neutral_reference(baseline, standardize=self.standardize,
                                 scale_floor=self.scale_floor)

    def fit(self, X, y, groups=None):
        """Build difference prototypes from labelled frames of several animals.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)
            HOG per frame (registered crops; flagged frames removed or labelled
            ``ignore_label``).
        y : array-like of str, shape (n_frames,)
            ``neutral_label`` for baseline frames, the condition for stimulus frames,
            ``ignore_label`` for the rest.
        groups : array-like, shape (n_frames,), optional
            Animal of each frame: each frame is taken relative to its own animal's neutral
            face. Default: all frames from one animal.

        Raises
        ------
        ValueError
            No frame carries ``neutral_label``, or an animal has stimulus frames but no
            baseline frames (each frame is measured against its own animal's neutral face);
            fewer than 2 features; continuous ``y``.
        """
        self._check_params()
        if self.n_frames is None:
            for name in ("baseline_moments_", "condition_sums_", "_label_values"):
                self.__dict__.pop(name, None)
            self.partial_fit(X, y, groups)
            if self.control is not None and str(self.control) not in self.classes_.astype(str):
                raise ValueError(f"control condition {self.control!r} is not among the "
                                 f"conditions {self.classes_[1:].tolist()}")
            return self
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=1,
                             ensure_min_features=2)
        self._label_values = {}
        y, groups, neutral, ignore = self._labels(y, groups)
        is_neutral = y == neutral
        if not is_neutral.any():
            raise ValueError(f"no baseline frames (neutral class {self.neutral_label!r}): "
                             "difference prototypes need each animal's neutral face")
        conditions = sorted(set(y[(~is_neutral) & (y != ignore)]))
        if self.control is not None and str(self.control) not in conditions:
            raise ValueError(f"control condition {self.control!r} is not among the "
                             f"conditions {conditions}")
        refs = {}
        for g in np.unique(groups):
            base = X[(groups == g) & is_neutral]
            if len(base) == 0 and ((groups == g) & np.isin(y, conditions)).any():
                raise ValueError(f"group {g!r} has stimulus frames but no baseline frames")
            if len(base):
                refs[g] = self.reference(base)
        changes = {}
        for c in conditions:
            for g, ref in refs.items():
                frames = X[(y == c) & (groups == g)]
                if len(frames):
                    frames = frames[least_neutral_frames(frames, ref.mean, self.n_frames)]
                    changes.setdefault(c, []).append(ref.difference(frames).mean(axis=0))
        return self._set_prototypes(refs, changes, neutral)

    def partial_fit(self, X, y, groups=None, classes=None):
        """Add labelled frames to the fit, e.g. one block of a long session at a time.

        Over blocks it gives the model ``fit`` gives on all frames at once (to rounding): it
        keeps each animal's baseline mean and spread and each condition's frame sum, never the
        frames. Only with ``n_frames=None``: choosing the least-neutral frames needs the
        animal's whole neutral face first. An animal's baseline frames must come before (or
        with) its stimulus frames, as they do in time; the ``control`` is subtracted once seen
        (``fit`` requires it). ``classes``, when given, are all labels any call may bring (a
        label outside them is an error); the model's classes are those seen so far.
        """
        self._check_params()
        if self.n_frames is not None:
            raise ValueError("partial_fit needs n_frames=None: the least-neutral frames of an "
                             "animal can only be chosen once its whole neutral face is known")
        first = not hasattr(self, "baseline_moments_")
        # at least 2 features (a Pearson r) in the first call; later calls must match it
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=1, reset=first,
                             ensure_min_features=2 if first else 1)
        if first:
            self.baseline_moments_: dict = {}
            self.condition_sums_: dict = {}
            self._label_values = {}
        y, groups, neutral, ignore = self._labels(y, groups)
        if classes is not None:
            unknown = sorted(set(y) - set(np.asarray(classes).astype(str)))
            if unknown:
                raise ValueError(f"labels {unknown} are not among classes {list(classes)}")
        if first and not (y == neutral).any():
            raise ValueError(f"no baseline frames (neutral class {self.neutral_label!r}): "
                             "difference prototypes need each animal's neutral face")
        for g in np.unique(groups):
            mine = groups == g
            self.baseline_moments_.setdefault(g, BaselineMoments()).add(
                X[mine & (y == neutral)])
            for c in sorted(set(y[mine]) - {neutral, ignore}):
                if self.baseline_moments_[g].n == 0:
                    raise ValueError(f"group {g!r} has stimulus frames but no baseline frames")
                rows = X[mine & (y == c)]
                n, total = self.condition_sums_.get((c, g), (0, 0.0))
                self.condition_sums_[(c, g)] = (n + len(rows), total + rows.sum(axis=0))
        moments = {g: m for g, m in self.baseline_moments_.items() if m.n}
        if not moments:
            raise ValueError(f"no baseline frames (neutral class {self.neutral_label!r}): "
                             "difference prototypes need each animal's neutral face")
        refs = {g: reference_from_moments(m.mean, m.sd, m.n, standardize=self.standardize,
                                          scale_floor=self.scale_floor)
                for g, m in moments.items()}
        changes: dict[str, list[np.ndarray]] = {}
        for (c, g), (n, total) in sorted(self.condition_sums_.items(), key=lambda kv: kv[0]):
            changes.setdefault(c, []).append(refs[g].difference(total / n))
        return self._set_prototypes(refs, changes, neutral)

    def _labels(self, y, groups):
        """Labels as text (the caller's own kept for ``classes_``), groups as an array, and
        the neutral and ignore labels as text (:func:`encode_labels`)."""
        y, originals, neutral, ignore = encode_labels(y, self.neutral_label, self.ignore_label)
        self._label_values.update(originals)
        groups = np.zeros(len(y), dtype=int) if groups is None else np.asarray(groups)
        if len(groups) != len(y):
            raise ValueError(f"groups has {len(groups)} entries for {len(y)} frames")
        return y, groups, neutral, ignore

    def _set_prototypes(self, refs: dict, changes: dict[str, list[np.ndarray]], neutral: str):
        """Prototypes from the animals' neutral references and, per condition, each animal's
        mean change from its neutral face (``neutral``: the neutral label as text)."""
        conditions = sorted(changes)
        protos = {c: np.mean(changes[c], axis=0) for c in conditions}
        control = None if self.control is None else str(self.control)
        if control in protos:
            base_c = protos[control]
            protos = {c: (p if c == control else p - base_c) for c, p in protos.items()}
        self.classes_ = label_array([neutral, *conditions], self._label_values)
        face = np.mean([r.mean for r in refs.values()], axis=0)
        self.prototypes_ = np.vstack([face, *(protos[c] for c in conditions)])
        self.groups_ = np.array(list(refs), dtype=object)
        self.references_ = dict(refs)
        self.neutral_ = NeutralReference(
            face, np.mean([r.scale for r in refs.values()], axis=0),
            sum(r.n_frames for r in refs.values()))
        return self

    def _references(self, X, baseline, groups):
        """Per-row reference mean and scale, (n, D) each (broadcastable)."""
        if baseline is None:
            return self._fitted_references(X, groups)
        if isinstance(baseline, NeutralReference):
            return baseline.mean[None], baseline.scale[None]
        b = np.asarray(baseline)
        if b.dtype == bool and b.ndim == 1:
            if len(b) != len(X):
                raise ValueError(f"baseline mask has {len(b)} entries for {len(X)} frames")
            if groups is None:
                r = self.reference(X[b])
                return r.mean[None], r.scale[None]
            groups = np.asarray(groups)
            mean = np.empty_like(X)
            scale = np.empty_like(X)
            for g in np.unique(groups):
                rows = groups == g
                r = self.reference(X[rows & b])
                mean[rows], scale[rows] = r.mean, r.scale
            return mean, scale
        if groups is not None:
            raise ValueError("with groups, give baseline as a boolean mask over the rows of X")
        r = self.reference(np.atleast_2d(b.astype(np.float64)))
        return r.mean[None], r.scale[None]

    def _fitted_references(self, X, groups):
        """The neutral faces ``fit`` saw: each row's own animal's (``groups``), else their
        average (``neutral_``)."""
        if groups is None:
            if not hasattr(self, "neutral_"):
                raise ValueError("this model holds no neutral face (read back from saved "
                                 "prototypes): give the animal's baseline= frames")
            return self.neutral_.mean[None], self.neutral_.scale[None]
        groups = np.asarray(groups)
        if len(groups) != len(X):
            raise ValueError(f"groups has {len(groups)} entries for {len(X)} frames")
        known = getattr(self, "references_", {})
        unseen = sorted(map(str, set(np.unique(groups)) - set(known)))
        if unseen:
            raise ValueError(f"groups {unseen} were not in fit: give their baseline= frames "
                             "(a mask over the rows of X)")
        mean = np.empty_like(X)
        scale = np.empty_like(X)
        for g in np.unique(groups):
            rows = groups == g
            mean[rows], scale[rows] = known[g].mean, known[g].scale
        return mean, scale

    def transform(self, X, *, baseline=None, groups=None) -> np.ndarray:
        """Expression strength of each frame relative to its animal's own neutral face.

        Parameters
        ----------
        X : array-like, shape (n_frames, n_features)
            HOG of one animal's frames (or several animals' with ``groups``).
        baseline : NeutralReference, (n_baseline, n_features) array or (n_frames,) bool, optional
            The animal's neutral face: a reference from :meth:`reference`, its baseline HOGs,
            or a mask of the baseline rows of ``X`` (per group with ``groups``). None: the
            neutral faces seen in ``fit`` (each group's own with ``groups``, else
            ``neutral_``).
        groups : array-like, shape (n_frames,), optional
            Animal of each row, when ``X`` holds several animals (``baseline`` a mask, or
            None for animals seen in ``fit``).

        Returns
        -------
        (n_frames, n_classes) float64 array
            Columns in ``classes_`` order (see the class notes).
        """
        check_is_fitted(self, "prototypes_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        mean, scale = self._references(X, baseline, groups)
        out = np.empty((len(X), len(self.classes_)))
        xs = standardize_rows(X)
        ms = standardize_rows(np.broadcast_to(mean, X.shape))
        out[:, 0] = np.einsum("ij,ij->i", xs, ms)
        if len(self.classes_) > 1:
            out[:, 1:] = similarity((X - mean) / scale, self.prototypes_[1:])
        return out

    def predict(self, X, *, baseline=None, groups=None) -> np.ndarray:
        """The condition whose difference prototype each frame is most similar to.

        Transfer-mode similarities of the neutral class are on another scale (raw HOG), so
        frames are assigned among the conditions only; use trial scores (stimulus window
        minus baseline) to decide whether anything happened at all. ``baseline`` and
        ``groups`` as in :meth:`transform`.
        """
        check_is_fitted(self, "prototypes_")
        s = self.transform(X, baseline=baseline, groups=groups)
        if s.shape[1] == 1:
            return np.full(len(s), self.classes_[0])
        return self.classes_[1:][np.nanargmax(np.nan_to_num(s[:, 1:], nan=-np.inf), axis=1)]

    def decision_function(self, X, *, baseline=None, groups=None) -> np.ndarray:
        """Same as :meth:`transform`."""
        check_is_fitted(self, "prototypes_")
        return self.transform(X, baseline=baseline, groups=groups)


def transfer_trial_scores(
    model: TransferModel, trials: list[TrialFrames], baseline
) -> pd.DataFrame:
    """Trial scores of one animal in transfer mode, as ``trials.trial_scores`` gives them.

    Parameters
    ----------
    model : TransferModel
        A fitted model (prototypes from other animals).
    trials : list of TrialFrames
        The animal's trials (baseline and stimulus HOG of each).
    baseline : NeutralReference or (n, n_features) array
        The animal's neutral face (e.g. ``model.reference(all its baseline frames)``).

    Returns
    -------
    DataFrame
        One row per trial (index ``event``) with ``score_<p>`` (mean similarity in the stimulus
        window minus the mean in the baseline window) and ``peak_<p>`` for each class.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> X = rng.normal(size=(40, 8)); y = np.repeat(["neutral", "pain"], 20)
    >>> X[20:, :2] += 2
    >>> model = TransferModel().fit(X, y)
    >>> t = TrialFrames(0, "pain", X[:10], X[30:])
    >>> s = transfer_trial_scores(model, [t], model.reference(X[:20]))
    >>> bool(s.loc[0, "score_pain"] > 0.5)
    True
    """
    if not isinstance(baseline, NeutralReference):
        baseline = model.reference(baseline)
    names = list(model.classes_)
    rows = []
    for t in trials:
        sim_b = (model.transform(t.baseline, baseline=baseline) if len(t.baseline)
                 else np.empty((0, len(names))))
        sim_s = (model.transform(t.stimulus, baseline=baseline) if len(t.stimulus)
                 else np.empty((0, len(names))))
        rows.append(score_row(t.event, sim_b, sim_s, names))
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).set_index("event")
