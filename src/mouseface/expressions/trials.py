"""Trials: honest (cross-fitted) trial scores from the frames of each trial's windows.

The windows themselves come from :mod:`mouseface.expressions.windows`.

A trial's score for prototype p is the mean similarity to p over the stimulus window
``[onset, onset + duration)`` minus the mean over the ``baseline`` seconds before onset. A trial
is never scored with a prototype built from its own frames: the prototype of the trial's own
condition is rebuilt from the other trials of that condition (cross-fitting).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mouseface.expressions.fitting import emotion_prototype
from mouseface.expressions.similarity import similarity
from mouseface.expressions.windows import NEUTRAL


@dataclass
class TrialFrames:
    """HOG of one trial's baseline and stimulus windows."""

    event: int
    condition: str
    baseline: np.ndarray  # (n_baseline_frames, n_features)
    stimulus: np.ndarray  # (n_stimulus_frames, n_features)
    in_prototype: bool = True  # False: excluded from prototypes (e.g. a first trial)
    usable: np.ndarray | None = None  # stimulus frames allowed into prototypes (quality)

    @property
    def prototype_frames(self) -> np.ndarray:
        """Stimulus frames that may build prototypes (flagged frames are scored, not used)."""
        return self.stimulus if self.usable is None else self.stimulus[self.usable]


def window_scores(sim_baseline: np.ndarray, sim_stimulus: np.ndarray) -> dict[str, np.ndarray]:
    """Score and peak of one trial from its similarity in the two windows (per prototype).

    ``score`` = mean(stimulus) - mean(baseline); ``peak`` = max(stimulus) - mean(baseline).
    Empty windows give NaN.
    """
    # All-NaN windows (every frame flagged or undecodable) give NaN, not a warning.
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        base = np.nanmean(sim_baseline, axis=0) if len(sim_baseline) else np.nan
        stim = np.nanmean(sim_stimulus, axis=0) if len(sim_stimulus) else np.nan
        peak = np.nanmax(sim_stimulus, axis=0) if len(sim_stimulus) else np.nan
    n = sim_stimulus.shape[1]
    return {"score": np.broadcast_to(stim - base, (n,)),
            "peak": np.broadcast_to(peak - base, (n,)),
            "baseline": np.broadcast_to(base, (n,))}


def crossfit_trial_scores(
    trials: list[TrialFrames], *, n_frames: int = 10, neutral: np.ndarray | None = None,
    neutral_label: str = NEUTRAL,
) -> tuple[pd.DataFrame, list[str]]:
    """Score every trial of one animal with prototypes that never saw its own frames.

    The neutral prototype is the mean of all baseline frames (``neutral`` overrides it). The
    prototype of condition c for a trial of condition c is built from the other trials of c; for
    the other conditions all their trials are used (they contain none of this trial's frames).

    Returns
    -------
    scores : DataFrame
        One row per trial (index ``event``) with ``score_<p>``, ``peak_<p>`` for each prototype.
    names : list of str
        Prototype names, neutral first.
    """
    if not trials:
        return pd.DataFrame(), []
    if neutral is None:
        base = [t.baseline for t in trials if len(t.baseline)]
        if not base:
            raise ValueError("no baseline frames before any onset: cannot build the neutral "
                             "prototype")
        neutral = np.concatenate(base).mean(axis=0)
    names, protos = crossfit_prototypes(trials, n_frames=n_frames, neutral=neutral,
                                        neutral_label=neutral_label)
    rows = [_score_row(t, p, names) for t, p in zip(trials, protos, strict=True)]
    return pd.DataFrame(rows).set_index("event"), names


def crossfit_prototypes(
    trials: list[TrialFrames], *, n_frames: int = 10, neutral: np.ndarray,
    neutral_label: str = NEUTRAL,
) -> tuple[list[str], list[np.ndarray]]:
    """The prototypes that score each trial (neutral first): its own condition's from the
    condition's other trials, the other conditions' from all their trials.

    Only each trial's :attr:`~TrialFrames.prototype_frames` are used, so a trial may carry just
    its ``n_frames`` stimulus frames least like ``neutral`` (in frame order): the least-neutral
    frames of several trials are among the least-neutral frames of each, and the prototypes come
    out the same. That is how a long session is scored without holding every trial's frames.
    """
    conditions = sorted({t.condition for t in trials})
    stim_of = {c: [t for t in trials
                   if t.condition == c and t.in_prototype and len(t.prototype_frames)]
               for c in conditions}
    full = {c: emotion_prototype(np.concatenate([t.prototype_frames for t in ts]), neutral,
                                 n_frames)
            for c, ts in stim_of.items() if ts}
    names = [neutral_label, *conditions]
    out = []
    for t in trials:
        protos = [neutral]
        for c in conditions:
            if c == t.condition:
                others = [o.prototype_frames for o in stim_of[c] if o.event != t.event]
                p = (emotion_prototype(np.concatenate(others), neutral, n_frames)
                     if others else np.full_like(neutral, np.nan))
            else:
                p = full.get(c, np.full_like(neutral, np.nan))
            protos.append(p)
        out.append(np.vstack(protos))
    return names, out


def trial_scores(
    trials: list[TrialFrames], prototypes: np.ndarray, names: list[str]
) -> pd.DataFrame:
    """Score trials with fixed prototypes (e.g. a saved model applied to new animals)."""
    return pd.DataFrame([_score_row(t, prototypes, names) for t in trials]).set_index("event")


def _score_row(t: TrialFrames, prototypes: np.ndarray, names: list[str]) -> dict:
    return score_row(t.event, _sim(t.baseline, prototypes), _sim(t.stimulus, prototypes), names)


def score_row(event: int, sim_baseline: np.ndarray, sim_stimulus: np.ndarray,
              names: list[str]) -> dict:
    """One trial's row of scores from its windows' similarities (columns in ``names`` order)."""
    s = window_scores(sim_baseline, sim_stimulus)
    row = {"event": event}
    for j, name in enumerate(names):
        row[f"score_{name}"] = s["score"][j]
        row[f"peak_{name}"] = s["peak"][j]
    return row


def _sim(x: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    if len(x) == 0:
        return np.empty((0, len(prototypes)))
    return similarity(x, prototypes)


def top_prototype(trials: pd.DataFrame, *, score: str = "score") -> pd.Series:
    """Each trial's highest-scoring emotion prototype (``neutral`` left out).

    Parameters
    ----------
    trials
        A table with ``<score>_<prototype>`` columns (``trials.csv``).
    score
        ``"score"`` (mean) or ``"peak"``.

    Returns
    -------
    Series
        The prototype's name, indexed like ``trials``; NaN where a trial has no finite score.

    Examples
    --------
    >>> t = pd.DataFrame({"score_neutral": [0.9, 0.0], "score_a": [0.1, np.nan],
    ...                   "score_b": [0.2, np.nan]})
    >>> top_prototype(t).tolist()
    ['b', nan]
    """
    cols = [c for c in trials.columns
            if c.startswith(f"{score}_") and c != f"{score}_{NEUTRAL}"]
    values = trials[cols].to_numpy(dtype=float) if cols else np.empty((len(trials), 0))
    finite = np.isfinite(values).any(axis=1)
    best = np.argmax(np.where(np.isfinite(values), values, -np.inf), axis=1) if cols else []
    names = np.array([c.removeprefix(f"{score}_") for c in cols], dtype=object)
    out = pd.Series(np.nan, index=trials.index, dtype=object)
    if cols:
        out[finite] = names[np.asarray(best)[finite]]
    return out
