"""Spontaneous states from behaviour: freezing (passive fear) and escape (active fear) bouts.

Two of the six states of Dolensek et al. (2020) were never stimulus-locked: in a fearful context
(after shocks) the mice froze and tried to escape by themselves, and the prototypes of passive
and active fear came from those bouts. The operational definitions follow the Gogolla lab's
later pipeline:

- **escape** (``active_fear``): body or wheel movement above a threshold for more than
  ``min_escape`` (2) s;
- **freezing** (``passive_fear``): body movement *and* orofacial movement below their thresholds
  for more than ``min_freeze`` (5) s;

both in the fear context (from the first event that starts it, e.g. the first shock, to the end
of the session), outside every stimulus window and the baseline window before it, and with a
bout-free stretch of ``baseline`` seconds before the bout that serves as its baseline (the window
``mouseface run`` takes as the bout's neutral frames). A bout without one is *rejected* and
reported, not written.

**Measures.** Movement energy per frame (:mod:`mouseface.features.motion`): ``motion_energy``
(the face), ``motion_<region>`` (``body``, ``wheel``...), or ``speed`` (a running-speed table
on the video clock). Each is smoothed by a centred moving mean over ``smooth`` (0.5) s first.

**Thresholds** are data-driven by default, from robust statistics of each animal's own
movement (the smoothed measure over its frames outside stimulus windows):

- ``floor`` = the 5th percentile: the stillest the animal gets (camera noise and breathing);
- ``typical`` = the median: its usual quiet movement;
- ``scale`` = ``typical - floor``, its range of quiet movement (at least 2 % of the 99th
  percentile, so that a wheel encoder reading exactly 0 at rest still gets a scale: then the
  escape threshold is 10 % of the animal's top speed);
- freezing: below ``floor + freeze_fraction * scale`` on every freezing measure: for the
  body 0.4, a little under half-way from the stillest to the usual movement (a lull in the
  ordinary movement reaches half-way); for the face 1
  (``face_fraction``), below its usual movement (a freezing face still breathes and blinks,
  and the camera's noise is a larger share of a face's movement than of a body's);
- escape: above ``typical + escape_factor * scale`` (5) on the escape measure.

Percentiles, not means: the statistics hold while the animal is still (freezing or pausing)
in less than about half of the analysed frames and escapes in a few tenths; for an animal that
freezes most of the time, take a higher quantile as its usual movement
(``typical_quantile``). An animal that never freezes has its quietest moments as its floor, so
short quiet spells sit near the threshold: the minimum duration, and the face measure
(whisking is not freezing), keep them out (the tests: no freezing called in 20 minutes of
such an animal). A camera measure never falls below the camera's noise, and that noise may
drift (light, auto-exposure): the thresholds hold while it drifts by up to about a tenth within
a session (the tests drift it by 8 %); beyond that, ``floor_window`` divides each camera
measure by its running floor (:func:`local_floor`). Absolute thresholds can be given instead.

Brief interruptions of up to ``merge_gap`` (0.3) s inside a bout do not end it; orofacial
movement of up to ``face_tolerance`` (1) s (a blink, the face changing into its fear expression
at the onset of freezing) does not break freezing.

References
----------
Dolensek N, Gehrlach DA, Klein AS, Gogolla N (2020) Facial expressions of emotion states and
their neuronal correlates in mice. Science 368:89-94. doi:10.1126/science.aaz9468
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from mouseface.expressions.windows import assign_windows
from mouseface.io.intervals import frames_in

FREEZING = "passive_fear"
ESCAPE = "active_fear"
BOUT_TYPES = (FREEZING, ESCAPE)
#: columns of the bouts table (an events table ``run``, ``fit`` and ``score`` take)
BOUT_COLUMNS = ["session", "onset", "duration", "trial_type", "measure", "movement",
                "threshold", "animal"]
#: columns of the thresholds table
THRESHOLD_COLUMNS = ["animal", "measure", "floor", "typical", "scale", "freeze_threshold",
                     "escape_threshold", "n_frames", "source"]

#: which frame columns measure what, in order of preference
ESCAPE_MEASURES = ("speed", "motion_wheel", "motion_body")
FREEZE_BODY_MEASURES = ("motion_body", "motion_wheel", "speed")
FACE_MEASURE = "motion_energy"


# ---------------------------------------------------------------------------- arrays


def smooth_movement(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean over ``window`` frames, ignoring NaN (the first frame has none).

    Examples
    --------
    >>> smooth_movement(np.array([np.nan, 1.0, 1.0, 4.0]), 3).tolist()
    [1.0, 1.0, 2.0, 2.5]
    """
    x = np.asarray(x, dtype=np.float64)
    return (pd.Series(x).rolling(max(int(window), 1), center=True, min_periods=1).mean()
            .to_numpy())


