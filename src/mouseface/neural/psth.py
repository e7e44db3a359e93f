"""Trial-locked responses: every neuron's activity around each trial onset, per condition."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mouseface._errors import InputError


@dataclass(eq=False)
class PSTH:
    """Peri-stimulus responses.

    Attributes
    ----------
    lags
        (L,) seconds from onset.
    responses
        (trials, neurons, L) float32 activity at ``onset + lags`` (baseline-subtracted when
        asked), for the trials kept.
    trials
        The kept trials (rows of the events table, index reset), in ``responses`` order.
    conditions
        Condition names, sorted.
    n_dropped
        Trials whose window was not inside the recording.
    params
        ``pre``, ``post``, ``baseline``.
    """

    lags: np.ndarray
    responses: np.ndarray
    trials: pd.DataFrame
    conditions: list[str]
    n_dropped: int = 0
    params: dict[str, Any] = field(default_factory=dict)

    def mean(self, condition: str) -> np.ndarray:
        """(neurons, L) mean over the trials of ``condition`` (NaN frames ignored)."""
        sel = (self.trials["trial_type"].astype(str) == condition).to_numpy()
        if not sel.any():
            return np.full(self.responses.shape[1:], np.nan, np.float32)
        with warnings.catch_warnings():  # all-NaN samples stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(self.responses[sel], axis=0)

    def n_trials(self) -> dict[str, int]:
        """Trials kept per condition."""
        counts = self.trials["trial_type"].astype(str).value_counts()
        return {c: int(counts.get(c, 0)) for c in self.conditions}


def sample_at(traces: np.ndarray, time: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Linear interpolation of every row of ``traces`` (neurons, frames) at times ``at``.

    Returns (neurons, *at.shape). NaN frames propagate only to the samples next to them.
    """
    time = np.asarray(time, dtype=np.float64)
    flat = np.asarray(at, dtype=np.float64).ravel()
    k = np.clip(np.searchsorted(time, flat, side="right") - 1, 0, time.size - 2)
    w = np.clip((flat - time[k]) / (time[k + 1] - time[k]), 0.0, 1.0).astype(np.float32)
    out = traces[:, k] * (1 - w) + traces[:, k + 1] * w
    return out.reshape((traces.shape[0], *np.shape(at)))


def psth(
    traces: np.ndarray,
    time: np.ndarray,
    trials: pd.DataFrame,
    *,
    pre: float = 2.0,
    post: float = 6.0,
    baseline: bool = True,
) -> PSTH:
    """Activity around each onset of ``trials`` (``onset`` and ``trial_type`` columns).

    Parameters
    ----------
    traces
        (neurons, frames) activity.
    time
        (frames,) imaging times on the same clock as the onsets (video seconds).
    trials
        Events: ``onset`` (s) and ``trial_type`` (the condition).
    pre, post
        Seconds before and after onset.
    baseline
        Subtract each trial's mean over ``[−pre, 0)``.

    Returns
    -------
    PSTH
        Sampled every imaging frame interval (linear interpolation between frames). Trials
        whose window is not inside the recording are dropped and counted.

    Examples
    --------
    >>> t = np.arange(600) / 10.0
    >>> x = ((t >= 20) & (t < 23)).astype(float)[None, :]
    >>> ev = pd.DataFrame({"onset": [20.0], "trial_type": ["pain"]})
    >>> r = psth(x, t, ev, pre=1.0, post=4.0)
    >>> float(r.mean("pain")[0, r.lags.searchsorted(1.0)])
    1.0
    """
    missing = sorted({"onset", "trial_type"} - set(trials.columns))
    if missing:
        raise InputError(f"trials table is missing columns {missing}")
    time = np.asarray(time, dtype=np.float64)
    if time.size < 2:
        raise InputError("need at least two imaging frames for trial-locked responses")
    dt = float(np.median(np.diff(time)))
    n_pre = int(round(pre / dt))
    lags = np.arange(-n_pre, int(round(post / dt))) * dt
    onsets = trials["onset"].to_numpy(np.float64)
    inside = (onsets + lags[0] >= time[0] - 1e-9) & (onsets + lags[-1] <= time[-1] + 1e-9)
    kept = trials.loc[inside].reset_index(drop=True)
    at = onsets[inside][:, None] + lags[None, :]
    resp = np.moveaxis(sample_at(np.asarray(traces, np.float32), time, at), 0, 1)
    if baseline and n_pre > 0:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            resp = resp - np.nanmean(resp[:, :, :n_pre], axis=2, keepdims=True)
    conditions = sorted(kept["trial_type"].astype(str).unique())
    return PSTH(lags=lags, responses=resp.astype(np.float32), trials=kept,
                conditions=conditions, n_dropped=int((~inside).sum()),
                params={"pre": pre, "post": post, "baseline": baseline})


__all__ = ["PSTH", "psth", "sample_at"]
