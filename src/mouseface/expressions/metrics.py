"""Trial metrics of expression traces: intensity, latency, persistence, decay, valence.

For every trial and every prototype (plus the valence axis) the similarity trace is cut into
the trial's baseline, stimulus and post windows (:mod:`mouseface.expressions.windows`) and
summarised:

- **intensity** — mean (``intensity_mean``) and maximum (``intensity_peak``) of the trace over
  the stimulus window minus the mean over the baseline window;
- **latency** — seconds from onset to the maximum within the stimulus window;
- **persistence** — seconds from the stimulus offset until the baseline-subtracted trace,
  smoothed by a centred moving mean of ``smooth`` seconds, first comes back within
  ``noise_sd`` standard deviations of the baseline window; NaN, with
  ``persistence_censored`` true, when it does not come back within the post window;
- **decay time constant** — ``tau`` of ``a * exp(-(t - t_peak) / tau)`` fitted
  (:func:`scipy.optimize.curve_fit`) to the baseline-subtracted trace from the stimulus offset
  (or from the peak, when the trace peaks after the offset) to the end of the post window; NaN
  when the trace there is not above the baseline noise, there are fewer than 4 points, the fit
  fails or ``tau`` ends at a bound (the start and "above noise" are judged on the smoothed
  trace; the fit uses the raw one);
- **valence** — an extra trace, ``sim_pleasure - mean(sim_disgust, sim_pain)`` (whichever of
  the two exist), present only when the prototype ``pleasure`` and at least one of ``disgust``
  and ``pain`` exist. Positive values: the face is closer to the pleasant expression than to
  the aversive ones. This is a convention of mouseface, not a measure from the paper: it says
  nothing of states other than these three.

Normalisation (``normalize=True``), after the later pipeline of the Gogolla lab: every trace
``r`` becomes ``s = exp(k * r)`` (sharpening: large similarities weigh more), minus its mean
over the trial's baseline window, clipped at 0, then divided by a per-animal maximum: the
largest value of ``s`` in the stimulus windows of the animal's trials of the prototype's own
condition (for prototypes that name no condition of the animal, e.g. neutral, of all its
trials). Baseline is then 0 and the own-condition maximum 1. The valence is computed from the
normalised traces. The value of ``k`` is a free parameter (default 10).

Notes
-----
The ``sim_`` columns of ``frames.parquet`` come from prototypes built from all trials of an
animal, so a trial's own-condition metrics are slightly optimistic; the cross-fitted
``score_<p>`` of ``trials.csv`` are the honest trial scores.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.ndimage import uniform_filter1d
from scipy.optimize import OptimizeWarning, curve_fit

from mouseface.expressions.windows import TrialWindow, trial_windows
from mouseface.io.tables import event_columns

VALENCE = "valence"
POSITIVE = ("pleasure",)
NEGATIVE = ("disgust", "pain")

#: columns of :func:`trial_metrics` after the events' own columns
METRIC_COLUMNS = ["prototype", "own", "normalized", "baseline_mean", "baseline_sd",
                  "intensity_mean", "intensity_peak", "latency_s", "persistence_s",
                  "persistence_censored", "decay_tau_s", "n_baseline", "n_stimulus", "n_post"]


def valence(traces: dict[str, np.ndarray]) -> np.ndarray | None:
    """``pleasure - mean(disgust, pain)`` from a dict of traces; None when undefined."""
    pos = [traces[p] for p in POSITIVE if p in traces]
    neg = [traces[p] for p in NEGATIVE if p in traces]
    if not pos or not neg:
        return None
    return np.mean(pos, axis=0) - np.mean(neg, axis=0)


def sharpen(r: np.ndarray, nb: int, k: float) -> np.ndarray:
    """``exp(k r)`` minus its mean over the first ``nb`` samples (the baseline), clipped at 0."""
    s = np.exp(k * np.asarray(r, dtype=np.float64))
    base = np.nanmean(s[:nb]) if nb else np.nan
    return np.clip(s - base, 0, None)


def decay_time_constant(t: np.ndarray, y: np.ndarray) -> float:
    """``tau`` of ``y ≈ a exp(-(t - t[0]) / tau)``; NaN when the fit fails or hits a bound."""
    t = np.asarray(t, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    if len(t) < 4 or y[0] <= 0:
        return float("nan")
    t = t - t[0]
    span = t[-1]
    hi = 100 * span
    dt = np.median(np.diff(t))
    below = np.flatnonzero(y <= y[0] / np.e)
    guess = float(np.clip(t[below[0]] if len(below) else span, 2 * dt, hi / 2))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", OptimizeWarning)
            (a, tau), _ = curve_fit(lambda x, a, tau: a * np.exp(-x / tau), t, y,
                                    p0=(y[0], guess), bounds=([0, dt / 10], [np.inf, hi]),
                                    maxfev=2000)
    except (RuntimeError, ValueError, OptimizeWarning):
        return float("nan")
    if not (np.isfinite(tau) and dt / 10 * 1.01 < tau < hi * 0.99 and a > 0):
        return float("nan")
    return float(tau)


def trace_metrics(
    t: np.ndarray, x: np.ndarray, nb: int, ns: int, *, duration: float,
    noise_sd: float = 2.0, smooth: float = 0.25, subtract: bool = True,
) -> dict:
    """Metrics of one trace of one trial (see the module notes).

    Parameters
    ----------
    t : ndarray, shape (n,)
        Seconds from onset of each sample: ``nb`` baseline, ``ns`` stimulus, then post samples.
    x : ndarray, shape (n,)
        The trace.
    nb, ns : int
        Samples in the baseline and the stimulus window.
    duration : float
        Stimulus duration in seconds (persistence is counted from ``duration``).
    noise_sd : float, default=2.0
        How many baseline standard deviations count as "back to baseline".
    smooth : float, default=0.25
        Seconds of the moving mean applied before the persistence threshold.
    subtract : bool, default=True
        Subtract the baseline mean (False when the trace is baseline-subtracted already).
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    out = {"baseline_mean": np.nan, "baseline_sd": np.nan, "intensity_mean": np.nan,
           "intensity_peak": np.nan, "latency_s": np.nan, "persistence_s": np.nan,
           "persistence_censored": True, "decay_tau_s": np.nan,
           "n_baseline": int(nb), "n_stimulus": int(ns), "n_post": int(len(x) - nb - ns)}
    base = x[:nb]
    if nb and np.isfinite(base).any():
        out["baseline_mean"] = float(np.nanmean(base))
    if nb > 1 and np.isfinite(base).sum() > 1:
        out["baseline_sd"] = float(np.nanstd(base, ddof=1))
    ref = out["baseline_mean"] if subtract else 0.0
    d = x - ref
    stim = d[nb:nb + ns]
    if ns == 0 or not np.isfinite(stim).any():
        return out
    peak = int(np.nanargmax(stim))
    out["intensity_mean"] = float(np.nanmean(stim))
    out["intensity_peak"] = float(stim[peak])
    out["latency_s"] = float(t[nb + peak])
    threshold = noise_sd * out["baseline_sd"]
    if not np.isfinite(threshold):
        return out
    dt = float(np.median(np.diff(t))) if len(t) > 1 else 1.0
    width = max(1, int(round(smooth / dt)))
    resp = d[nb:]
    filled = np.where(np.isfinite(resp), resp, 0.0)
    smoothed = uniform_filter1d(filled, size=width, mode="nearest")
    post = smoothed[ns:]
    back = np.flatnonzero(np.abs(post) <= threshold)
    if len(back):
        out["persistence_s"] = round(float(max(t[nb + ns + back[0]] - duration, 0.0)), 9)
        out["persistence_censored"] = False
    start = max(int(np.argmax(smoothed)), ns)
    if start < len(resp) and smoothed[start] > threshold:
        out["decay_tau_s"] = decay_time_constant(t[nb + start:], resp[start:])
    return out