def local_floor(x: np.ndarray, window: int, quantile: float = 0.05) -> np.ndarray:
    """Running ``quantile`` of ``x`` over a centred ``window`` of frames: the local noise floor.

    A camera's movement energy never falls below its noise, and that noise drifts with the
    light (a lamp warming up, auto-exposure) and with the compression (an encoder that spends
    its bits on a moving face leaves less noise in a still body). Dividing a measure by its
    running floor makes "still" mean the same everywhere in the session. The window should be
    much longer than a bout (60 s for bouts of seconds); NaN are ignored.

    Examples
    --------
    >>> x = np.r_[np.full(50, 1.0), np.full(50, 2.0)] * np.r_[np.ones(25), 3 * np.ones(75)]
    >>> local_floor(x, 21)[[0, 40, 99]].tolist()
    [1.0, 3.0, 6.0]
    """
    s = pd.Series(np.asarray(x, dtype=np.float64))
    lo = s.rolling(int(window), center=True, min_periods=max(1, int(window) // 4)).quantile(
        quantile).to_numpy()
    out = np.where(np.isfinite(lo) & (lo > 0), lo, np.nan)
    fallback = np.nanquantile(x, quantile) if np.isfinite(x).any() else np.nan
    return np.where(np.isfinite(out), out, fallback if fallback > 0 else 1.0)


def movement_thresholds(
    x: np.ndarray, *, floor_quantile: float = 0.05, typical_quantile: float = 0.5,
    freeze_fraction: float = 0.4, escape_factor: float = 5.0,
) -> dict[str, float]:
    """Freezing and escape thresholds from one animal's (smoothed) movement.

    Parameters
    ----------
    x : (n,) array
        Smoothed movement of the animal's frames outside stimulus windows (NaN ignored).
    floor_quantile, typical_quantile : float
        Quantiles taken as the stillest and the usual movement.
    freeze_fraction : float, default=0.4
        Freezing is below ``floor + freeze_fraction * scale``.
    escape_factor : float, default=5.0
        Escape is above ``typical + escape_factor * scale``.

    Returns
    -------
    dict
        ``floor``, ``typical``, ``scale``, ``freeze_threshold``, ``escape_threshold``,
        ``n_frames``.

    Raises
    ------
    ValueError
        When ``x`` has no finite value.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> quiet, still = rng.normal(2.0, 0.1, 900), rng.normal(1.0, 0.05, 100)
    >>> t = movement_thresholds(np.concatenate([quiet, still]))
    >>> 1.0 < t["freeze_threshold"] < 2.0 < t["escape_threshold"]
    True
    """
    v = np.asarray(x, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) == 0:
        raise ValueError("no finite movement values")
    floor, typical, top = np.quantile(v, [floor_quantile, typical_quantile, 0.99])
    scale = max(typical - floor, 0.02 * top, 1e-12)
    return {"floor": float(floor), "typical": float(typical), "scale": float(scale),
            "freeze_threshold": float(floor + freeze_fraction * scale),
            "escape_threshold": float(typical + escape_factor * scale), "n_frames": len(v)}


def runs(mask: np.ndarray) -> np.ndarray:
    """``(k, 2)`` start and stop (exclusive) indices of the runs of True in ``mask``.

    Examples
    --------
    >>> runs(np.array([0, 1, 1, 0, 1], bool)).tolist()
    [[1, 3], [4, 5]]
    """
    m = np.asarray(mask, dtype=bool).astype(np.int8)
    d = np.diff(np.concatenate([[0], m, [0]]))
    return np.column_stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)])


def _merge(r: np.ndarray, allowed: np.ndarray, gap: int) -> np.ndarray:
    """Join runs separated by at most ``gap`` frames that are all allowed."""
    if len(r) < 2 or gap <= 0:
        return r
    out = [list(r[0])]
    for start, stop in r[1:]:
        prev = out[-1]
        if start - prev[1] <= gap and allowed[prev[1]:start].all():
            prev[1] = stop
        else:
            out.append([start, stop])
    return np.asarray(out, dtype=np.int64).reshape(-1, 2)


