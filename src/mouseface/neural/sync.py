"""Put imaging frames on the video's clock and expression traces on the imaging frames.

Video frame times (seconds from the session's first video frame) come from the results folder
(``frames.parquet``'s ``time``). Imaging frame times come from the traces file (NWB timestamps,
a table's ``time`` column, suite2p's ``arange(frames) / fs``), or from a rate, and an
``offset``: the video time at which the imaging clock reads zero.

Each imaging frame k covers ``[t_k, t_{k+1})`` (the last one a median frame interval long).
Its expression value is the mean of the video frames whose time falls in that interval, so
no later video frame ever contributes (no look-ahead). When the imaging runs faster than
the video, an interval can hold no video frame; it then takes the last video frame before
it (still no look-ahead).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mouseface._errors import InputError
from mouseface.io.intervals import Intervals
from mouseface.io.neural import NeuralTraces


@dataclass(eq=False)
class Aligned:
    """Traces and expression traces on the same imaging frames, on the video's clock.

    Attributes
    ----------
    traces
        :class:`~mouseface.io.neural.NeuralTraces` restricted to the frames inside the video;
        ``time`` in seconds from the first video frame.
    expressions
        (expressions, frames) float64: each expression trace averaged over every imaging frame.
    names
        (expressions,) expression names.
    overlap
        ``start``, ``end``, ``seconds`` of the common span, ``imaging_seconds``,
        ``video_seconds``, ``n_frames`` kept and ``n_dropped`` imaging frames outside the video,
        ``n_held`` frames that held the previous video frame (no video frame inside them).
    """

    traces: NeuralTraces
    expressions: np.ndarray
    names: list[str]
    overlap: dict[str, Any] = field(default_factory=dict)

    @property
    def time(self) -> np.ndarray:
        return self.traces.time

    @property
    def fs(self) -> float:
        return self.traces.rate


def imaging_times(
    n_frames: int,
    *,
    timestamps: np.ndarray | None = None,
    rate: float | None = None,
    offset: float = 0.0,
) -> np.ndarray:
    """Times of ``n_frames`` imaging frames on the video clock, in seconds.

    Parameters
    ----------
    n_frames
        Number of imaging frames.
    timestamps
        The file's own timestamps (seconds); used unless ``rate`` is given.
    rate
        Imaging rate (Hz): times are ``offset + arange(n_frames) / rate``.
    offset
        Video time (s) at which the imaging clock reads zero; added to ``timestamps`` too.

    Examples
    --------
    >>> imaging_times(3, rate=10.0, offset=1.0)
    array([1. , 1.1, 1.2])
    """
    if rate is not None:
        if not np.isfinite(rate) or rate <= 0:
            raise InputError(f"imaging rate must be positive; got {rate}")
        return offset + np.arange(n_frames) / float(rate)
    if timestamps is None:
        raise InputError("give the imaging timestamps or a rate")
    timestamps = np.asarray(timestamps, dtype=np.float64)
    if timestamps.size != n_frames:
        raise InputError(f"{n_frames} imaging frames but {timestamps.size} timestamps")
    return offset + timestamps


def on_video_clock(traces: NeuralTraces, *, rate: float | None = None,
                   offset: float = 0.0) -> NeuralTraces:
    """``traces`` with times on the video clock: ``offset`` + its times (or ``arange / rate``)."""
    time = imaging_times(traces.n_frames, timestamps=traces.time, rate=rate, offset=offset)
    return traces.replace(time=time, attrs={"offset": float(offset),
                                            "rate_override": rate, "clock": "video"})


def _edges(time: np.ndarray) -> np.ndarray:
    dt = float(np.median(np.diff(time))) if time.size > 1 else 1.0
    return np.append(time, time[-1] + dt)


def bin_average(video_time: np.ndarray, values: np.ndarray,
                edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` (rows, video frames) over the video frames inside each bin.

    Bin k is ``[edges[k], edges[k+1])``. NaN video values are left out of the mean; a bin
    without video frames takes the last video frame before it (NaN if there is none).

    Returns
    -------
    means
        (rows, bins) float64.
    held
        (bins,) bool: the bin held the previous video frame.
    """
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    bins = Intervals.from_edges(edges)
    means = bins.mean(video_time, values)
    held = bins.count(video_time) == 0
    if held.any():
        prev = np.searchsorted(video_time, bins.starts[held], side="left") - 1
        ok = prev >= 0
        fill = np.full((values.shape[0], held.sum()), np.nan)
        fill[:, ok] = values[:, prev[ok]]
        means[:, held] = fill
    return means, held