def trial_metrics(
    frames: pd.DataFrame, events: pd.DataFrame, *, baseline: float, post: float = 10.0,
    prototypes: list[str] | None = None, noise_sd: float = 2.0, smooth: float = 0.25,
    normalize: bool = False, k: float = 10.0, with_valence: bool = True,
) -> pd.DataFrame:
    """Metrics of every trial for every prototype (and the valence axis).

    Parameters
    ----------
    frames : DataFrame
        ``session``, ``animal``, ``time`` and ``sim_<p>`` columns (``frames.parquet``).
    events : DataFrame
        ``session``, ``onset``, ``duration``, ``trial_type``, ``event`` and any other columns
        (``trials.csv``); ``score_``/``peak_`` columns are dropped from the output.
    baseline : float
        Seconds of baseline before each onset.
    post : float, default=10
        Seconds after the stimulus offset searched for the return to baseline (cut at the
        next onset of the session and at its end).
    prototypes : list of str, optional
        Prototypes to measure; default every ``sim_`` column.
    noise_sd, smooth
        See :func:`trace_metrics`.
    normalize : bool, default=False
        The Gogolla lab's normalisation (module notes) with sharpening factor ``k``.
    k : float, default=10
    with_valence : bool, default=True
        Add the valence axis when it is defined.

    Returns
    -------
    DataFrame
        One row per trial and prototype: the events' own columns (including ``animal``), then
        ``prototype`` (name, or ``valence``), ``own`` (the prototype is the trial's
        condition), ``normalized``, ``baseline_mean``, ``baseline_sd`` (of the trace in the
        baseline window), ``intensity_mean``, ``intensity_peak`` (baseline-subtracted),
        ``latency_s`` (onset to peak), ``persistence_s`` (offset to return within baseline
        noise), ``persistence_censored``, ``decay_tau_s``, ``n_baseline``, ``n_stimulus``,
        ``n_post`` (frames in each window).
    """
    names = prototypes or [c.removeprefix("sim_") for c in frames.columns
                           if c.startswith("sim_")]
    missing = [p for p in names if f"sim_{p}" not in frames.columns]
    if missing:
        raise ValueError(f"no sim_ column for prototypes {missing}")
    frames = frames.reset_index(drop=True)
    windows = trial_windows(frames, events, baseline, post=post)
    sims = {p: frames[f"sim_{p}"].to_numpy(dtype=np.float64) for p in names}
    animal_of = frames.drop_duplicates("session").set_index("session")["animal"].astype(str)
    ev = events.copy()
    if "animal" not in ev.columns:
        ev["animal"] = ev["session"].astype(str).map(animal_of)
    ev = ev[event_columns(ev)]
    traces = {e: {p: s[w.rows] for p, s in sims.items()} for e, w in windows.items()}
    if normalize:
        traces = _normalize(traces, windows, ev, k)
    if with_valence:
        for tr in traces.values():
            v = valence(tr)
            if v is not None:
                tr[VALENCE] = v
    rows = []
    for row in ev.itertuples(index=False):
        w = windows.get(int(row.event))
        if w is None:
            continue
        for p, x in traces[w.event].items():
            m = trace_metrics(w.time, x, len(w.baseline), len(w.stimulus),
                              duration=float(row.duration), noise_sd=noise_sd, smooth=smooth,
                              subtract=not normalize)
            rows.append({**row._asdict(), "prototype": p, "own": p == str(row.trial_type),
                         "normalized": normalize, **m})
    out = pd.DataFrame(rows, columns=[*ev.columns, *METRIC_COLUMNS])
    return out