@dataclass
class SessionBouts:
    """What :func:`detect_bouts` found in one session (frame indices into its arrays)."""

    bouts: pd.DataFrame           # onset, duration, trial_type, measure, movement, threshold
    rejected: pd.DataFrame        # the same for bouts without a bout-free baseline, + reason
    still: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, bool))
    moving: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, bool))


def detect_bouts(
    time: np.ndarray,
    freeze: Mapping[str, tuple[np.ndarray, float]],
    escape: tuple[str, np.ndarray, float] | None,
    *,
    allowed: np.ndarray | None = None,
    stimulus: np.ndarray | None = None,
    min_freeze: float = 5.0,
    min_escape: float = 2.0,
    merge_gap: float = 0.3,
    baseline: float = 2.0,
    tolerate: Mapping[str, float] | None = None,
) -> SessionBouts:
    """Freezing and escape bouts of one session from its (smoothed) movement.

    Parameters
    ----------
    time : (n,) array
        Frame times in seconds, increasing.
    freeze : mapping of str to (array, float)
        Measure name -> (smoothed movement (n,), freezing threshold). A frame is still when
        every measure is below its threshold (NaN counts as not still). Empty: no freezing.
    escape : (str, array, float) or None
        Measure name, smoothed movement (n,) and escape threshold; None: no escape.
    allowed : (n,) bool array, optional
        Frames where a bout may lie: in the fear context, outside stimulus and baseline
        windows. Default: every frame.
    stimulus : (n,) bool array, optional
        Frames in stimulus windows; a bout's baseline must not include any.
    min_freeze, min_escape : float
        A bout lasts more than this many seconds.
    merge_gap : float
        Runs separated by at most this many seconds (all allowed) are one bout.
    baseline : float
        Seconds before each bout that must be free of other bouts and stimuli (0: no rule).
    tolerate : mapping of str to float, optional
        Freezing measure -> seconds: movement above its threshold for at most this long (a
        blink, the face changing into its fear expression) does not break freezing.

    Returns
    -------
    SessionBouts

    Examples
    --------
    >>> t = np.arange(400) / 20.0                            # 20 s at 20 fps
    >>> body = np.where((t >= 5) & (t < 12), 0.5, 2.0)       # still from 5 to 12 s
    >>> wheel = np.where((t >= 15) & (t < 18), 9.0, 0.5)     # running from 15 to 18 s
    >>> found = detect_bouts(t, {"motion_body": (body, 1.0)}, ("motion_wheel", wheel, 4.0))
    >>> found.bouts[["onset", "duration", "trial_type"]].values.tolist()
    [[5.0, 7.0, 'passive_fear'], [15.0, 3.0, 'active_fear']]
    """
    t = np.asarray(time, dtype=np.float64)
    n = len(t)
    allowed = np.ones(n, bool) if allowed is None else np.asarray(allowed, bool)
    stimulus = np.zeros(n, bool) if stimulus is None else np.asarray(stimulus, bool)
    dt = float(np.median(np.diff(t))) if n > 1 else 1.0
    gap = int(round(merge_gap / dt))
    still = np.zeros(n, bool)
    if freeze:
        tol = {m: int(round(s / dt)) for m, s in (tolerate or {}).items() if m in freeze}
        active = {}
        for name, (x, thr) in freeze.items():
            with np.errstate(invalid="ignore"):
                active[name] = ~(np.asarray(x, dtype=np.float64) < thr)
        # the measures without tolerance say where the body is still; a tolerated measure's
        # movement counts only when it lasts longer than its tolerance inside that stretch
        still = allowed.copy()
        for name, a in active.items():
            if tol.get(name, 0) <= 0:
                still &= ~a
        for name, brief in tol.items():
            a = active[name] & still
            for start, stop in runs(a):
                if stop - start <= brief:
                    a[start:stop] = False
            still &= ~a
    moving = np.zeros(n, bool)
    if escape is not None:
        with np.errstate(invalid="ignore"):
            moving = allowed & (np.asarray(escape[1], dtype=np.float64) > escape[2])
    candidates = []
    kinds = ((FREEZING, still, min_freeze, "+".join(freeze), next(iter(freeze.values()), None)),
             (ESCAPE, moving, min_escape, escape[0] if escape else "",
              (escape[1], escape[2]) if escape else None))
    for kind, mask, shortest, measure, main in kinds:
        for start, stop in _merge(runs(mask), allowed, gap):
            duration = float(t[stop - 1] - t[start] + dt)
            if duration <= shortest:
                continue
            x, thr = main
            candidates.append({"onset": float(t[start]), "duration": round(duration, 6),
                               "trial_type": kind, "measure": measure,
                               "movement": float(np.nanmean(np.asarray(x)[start:stop])),
                               "threshold": float(thr), "_start": int(start),
                               "_stop": int(stop)})
    candidates.sort(key=lambda c: c["onset"])
    in_bout = np.zeros(n, bool)
    for c in candidates:
        in_bout[c["_start"]:c["_stop"]] = True
    kept, rejected = [], []
    for c in candidates:
        reason = ""
        if baseline > 0:
            # the bout's baseline frames (to 1 ns: the onset is a frame time)
            before = frames_in(t, c["onset"] - baseline - 1e-9, c["onset"])
            if c["onset"] - baseline < t[0] - 1e-9:
                reason = "no baseline: the session starts less than baseline s before"
            elif in_bout[before].any():
                reason = "no baseline: another bout in the baseline window"
            elif stimulus[before].any():
                reason = "no baseline: a stimulus in the baseline window"
        (rejected if reason else kept).append({**c, "reason": reason})
    cols = ["onset", "duration", "trial_type", "measure", "movement", "threshold"]
    bouts = pd.DataFrame(kept, columns=[*cols, "_start", "_stop"])[cols]
    rej = pd.DataFrame(rejected, columns=[*cols, "reason", "_start", "_stop"])[[*cols, "reason"]]
    return SessionBouts(bouts.reset_index(drop=True), rej.reset_index(drop=True), still, moving)


