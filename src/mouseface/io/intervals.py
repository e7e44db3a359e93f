"""Time intervals and the one place that turns times into frames (after pynapple).

:class:`Intervals` holds ``[start, stop)`` intervals in seconds, with a label each (after
pynapple's ``IntervalSet``). Which intervals a trial has (baseline before onset, stimulus,
post) is decided in one place, :mod:`mouseface.expressions.windows`, and handed around as an
``Intervals``. What a series does with them is asked here, once, for every room:

- :func:`frames_in`, :meth:`Intervals.restrict`: which frames fall inside;
- :meth:`Intervals.count`, :meth:`Intervals.mean`: how many frames, and the mean of a series
  over each interval (NaN left out), e.g. a trial's response, a bin of the imaging clock, a
  frame's share of a faster table (:meth:`Intervals.from_edges` for consecutive bins);
- :func:`frame_at`: the frame shown at a time;
- :func:`align_to_events`: a series around each event (pynapple's ``compute_perievent``).

Every function takes the frame times increasing (as a video's are); a frame belongs to an
interval when ``start <= time < stop``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Intervals", "align_to_events", "frame_at", "frames_in"]


def frames_in(time: np.ndarray, start: float, stop: float) -> np.ndarray:
    """Indices of the frames with ``start <= time < stop`` (``time`` increasing).

    Examples
    --------
    >>> frames_in(np.arange(10) / 2, 1.0, 2.5).tolist()
    [2, 3, 4]
    """
    lo, hi = np.searchsorted(np.asarray(time), [start, stop], side="left")
    return np.arange(lo, hi)


def frame_at(time: np.ndarray, t: float, *, tolerance: float = 1e-9) -> int:
    """Position of the frame shown at ``t``: the first at or after it (to ``tolerance``
    seconds; container times are rounded), the last frame after the end.

    Examples
    --------
    >>> frame_at(np.arange(5) / 2, 1.2), frame_at(np.arange(5) / 2, 1.0), frame_at(
    ...     np.arange(5) / 2, 9.0)
    (3, 2, 4)
    """
    return min(int(np.searchsorted(np.asarray(time), float(t) - tolerance)), len(time) - 1)


def align_to_events(time: np.ndarray, values: np.ndarray, events: np.ndarray,
                    lags: np.ndarray) -> np.ndarray:
    """``values`` around each event: linearly interpolated at ``event + lag``.

    Parameters
    ----------
    time : (n_frames,) array
        Frame times (s), increasing.
    values : (n_frames,) or (n_frames, n_columns) array
    events : (n_events,) array
        Event times (s), in any order; the rows of the result follow it.
    lags : (n_lags,) array
        Seconds relative to each event.

    Returns
    -------
    (n_events, n_lags) or (n_events, n_lags, n_columns) float64 array
        NaN where ``event + lag`` lies outside ``[time[0], time[-1]]``. A NaN value spoils
        only the samples between it and its neighbours (``numpy.interp``).

    Examples
    --------
    >>> align_to_events(np.arange(5.0), np.arange(5.0) * 10, np.array([3.0, 1.0]),
    ...                 np.array([-0.5, 0.0, 1.5])).tolist()
    [[25.0, 30.0, nan], [5.0, 10.0, 25.0]]
    """
    t = np.asarray(time, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    flat = v.ndim == 1
    v = v[:, None] if flat else v
    events = np.atleast_1d(np.asarray(events, dtype=np.float64))
    lags = np.asarray(lags, dtype=np.float64)
    out = np.full((len(events), len(lags), v.shape[1]), np.nan)
    if len(t):
        for i, e in enumerate(events):
            at = e + lags
            inside = (at >= t[0]) & (at <= t[-1])
            for j in range(v.shape[1]):
                out[i, inside, j] = np.interp(at[inside], t, v[:, j])
    return out[..., 0] if flat else out


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
    labels: tuple[str, ...] | None = None
    events: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))

    def __post_init__(self) -> None:
        starts = np.atleast_1d(np.asarray(self.starts, dtype=np.float64))
        stops = np.atleast_1d(np.asarray(self.stops, dtype=np.float64))
        if starts.shape != stops.shape or starts.ndim != 1:
            raise ValueError(f"{starts.size} starts for {stops.size} stops: give one stop "
                             "per start")
        object.__setattr__(self, "starts", starts)
        object.__setattr__(self, "stops", stops)
        if self.labels is None:
            object.__setattr__(self, "labels", ("",) * len(starts))

    @classmethod
    def from_edges(cls, edges: np.ndarray) -> Intervals:
        """Consecutive bins ``[edges[k], edges[k + 1])``.

        Examples
        --------
        >>> Intervals.from_edges(np.array([0.0, 1.0, 3.0])).array.tolist()
        [[0.0, 1.0], [1.0, 3.0]]
        """
        edges = np.asarray(edges, dtype=np.float64)
        return cls(edges[:-1], edges[1:])

    def __len__(self) -> int:
        return len(self.starts)

    def _bounds(self, time: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """First frame of each interval and the frame after its last (``time`` increasing)."""
        t = np.asarray(time)
        return (np.searchsorted(t, self.starts, side="left"),
                np.searchsorted(t, self.stops, side="left"))

    def restrict(self, time: np.ndarray) -> np.ndarray:
        """Which frames fall inside any interval, (n_frames,) bool.

        Examples
        --------
        >>> Intervals(np.array([1.0, 3.0]), np.array([2.0, 3.5])).restrict(
        ...     np.arange(8) / 2).tolist()
        [False, False, True, True, False, False, True, False]
        """
        t = np.asarray(time, dtype=np.float64)
        out = np.zeros(len(t), bool)
        if _sorted(t):
            for lo, hi in zip(*self._bounds(t), strict=True):
                out[lo:hi] = True
        else:
            for a, b in zip(self.starts, self.stops, strict=True):
                out |= (t >= a) & (t < b)
        return out

    def count(self, time: np.ndarray) -> np.ndarray:
        """Frames in each interval, (n_intervals,) int (``time`` increasing)."""
        lo, hi = self._bounds(time)
        return np.maximum(hi - lo, 0)

    def mean(self, time: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Mean of ``values`` over the frames of each interval, NaN frames left out.

        Parameters
        ----------
        time : (n_frames,) array
            Frame times, increasing.
        values : (n_frames,) or (n_rows, n_frames) array
            A series, or one per row (e.g. neurons), frames along the last axis.

        Returns
        -------
        (n_intervals,) or (n_rows, n_intervals) float64 array
            NaN for an interval without a finite frame (outside the series, or empty).

        Examples
        --------
        >>> iv = Intervals(np.array([0.0, 1.0, 9.0]), np.array([1.0, 3.0, 10.0]))
        >>> iv.mean(np.arange(4.0), np.array([1.0, 2.0, np.nan, 4.0])).tolist()
        [1.0, 2.0, nan]
        """
        v = np.asarray(values, dtype=np.float64)
        flat = v.ndim == 1
        v = np.atleast_2d(v)
        finite = np.isfinite(v)
        # cumulative sums: every interval's mean from two lookups, however many overlap
        csum = np.concatenate([np.zeros((v.shape[0], 1)),
                               np.cumsum(np.where(finite, v, 0.0), axis=1)], axis=1)
        ccount = np.concatenate([np.zeros((v.shape[0], 1)), np.cumsum(finite, axis=1)], axis=1)
        lo, hi = self._bounds(time)
        hi = np.maximum(hi, lo)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = (csum[:, hi] - csum[:, lo]) / (ccount[:, hi] - ccount[:, lo])
        return out[0] if flat else out

    def label(self, time: np.ndarray) -> np.ndarray:
        """Each frame's label (``""`` outside every interval), as a str array."""
        t = np.asarray(time, dtype=np.float64)
        out = np.full(len(t), "", dtype=object)
        for k, at in self._where(t):
            out[at] = self.labels[k]
        return out.astype(str)

    def event(self, time: np.ndarray) -> np.ndarray:
        """Each frame's event id (-1 outside every interval), later intervals winning."""
        t = np.asarray(time, dtype=np.float64)
        out = np.full(len(t), -1, dtype=np.int64)
        if len(self.events) != len(self):
            raise ValueError(f"{len(self)} intervals but {len(self.events)} events")
        for k, at in self._where(t):
            out[at] = self.events[k]
        return out

    def _where(self, t: np.ndarray):
        """``(k, frames)`` of each interval ``k`` that holds frames of ``t``, in order (a slice
        when ``t`` increases: a batch of a pass meets few of a session's intervals)."""
        if _sorted(t):
            lo, hi = self._bounds(t)
            for k in np.flatnonzero(hi > lo):
                yield int(k), slice(int(lo[k]), int(hi[k]))
        else:
            for k, (a, b) in enumerate(zip(self.starts, self.stops, strict=True)):
                yield k, (t >= a) & (t < b)

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