def _normalize(traces: dict, windows: dict[int, TrialWindow], events: pd.DataFrame,
               k: float) -> dict:
    sharp = {e: {p: sharpen(x, len(windows[e].baseline), k) for p, x in tr.items()}
             for e, tr in traces.items()}
    info = events.set_index("event")
    out = {e: {} for e in sharp}
    for _, ev in info[info.index.isin(list(sharp))].groupby("animal"):
        ids = [int(e) for e in ev.index]
        conditions = set(ev["trial_type"].astype(str))
        for p in sharp[ids[0]]:
            own = [e for e in ids if str(info.at[e, "trial_type"]) == p] if p in conditions \
                else ids
            peaks = [_max(_stim(sharp[e][p], windows[e])) for e in own]
            top = np.nanmax(peaks) if peaks and np.isfinite(peaks).any() else np.nan
            for e in ids:
                out[e][p] = sharp[e][p] / top if top > 0 else np.full_like(sharp[e][p], np.nan)
    return out


def _max(x: np.ndarray) -> float:
    return float(np.nanmax(x)) if np.isfinite(x).any() else np.nan


def _stim(x: np.ndarray, w: TrialWindow) -> np.ndarray:
    nb = len(w.baseline)
    return x[nb:nb + len(w.stimulus)]


__all__ = ["METRIC_COLUMNS", "NEGATIVE", "POSITIVE", "VALENCE", "decay_time_constant", "sharpen",
           "trace_metrics", "trial_metrics", "valence"]