# ---------------------------------------------------------------------------- tables


@dataclass
class Bouts:
    """What :func:`find_bouts` found over a frames table.

    Attributes
    ----------
    bouts : DataFrame
        One row per bout (:data:`BOUT_COLUMNS`): an events table.
    rejected : DataFrame
        Bouts without a bout-free baseline, with ``reason``.
    thresholds : DataFrame
        Per animal and measure (:data:`THRESHOLD_COLUMNS`).
    traces : DataFrame
        Per frame of the analysed sessions: ``session``, ``animal``, ``time``, the smoothed
        measures, ``context`` (bool), ``allowed`` (bool), ``still`` and ``moving`` (bool): what
        the QC figure draws.
    context : dict
        Session -> the time its fear context starts (s).
    skipped : dict
        Session -> why it was not analysed.
    measures : dict
        ``freeze`` (list of measures) and ``escape`` (measure or None).
    """

    bouts: pd.DataFrame
    rejected: pd.DataFrame
    thresholds: pd.DataFrame
    traces: pd.DataFrame
    context: dict[str, float]
    skipped: dict[str, str]
    measures: dict


def context_starts(events: pd.DataFrame, context: str) -> dict[str, float]:
    """Session -> onset of its first event of ``trial_type == context``.

    Raises
    ------
    KeyError
        When no event has that trial type (the message lists the types there are).
    """
    ev = events[events["trial_type"].astype(str) == str(context)]
    if ev.empty:
        kinds = sorted(events["trial_type"].astype(str).unique())
        raise KeyError(f"context event '{context}' never happens (the events' trial types: "
                       f"{', '.join(kinds) or 'none'})")
    return ev.groupby(ev["session"].astype(str))["onset"].min().astype(float).to_dict()


def choose_measures(columns: Sequence[str], freeze: Sequence[str] | None = None,
                    escape: str | None = None) -> tuple[list[str], str | None]:
    """The freezing measures and the escape measure, by default the best ones present.

    Escape: ``speed``, else ``motion_wheel``, else ``motion_body``. Freezing: ``motion_body``
    (else ``motion_wheel``, else ``speed``) and the face's ``motion_energy``.

    Raises
    ------
    KeyError
        A measure that was asked for is not a column, or none measures the body.
    """
    cols = set(columns)
    for name in [*(freeze or []), *([escape] if escape else [])]:
        if name not in cols:
            raise KeyError(f"no movement column '{name}' (have: "
                           f"{', '.join(sorted(c for c in cols if _is_measure(c))) or 'none'})")
    if escape is None:
        escape = next((c for c in ESCAPE_MEASURES if c in cols), None)
    if freeze is None:
        body = next((c for c in FREEZE_BODY_MEASURES if c in cols), None)
        freeze = [c for c in (body, FACE_MEASURE) if c is not None and c in cols]
    if escape is None and not any(c in cols for c in FREEZE_BODY_MEASURES):
        raise KeyError("no body movement: give the sessions table a body or wheel region "
                       "(roi_body, roi_wheel) or a running-speed table")
    return list(freeze), escape