def align(
    traces: NeuralTraces,
    video_time: np.ndarray,
    expressions: np.ndarray,
    names: list[str] | None = None,
    *,
    rate: float | None = None,
    offset: float = 0.0,
) -> Aligned:
    """Resample expression traces onto imaging frames over the span both recordings cover.

    Parameters
    ----------
    traces
        Neural traces with their own times (see :func:`imaging_times` for ``rate``/``offset``).
    video_time
        (video frames,) seconds from the first video frame, increasing.
    expressions
        (expressions, video frames): e.g. the ``sim_<p>`` columns of ``frames.parquet``.
    names
        Expression names (default ``e0, e1, …``).
    rate, offset
        Imaging rate overriding the file's times, and the video time of imaging time zero.

    Returns
    -------
    Aligned

    Raises
    ------
    InputError
        Expressions and video times of different length, or no temporal overlap.

    Warns
    -----
    UserWarning
        When part of the imaging lies outside the video: the warning gives the overlap.

    Examples
    --------
    >>> nt = NeuralTraces.from_numpy(np.zeros((2, 20)), rate=10.0)
    >>> vt = np.arange(50) / 50.0  # 1 s of video, 2 s of imaging
    >>> a = align(nt, vt, vt[None, :] * 0 + 1.0, ["pain"])
    >>> a.expressions.shape, a.overlap["n_dropped"]
    ((1, 10), 10)
    """
    video_time = np.asarray(video_time, dtype=np.float64).ravel()
    expressions = np.atleast_2d(np.asarray(expressions, dtype=np.float64))
    if expressions.shape[1] != video_time.size:
        raise InputError(f"{expressions.shape[1]} expression frames but {video_time.size} "
                         "video frame times")
    if video_time.size < 2 or np.any(np.diff(video_time) <= 0):
        raise InputError("video frame times must increase (at least two frames)")
    names = list(names) if names is not None else [f"e{i}" for i in range(len(expressions))]
    if len(names) != len(expressions):
        raise InputError(f"{len(expressions)} expression traces but {len(names)} names")
    source = traces.attrs.get("source")
    nt = on_video_clock(traces, rate=rate, offset=offset)
    edges = _edges(nt.time)
    v_edges = _edges(video_time)
    v0, v1 = float(v_edges[0]), float(v_edges[-1])
    i0, i1 = float(edges[0]), float(edges[-1])
    tol = 0.5 * float(np.median(np.diff(video_time)))
    keep = (edges[:-1] >= v0 - tol) & (edges[1:] <= v1 + tol)
    seconds = min(i1, v1) - max(i0, v0)
    if not keep.any() or seconds <= 0:
        raise InputError(f"no temporal overlap between imaging ({i0:.3f}-{i1:.3f} s on the "
                         f"video clock) and video ({v0:.3f}-{v1:.3f} s); check the offset and "
                         "rate", source)
    idx = np.flatnonzero(keep)
    means, held = bin_average(video_time, expressions, edges[np.append(idx, idx[-1] + 1)])
    overlap = {"start": max(i0, v0), "end": min(i1, v1), "seconds": seconds,
               "imaging_seconds": i1 - i0, "video_seconds": v1 - v0,
               "n_frames": int(idx.size), "n_dropped": int(nt.n_frames - idx.size),
               "n_held": int(held.sum())}
    if overlap["n_dropped"]:
        warnings.warn(f"imaging and video overlap for {seconds:.2f} s of the {i1 - i0:.2f} s "
                      f"of imaging ({i0:.2f}-{i1:.2f} s against video {v0:.2f}-{v1:.2f} s); "
                      f"analysing the overlap only ({idx.size} of {nt.n_frames} imaging "
                      "frames)", UserWarning, stacklevel=2)
    kept = nt.replace(traces=nt.traces[:, idx], time=nt.time[idx],
                      attrs={"overlap": overlap})
    return Aligned(kept, means, names, overlap)


__all__ = ["Aligned", "align", "bin_average", "imaging_times", "on_video_clock"]
