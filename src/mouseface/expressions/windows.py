"""Trial windows: the one place that says which seconds of a session belong to which trial.

A trial (one row of the events table) has

- a **baseline** window ``[onset - baseline, onset)``: its frames are ``neutral``;
- a **stimulus** window ``[onset, onset + duration)``: its frames are the trial's condition;
- for persistence and the report's aligned traces, a **post** window from the stimulus offset
  until ``post`` seconds later, the next onset of the same session or the end of the session,
  whichever comes first.

A stimulus window wins over an overlapping baseline window. Everything that needs windows
(prototypes, trial scores, quality's neutral frames, the mean faces, the report, neural
decoding and PSTHs) takes them from here as :class:`~mouseface.io.intervals.Intervals` or as
frame positions; nothing else does this arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mouseface.io.intervals import Intervals, frames_in
from mouseface.io.tables import NEUTRAL

__all__ = ["MIN_WINDOW_FRACTION", "NEUTRAL", "WINDOW_OK", "TrialWindow", "assign_windows",
           "baseline_window", "label_frames",
           "post_stop", "stimulus_window", "trial_frames", "trial_intervals", "trial_windows",
           "window_counts", "window_index"]

#: A trial is scored only when each of its windows holds at least this fraction of the frames
#: its length implies at the video's frame rate (and at least one frame): an onset at the first
#: frame has no baseline, and a video that ends or loses frames inside a trial leaves a window
#: too thin to stand for the trial.
MIN_WINDOW_FRACTION = 0.5
#: ``window_flag`` of a trial whose windows are long enough to score.
WINDOW_OK = "ok"


#: ``frames_in`` under the name the trial code has used: frames with ``start <= t < stop``.
window_index = frames_in


def baseline_window(onset, baseline: float):
    """``(start, stop)`` of the baseline window(s) before ``onset`` (scalars or arrays)."""
    return onset - baseline, onset


def stimulus_window(onset, duration):
    """``(start, stop)`` of the stimulus window(s)."""
    return onset, onset + duration


def post_stop(onset: float, duration: float, later_onsets: np.ndarray, post: float) -> float:
    """End of the post window: ``post`` s after the offset, cut at the next onset."""
    later = later_onsets[later_onsets > onset]
    return min(onset + duration + post, later[0] if len(later) else np.inf)


def trial_intervals(
    events: pd.DataFrame, baseline: float, *, neutral_label: str = NEUTRAL,
    exclude: np.ndarray | None = None,
) -> Intervals:
    """The baseline and stimulus windows of one session's events, stimulus windows last.

    Parameters
    ----------
    events : DataFrame
        This session's events (``onset``, ``duration``, ``trial_type``, ``event``).
    baseline : float
        Seconds before each onset taken as baseline.
    exclude : (n_events,) bool array, optional
        Events whose stimulus frames are labelled ``""`` (kept out of prototypes).

    Examples
    --------
    >>> ev = pd.DataFrame({"onset": [2.0], "duration": [1.0], "trial_type": ["pain"],
    ...                    "event": [0]})
    >>> trial_intervals(ev, 1.0).label(np.arange(8) / 2).tolist()
    ['', '', 'neutral', 'neutral', 'pain', 'pain', '', '']
    """
    if events.empty:
        return Intervals(np.empty(0), np.empty(0), (), np.empty(0, np.int64))
    onset = events["onset"].to_numpy(np.float64)
    duration = events["duration"].to_numpy(np.float64)
    event = (events["event"].to_numpy(np.int64) if "event" in events.columns
             else np.arange(len(events)))
    b0, b1 = baseline_window(onset, baseline)
    s0, s1 = stimulus_window(onset, duration)
    kinds = [str(c) for c in events["trial_type"]]
    if exclude is not None:
        kinds = ["" if x else k for k, x in zip(kinds, np.asarray(exclude, bool), strict=True)]
    return Intervals(np.r_[b0, s0], np.r_[b1, s1],
                     (neutral_label,) * len(onset) + tuple(kinds), np.r_[event, event])


def label_frames(
    time: np.ndarray,
    events: pd.DataFrame,
    baseline: float,
    *,
    neutral_label: str = NEUTRAL,
    exclude: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Label each frame of one session for prototype fitting.

    Parameters
    ----------
    time : (n_frames,) array
        Frame times in seconds, increasing.
    events : DataFrame
        This session's events (``onset``, ``duration``, ``trial_type``, ``event``).
    baseline : float
        Seconds before each onset taken as baseline (neutral) frames.
    exclude : (n_events,) bool array, optional
        Events whose stimulus frames must not enter the prototypes (e.g. first trials).

    Returns
    -------
    labels : (n_frames,) str array
        ``neutral_label`` in baseline windows, the ``trial_type`` in stimulus windows, ``""``
        elsewhere. A stimulus label wins over an overlapping baseline window.
    event_of : (n_frames,) int array
        The ``event`` id of each stimulus frame, -1 elsewhere.
    """
    iv = trial_intervals(events, baseline, neutral_label=neutral_label, exclude=exclude)
    labels = iv.label(time)
    n = len(events)
    stim = Intervals(iv.starts[n:], iv.stops[n:], iv.labels[n:], iv.events[n:])
    return labels, stim.event(time)