def _is_measure(c: str) -> bool:
    return c == "speed" or c.startswith("motion_")


def find_bouts(
    frames: pd.DataFrame,
    events: pd.DataFrame | None = None,
    *,
    context: str | None = "context",
    freeze: Sequence[str] | None = None,
    escape: str | None = None,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    smooth: float = 0.5,
    min_freeze: float = 5.0,
    min_escape: float = 2.0,
    merge_gap: float = 0.3,
    baseline: float = 2.0,
    face_tolerance: float = 1.0,
    freeze_fraction: float = 0.4,
    face_fraction: float = 1.0,
    escape_factor: float = 5.0,
    typical_quantile: float = 0.5,
    floor_window: float | None = None,
    sessions: Sequence[str] | None = None,
) -> Bouts:
    """Freezing and escape bouts of every session in a frames table.

    Parameters
    ----------
    frames : DataFrame
        One row per frame: ``session``, ``animal``, ``time`` (s) and movement columns
        (``motion_energy``, ``motion_<region>``, ``speed``), e.g. ``frames.parquet``.
    events : DataFrame, optional
        ``session``, ``onset``, ``duration``, ``trial_type``: the stimuli (their windows and
        the baseline windows before them hold no bout) and the events that start the context.
        Rows of type ``passive_fear`` or ``active_fear`` (bouts found before) are ignored.
    context : str or None, default="context"
        The trial type whose first event in a session starts its fear context; sessions
        without one are skipped. None: every session is in context from its first frame.
    freeze, escape : optional
        Measures (frame columns); default :func:`choose_measures`.
    thresholds : mapping, optional
        Measure -> (freezing threshold, escape threshold) for every animal, overriding the
        data-driven ones (None keeps that one data-driven).
    smooth : float, default=0.5
        Seconds of the centred moving mean applied to every measure first.
    min_freeze, min_escape, merge_gap, baseline : float
        See :func:`detect_bouts`.
    face_tolerance : float, default=1.0
        Orofacial movement (``motion_energy``) lasting at most this many seconds does not
        break freezing: a blink, the face changing into its fear expression at the onset.
    freeze_fraction, escape_factor : float
        See :func:`movement_thresholds`.
    typical_quantile : float, default=0.5
        The quantile taken as the animal's usual movement. The median holds while the animal
        is still (freezing or pausing) in less than about half of the analysed frames; for an
        animal that freezes most of the session, raise it (0.75) or give ``thresholds``.
    face_fraction : float, default=1.0
        ``freeze_fraction`` of the face's ``motion_energy``: 1 puts its freezing threshold at
        the face's typical movement (a freezing face moves less than it usually does; the
        face keeps breathing, blinking and the camera's noise, which are a larger share of
        its movement than of the body's).
    floor_window : float or None, default=None
        Seconds of the running 5th percentile each camera measure (``motion_*``) is divided
        by (:func:`local_floor`), for a camera whose noise floor drifts by more than about a
        tenth within a session. Every window must then hold some stillness: in one without,
        the quietest ordinary movement becomes the floor. None: the measures as they are.
    sessions : list of str, optional
        Analyse only these sessions.

    Returns
    -------
    Bouts

    Raises
    ------
    KeyError
        A context type that no event has, or a measure that is not a column.
    ValueError
        No session to analyse.
    """
    frames = frames.sort_values(["session", "time"], kind="stable").reset_index(drop=True)
    frames["session"] = frames["session"].astype(str)
    if "animal" not in frames.columns:
        frames["animal"] = frames["session"]
    frames["animal"] = frames["animal"].astype(str)
    if events is None:
        events = pd.DataFrame(columns=["session", "onset", "duration", "trial_type", "event"])
    events = events[~events["trial_type"].astype(str).isin(BOUT_TYPES)].copy()
    events["session"] = events["session"].astype(str)
    if "event" not in events.columns:
        events["event"] = np.arange(len(events))
    freeze_m, escape_m = choose_measures(list(frames.columns), freeze, escape)
    names = list(dict.fromkeys([*freeze_m, *([escape_m] if escape_m else [])]))

    all_sessions = list(dict.fromkeys(frames["session"]))
    wanted = all_sessions if sessions is None else [s for s in all_sessions if s in
                                                    set(map(str, sessions))]
    skipped: dict[str, str] = {}
    if context is None:
        starts = dict.fromkeys(wanted, -np.inf)
    else:
        known = context_starts(events, context)
        starts = {}
        for s in wanted:
            if s in known:
                starts[s] = known[s]
            else:
                skipped[s] = f"no '{context}' event"
    for s in list(starts):
        rows = frames["session"] == s
        missing = [m for m in names if frames.loc[rows, m].isna().all()]
        if missing:
            skipped[s] = f"no {', '.join(missing)} (no such region in this session)"
            del starts[s]
    if not starts:
        raise ValueError("no session to analyse: " + "; ".join(f"{s}: {why}" for s, why in
                                                               skipped.items()))

    f = frames[frames["session"].isin(starts)].reset_index(drop=True)
    dt = float(np.nanmedian(f.groupby("session")["time"].diff()))
    window = max(1, int(round(smooth / dt))) if np.isfinite(dt) and dt > 0 else 1
    span = (max(3, int(round(floor_window / dt))) if floor_window and np.isfinite(dt) and dt > 0
            else 0)
    smoothed = {}
    for m in names:
        parts = []
        for _, g in f.groupby("session", sort=False):
            x = smooth_movement(g[m].to_numpy(), window)
            if span and m != "speed":
                x = x / local_floor(x, span)
            parts.append(x)
        smoothed[m] = np.concatenate(parts)
    w = assign_windows(f, events, baseline)
    stimulus = (w["part"] == "stimulus").to_numpy()
    outside = (w["part"] == "").to_numpy()
    ctx = f["time"].to_numpy() >= f["session"].map(starts).to_numpy(dtype=np.float64)

    thr_rows = []
    thr: dict[tuple[str, str], dict] = {}
    override = dict(thresholds or {})
    for animal, idx in f.groupby("animal", sort=False).indices.items():
        use = idx[~stimulus[idx]]
        for m in names:
            t = movement_thresholds(smoothed[m][use], escape_factor=escape_factor,
                                    typical_quantile=typical_quantile,
                                    freeze_fraction=face_fraction if m == FACE_MEASURE
                                    else freeze_fraction)
            source = "data"
            fz, es = override.get(m, (None, None))
            if fz is not None:
                t["freeze_threshold"], source = float(fz), "given"
            if es is not None:
                t["escape_threshold"], source = float(es), "given"
            thr[(str(animal), m)] = t
            thr_rows.append({"animal": str(animal), "measure": m, **t, "source": source})

    found, rejected, traces = [], [], []
    for session, idx in f.groupby("session", sort=False).indices.items():
        animal = str(f["animal"].iloc[idx[0]])
        allowed = ctx[idx] & outside[idx]
        res = detect_bouts(
            f["time"].to_numpy()[idx],
            {m: (smoothed[m][idx], thr[(animal, m)]["freeze_threshold"]) for m in freeze_m},
            (escape_m, smoothed[escape_m][idx], thr[(animal, escape_m)]["escape_threshold"])
            if escape_m else None,
            allowed=allowed, stimulus=stimulus[idx], min_freeze=min_freeze,
            min_escape=min_escape, merge_gap=merge_gap, baseline=baseline,
            tolerate={FACE_MEASURE: face_tolerance})
        found.append(res.bouts.assign(session=session, animal=animal))
        rejected.append(res.rejected.assign(session=session, animal=animal))
        traces.append(pd.DataFrame({"session": session, "animal": animal,
                                    "time": f["time"].to_numpy()[idx],
                                    **{m: smoothed[m][idx] for m in names},
                                    "context": ctx[idx], "allowed": allowed,
                                    "still": res.still, "moving": res.moving}))
    bouts = pd.concat(found, ignore_index=True)[BOUT_COLUMNS]
    rej = pd.concat(rejected, ignore_index=True)
    rej = rej[[*BOUT_COLUMNS, "reason"]] if len(rej) else pd.DataFrame(
        columns=[*BOUT_COLUMNS, "reason"])
    return Bouts(bouts, rej, pd.DataFrame(thr_rows, columns=THRESHOLD_COLUMNS),
                 pd.concat(traces, ignore_index=True),
                 {s: float(v) for s, v in starts.items()}, skipped,
                 {"freeze": freeze_m, "escape": escape_m})


