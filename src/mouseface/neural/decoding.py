"""Population decoding: which condition a trial was, from the neurons' responses in it.

One sample per trial: each neuron's mean activity over the stimulus window
``[onset, onset + duration)`` minus its mean over the ``baseline`` seconds before onset. A
standardised ridge classifier (closed form, so fast with many neurons and few trials, and
quick enough for a permutation chance level) predicts the trial's condition; folds hold out
whole trials (stratified by condition), so neighbouring frames of one trial never sit on both
sides of a split. Chance comes from the same cross-validation on shuffled labels.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.expressions.windows import baseline_window, stimulus_window
from mouseface.io.intervals import Intervals


def trial_features(
    traces: np.ndarray,
    time: np.ndarray,
    trials: pd.DataFrame,
    *,
    baseline: float = 2.0,
    window: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-trial response of every neuron: stimulus-window mean minus pre-onset mean.

    Parameters
    ----------
    traces
        (neurons, frames) activity.
    time
        (frames,) imaging times on the onsets' clock.
    trials
        ``onset``, ``duration`` (used unless ``window`` is given), ``trial_type``.
    baseline
        Seconds before onset for the baseline mean (0: no subtraction).
    window
        Seconds after onset of the response window (default: each trial's duration).

    Returns
    -------
    X
        (trials, neurons) float64; NaN where a window holds no valid frame.
    ok
        (trials,) bool: the trial's windows lie inside the recording.
    """
    time = np.asarray(time, dtype=np.float64)
    traces = np.asarray(traces, dtype=np.float64)

    def window_mean(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
        return Intervals(start, stop).mean(time, traces).T

    onset = trials["onset"].to_numpy(np.float64)
    dur = (np.full(onset.shape, float(window)) if window is not None
           else trials["duration"].to_numpy(np.float64))
    start, stop = stimulus_window(onset, np.maximum(dur, 1e-9))
    x = window_mean(start, stop)
    ok = (start >= time[0]) & (stop <= time[-1] + np.median(np.diff(time)))
    if baseline > 0:
        b0, b1 = baseline_window(onset, baseline)
        x = x - window_mean(b0, b1)
        ok &= b0 >= time[0]
    return x, ok


def decode_conditions(
    traces: np.ndarray,
    time: np.ndarray,
    trials: pd.DataFrame,
    *,
    baseline: float = 2.0,
    window: float | None = None,
    n_splits: int = 5,
    n_permutations: int = 100,
    ridge: float = 1.0,
    seed: int = 0,
) -> dict[str, Any]:
    """Cross-validated decoding of each trial's condition from the population response.

    Parameters
    ----------
    traces, time, trials, baseline, window
        As in :func:`trial_features`.
    n_splits
        Folds (at most the smallest number of trials of a condition).
    n_permutations
        Label shuffles for the chance level and p-value (0: none).
    ridge
        L2 penalty of the :class:`~sklearn.linear_model.RidgeClassifier` (on standardised
        responses).
    seed
        Seed of the folds and shuffles.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``chance`` (1 / conditions), ``chance_permuted``
        (mean balanced accuracy on shuffled labels), ``p_value``, ``classes``,
        ``confusion_matrix`` (rows true, columns predicted), ``n_trials``, ``n_splits``,
        ``n_neurons``; or ``{"skipped": reason}`` when there are fewer than 2 conditions or a
        condition has fewer than 2 usable trials.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(6000) / 10.0
    >>> ev = pd.DataFrame({"onset": np.arange(20) * 25.0 + 10, "duration": 3.0,
    ...                    "trial_type": ["a", "b"] * 10})
    >>> x = rng.normal(size=(20, t.size))
    >>> for on, c in zip(ev.onset, ev.trial_type):
    ...     x[:10 if c == "a" else 20, (t >= on) & (t < on + 3)] += 1.0
    >>> decode_conditions(x, t, ev, n_permutations=0)["balanced_accuracy"]
    1.0
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import RidgeClassifier
    from sklearn.metrics import balanced_accuracy_score, confusion_matrix
    from sklearn.model_selection import StratifiedKFold, cross_val_predict, permutation_test_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    needed = {"onset", "trial_type"} | ({"duration"} if window is None else set())
    missing = sorted(needed - set(trials.columns))
    if missing:
        raise InputError(f"trials table is missing columns {missing}")
    x, ok = trial_features(traces, time, trials, baseline=baseline, window=window)
    ok &= np.isfinite(x).any(axis=1)
    labels = trials["trial_type"].astype(str).to_numpy()[ok]
    x = x[ok]
    classes, counts = np.unique(labels, return_counts=True)
    if classes.size < 2:
        return {"skipped": f"{classes.size} condition(s) with usable trials; need 2"}
    if counts.min() < 2:
        return {"skipped": f"condition {classes[counts.argmin()]!r} has {counts.min()} usable "
                "trial; need 2 per condition"}
    k = int(min(n_splits, counts.min()))
    cv = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    model = make_pipeline(SimpleImputer(strategy="mean", keep_empty_features=True),
                          StandardScaler(), RidgeClassifier(alpha=ridge))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence and constant-feature chatter
        pred = cross_val_predict(model, x, labels, cv=cv)
        out: dict[str, Any] = {
            "accuracy": float(np.mean(pred == labels)),
            "balanced_accuracy": float(balanced_accuracy_score(labels, pred)),
            "chance": 1.0 / classes.size,
            "classes": classes.tolist(),
            "confusion_matrix": confusion_matrix(labels, pred, labels=classes).tolist(),
            "n_trials": int(labels.size), "n_trials_dropped": int((~ok).sum()),
            "n_splits": k, "n_neurons": int(x.shape[1]), "split": "trial (stratified)",
        }
        if n_permutations:
            _, perm, pval = permutation_test_score(
                model, x, labels, cv=cv, n_permutations=n_permutations,
                scoring="balanced_accuracy", random_state=seed)
            out["chance_permuted"] = float(np.mean(perm))
            out["p_value"] = float(pval)
    return out


__all__ = ["decode_conditions", "trial_features"]
