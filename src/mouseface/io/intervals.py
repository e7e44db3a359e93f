"""Labelled time intervals: the container trial windows travel in (after pynapple's IntervalSet).

:class:`Intervals` holds ``[start, stop)`` intervals in seconds with a label each. It does no
window arithmetic of its own: which intervals a trial has (baseline before onset, stimulus,
post) is decided in one place, :mod:`mouseface.expressions.windows`, and handed around as an
``Intervals``; readers of frames only ask which frames fall where.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Intervals", "frames_in"]


def frames_in(time: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Indices of the frames with ``start <= time < stop`` (``time`` increasing).

    Examples
    --------
    >>> frames_in(np.arange(10) / 2, 1.0, 2.5).tolist()
    [2, 3, 4]
    """
    lo, hi = np.searchsorted(np.asarray(time), [start, stop], side="left")
    return np.arange(lo, hi)


@dataclass(frozen=True)
class Intervals:
    """``[start, stop)`` intervals (seconds), each with a label and the event it belongs to.

    Where intervals overlap, a later one wins when frames are labelled: put the intervals
    that must win (a stimulus over an earlier trial's baseline) last.

    Examples
    --------
    >>> iv = Intervals(np.array([0.0, 2.0]), np.array([2.0, 4.0]), ("neutral", "pain"))
    >>> iv.label(np.array([0.5, 2.5, 5.0])).tolist()
    ['neutral', 'pain', '']
    """

    starts: np.ndarray
    stops: np.ndarray
    labels: tuple[str, ...]
    events: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __len__(self) -> int:
        return len(self.starts)

    def label(self, time: np.ndarray) -> np.ndarray:
        """Each frame's label (``""`` outside every interval), as a str array."""
        t = np.asarray(time, dtype=np.float64)
        out = np.full(len(t), "", dtype=object)
        for a, b, name in zip(self.starts, self.stops, self.labels, strict=True):
            out[frames_in(t, a, b) if _sorted(t) else (t >= a) & (t < b)] = name
        return out.astype(str)

    def event(self, time: np.ndarray) -> np.ndarray:
        """Each frame's event id (-1 outside every interval), later intervals winning."""
        t = np.asarray(time, dtype=np.float64)
        out = np.full(len(t), -1, dtype=np.int64)
        for a, b, e in zip(self.starts, self.stops, self.events, strict=True):
            out[frames_in(t, a, b) if _sorted(t) else (t >= a) & (t < b)] = e
        return out

    def select(self, label: str) -> Intervals:
        """The intervals with this label."""
        keep = np.array([x == label for x in self.labels], bool)
        ev = self.events[keep] if len(self.events) else self.events
        return Intervals(self.starts[keep], self.stops[keep],
                         tuple(x for x, k in zip(self.labels, keep, strict=True) if k), ev)

    @property
    def array(self) -> np.ndarray:
        """``(k, 2)`` array of ``[start, stop)``."""
        return np.column_stack([self.starts, self.stops]) if len(self) else np.empty((0, 2))


def _sorted(t: np.ndarray) -> bool:
    return len(t) < 2 or bool(np.all(t[1:] >= t[:-1]))