# ---------------------------------------------------------------------------- evaluation


def match_bouts(found: pd.DataFrame, truth: pd.DataFrame, *, min_overlap: float = 0.5
                ) -> pd.DataFrame:
    """Pair found bouts with true ones of the same session and type (one-to-one, greedy by
    overlap).

    A found and a true bout match when their intersection is at least ``min_overlap`` of the
    shorter one. Returns one row per true bout and per unmatched found bout: ``session``,
    ``trial_type``, ``true_onset``, ``true_duration``, ``onset``, ``duration`` (NaN where
    unmatched).

    Examples
    --------
    >>> truth = pd.DataFrame({"session": ["s"], "onset": [10.0], "duration": [6.0],
    ...                       "trial_type": ["passive_fear"]})
    >>> found = truth.assign(onset=10.2, duration=5.9)
    >>> match_bouts(found, truth)[["true_onset", "onset"]].values.tolist()
    [[10.0, 10.2]]
    """
    rows = []
    keys = ["session", "trial_type"]
    groups = set(map(tuple, truth[keys].astype(str).values)) | set(
        map(tuple, found[keys].astype(str).values))
    for session, kind in sorted(groups):
        tr = truth[(truth["session"].astype(str) == session)
                   & (truth["trial_type"].astype(str) == kind)]
        fo = found[(found["session"].astype(str) == session)
                   & (found["trial_type"].astype(str) == kind)]
        pairs = []
        for i, a in enumerate(tr.itertuples()):
            for j, b in enumerate(fo.itertuples()):
                inter = min(a.onset + a.duration, b.onset + b.duration) - max(a.onset, b.onset)
                if inter >= min_overlap * min(a.duration, b.duration):
                    pairs.append((inter, i, j))
        used_t, used_f = set(), set()
        for _, i, j in sorted(pairs, reverse=True):
            if i in used_t or j in used_f:
                continue
            used_t.add(i)
            used_f.add(j)
            rows.append((session, kind, tr.onset.iloc[i], tr.duration.iloc[i],
                         fo.onset.iloc[j], fo.duration.iloc[j]))
        rows += [(session, kind, tr.onset.iloc[i], tr.duration.iloc[i], np.nan, np.nan)
                 for i in range(len(tr)) if i not in used_t]
        rows += [(session, kind, np.nan, np.nan, fo.onset.iloc[j], fo.duration.iloc[j])
                 for j in range(len(fo)) if j not in used_f]
    return pd.DataFrame(rows, columns=["session", "trial_type", "true_onset", "true_duration",
                                       "onset", "duration"])


