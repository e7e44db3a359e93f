"""Which trial window each frame belongs to: the shared first step of every analysis.

A trial (one row of the events table) has a baseline window ``[onset - baseline, onset)``,
a stimulus window ``[onset, onset + duration)`` and, for persistence, a post window from the
stimulus offset until ``post`` seconds later, the next onset of the same session or the end of
the session, whichever comes first. Frames of a stimulus window are labelled with the trial's
condition, baseline frames ``neutral``; a stimulus window wins over an overlapping baseline
window, as in :func:`mouseface.expressions.trials.label_frames`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from mouseface.expressions.prototypes import NEUTRAL
from mouseface.expressions.trials import window_index


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
        t = time[idx]
        ev = events[ev_sessions == session]
        for row in ev.itertuples(index=False):
            b = idx[window_index(t, row.onset - baseline, row.onset)]
            b = b[part[b] != "stimulus"]
            event[b], part[b], label[b] = int(row.event), "baseline", neutral_label
        for row in ev.itertuples(index=False):
            s = idx[window_index(t, row.onset, row.onset + row.duration)]
            event[s], part[s], label[s] = int(row.event), "stimulus", str(row.trial_type)
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
            offset = row.onset + row.duration
            later = onsets[onsets > row.onset]
            stop = min(offset + post, later[0] if len(later) else np.inf)
            b = idx[window_index(t, row.onset - baseline, row.onset)]
            s = idx[window_index(t, row.onset, offset)]
            p = idx[window_index(t, offset, stop)] if stop > offset else idx[:0]
            rows = np.concatenate([b, s, p])
            out[int(row.event)] = TrialWindow(int(row.event), b, s, p, time[rows] - row.onset)
    return out


__all__ = ["TrialWindow", "assign_windows", "trial_windows"]