def assign_windows(
    frames: pd.DataFrame, events: pd.DataFrame, baseline: float, *,
    neutral_label: str = NEUTRAL,
) -> pd.DataFrame:
    """Trial, window and label of every frame.

    Parameters
    ----------
    frames : DataFrame
        One row per frame with ``session`` and ``time`` (seconds), e.g. ``frames.parquet``.
    events : DataFrame
        ``session``, ``onset``, ``duration``, ``trial_type``, ``event``.
    baseline : float
        Seconds of baseline before each onset.
    neutral_label : str, default="neutral"
        Label of baseline frames.

    Returns
    -------
    DataFrame, index of ``frames``
        ``event`` (int, -1 outside any window): the trial the frame belongs to, also for its
        baseline frames, so that all frames of a trial can be held out together;
        ``part`` (``"baseline"``, ``"stimulus"`` or ``""``); ``label`` (``neutral_label``, the
        trial's ``trial_type`` or ``""``).
    """
    n = len(frames)
    event = np.full(n, -1, dtype=np.int64)
    part = np.full(n, "", dtype=object)
    label = np.full(n, "", dtype=object)
    time = frames["time"].to_numpy(dtype=np.float64)
    sessions = frames["session"].astype(str)
    ev_sessions = events["session"].astype(str).to_numpy()
    for session, idx in sessions.groupby(sessions, sort=False).indices.items():
        idx = idx[np.argsort(time[idx], kind="stable")]
        iv = trial_intervals(events[ev_sessions == session], baseline,
                             neutral_label=neutral_label)
        if not len(iv):
            continue
        t = time[idx]
        k = len(iv) // 2
        ev = iv.event(t)
        lab = iv.label(t)
        stimulus = Intervals(iv.starts[k:], iv.stops[k:], iv.labels[k:], iv.events[k:])
        in_stim = stimulus.event(t) >= 0
        hit = ev >= 0
        event[idx[hit]] = ev[hit]
        label[idx[hit]] = lab[hit]
        part[idx[hit]] = np.where(in_stim[hit], "stimulus", "baseline")
    return pd.DataFrame({"event": event, "part": part.astype(str), "label": label.astype(str)},
                        index=frames.index)


@dataclass
class TrialWindow:
    """Row positions (into ``frames``) of one trial's windows, times relative to onset."""

    event: int
    baseline: np.ndarray
    stimulus: np.ndarray
    post: np.ndarray
    time: np.ndarray  # (len(baseline)+len(stimulus)+len(post),) seconds from onset

    @property
    def rows(self) -> np.ndarray:
        """All positions of the trial, baseline then stimulus then post."""
        return np.concatenate([self.baseline, self.stimulus, self.post])


def trial_windows(
    frames: pd.DataFrame, events: pd.DataFrame, baseline: float, *, post: float = 10.0,
) -> dict[int, TrialWindow]:
    """Positions of the baseline, stimulus and post windows of every event, by ``event`` id.

    ``post`` seconds after the stimulus offset are kept, cut at the next onset of the same
    session and at the end of the session. Positions are row numbers (``iloc``) of ``frames``.
    """
    time = frames["time"].to_numpy(dtype=np.float64)
    sessions = frames["session"].astype(str)
    groups = sessions.groupby(sessions, sort=False).indices
    out = {}
    for session, ev in events.groupby(events["session"].astype(str), sort=False):
        idx = groups.get(session)
        if idx is None:
            continue
        idx = idx[np.argsort(time[idx], kind="stable")]
        t = time[idx]
        onsets = np.sort(ev["onset"].to_numpy(dtype=np.float64))
        for row in ev.itertuples(index=False):
            b = idx[frames_in(t, *baseline_window(row.onset, baseline))]
            s0, s1 = stimulus_window(row.onset, row.duration)
            s = idx[frames_in(t, s0, s1)]
            stop = post_stop(row.onset, row.duration, onsets, post)
            p = idx[frames_in(t, s1, stop)] if stop > s1 else idx[:0]
            rows = np.concatenate([b, s, p])
            out[int(row.event)] = TrialWindow(int(row.event), b, s, p, time[rows] - row.onset)
    return out


def trial_frames(time: np.ndarray, onset: float, duration: float,
                 baseline: float) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices of one trial's baseline and stimulus windows (``time`` increasing)."""
    return (frames_in(time, *baseline_window(onset, baseline)),
            frames_in(time, *stimulus_window(onset, duration)))


def window_counts(time: np.ndarray, events: pd.DataFrame, baseline: float) -> pd.DataFrame:
    """Frames found in each trial's baseline and stimulus windows, and whether that is enough.

    Parameters
    ----------
    time : (n_frames,) array
        One session's frame times (seconds, increasing), as decoded.
    events : DataFrame
        That session's events (``onset``, ``duration``, ``event``).
    baseline : float
        Seconds of baseline before each onset.

    Returns
    -------
    DataFrame, index ``event``
        ``n_baseline`` and ``n_frames`` (stimulus frames found), and ``window_flag``:
        ``"short_baseline"``, ``"short_stimulus"``, both joined by ``;``, or ``"ok"``. A window is
        short when it holds fewer than :data:`MIN_WINDOW_FRACTION` of the frames its length
        implies at the median frame interval (and always when it holds none).
    """
    t = np.asarray(time, dtype=np.float64)
    period = float(np.median(np.diff(t))) if len(t) > 1 else np.inf
    rows = []
    for row in events.itertuples(index=False):
        n_b = len(frames_in(t, *baseline_window(row.onset, baseline)))
        n_s = len(frames_in(t, *stimulus_window(row.onset, row.duration)))
        flags = [name for name, n, length in (("short_baseline", n_b, baseline),
                                              ("short_stimulus", n_s, row.duration))
                 if n < max(1.0, np.ceil(MIN_WINDOW_FRACTION * length / period - 1e-9))]
        rows.append({"event": int(row.event), "n_baseline": n_b, "n_frames": n_s,
                     "window_flag": ";".join(flags) or WINDOW_OK})
    return pd.DataFrame(rows, columns=["event", "n_baseline", "n_frames", "window_flag"]
                        ).set_index("event")