def detection_scores(matched: pd.DataFrame) -> pd.DataFrame:
    """Precision, recall, F1 and onset error per bout type from :func:`match_bouts`."""
    out = []
    for kind, g in matched.groupby("trial_type"):
        tp = int((g["true_onset"].notna() & g["onset"].notna()).sum())
        fn = int(g["onset"].isna().sum())
        fp = int(g["true_onset"].isna().sum())
        err = (g["onset"] - g["true_onset"]).abs().dropna()
        p = tp / (tp + fp) if tp + fp else float("nan")
        r = tp / (tp + fn) if tp + fn else float("nan")
        out.append({"trial_type": kind, "true": tp + fn, "found": tp + fp, "hits": tp,
                    "precision": p, "recall": r,
                    "f1": 2 * p * r / (p + r) if p + r else 0.0,
                    "onset_error_median": float(err.median()) if len(err) else float("nan"),
                    "onset_error_max": float(err.max()) if len(err) else float("nan")})
    return pd.DataFrame(out)


__all__ = ["BOUT_COLUMNS", "BOUT_TYPES", "Bouts", "ESCAPE", "FREEZING", "SessionBouts",
           "THRESHOLD_COLUMNS", "choose_measures", "context_starts", "detect_bouts",
           "detection_scores", "find_bouts", "local_floor", "match_bouts",
           "movement_thresholds", "runs",
           "smooth_movement"]
