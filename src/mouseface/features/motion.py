"""Movement energy of image regions: how much a region changes from one frame to the next.

The movement energy of a region at frame t is the mean absolute gray-level difference between
frame t and frame t - 1 over the region's pixels (gray levels, 0-255). It is the Gogolla lab's
measure of face, body and running-wheel movement (there summed over the pixels; the mean keeps
regions of different sizes comparable and equals the sum divided by the region's area). The
face's own is the ``motion_energy`` column of ``frames.parquet``; a region ``<name>`` named in a
sessions table (column ``roi_<name>``) gets ``motion_<name>``.

::

    region_motion(frames, previous=None) -> (N,) float32       one chunk of one region
    video_motion(path, rois, fps=None, chunk_size=256) -> DataFrame   one pass over a video
    speed_on_frames(frame_time, time, speed) -> (N,) float64   a speed table on the frames

A camera's noise alone gives a still region a movement energy of roughly ``2 * sd / sqrt(pi)``
(about 1.1 times the per-pixel noise standard deviation): freezing sits at that floor, not at 0.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from mouseface.io.intervals import Intervals

__all__ = ["region_motion", "speed_on_frames", "video_motion"]


@numba.njit(cache=True, nogil=True)
def _mean_abs_diff(frames, previous, out):  # pragma: no cover - numba
    n, h, w = frames.shape
    area = h * w
    for i in range(n):
        total = 0
        for y in range(h):
            for x in range(w):
                a = np.int32(frames[i, y, x])
                b = np.int32(previous[y, x]) if i == 0 else np.int32(frames[i - 1, y, x])
                total += a - b if a >= b else b - a
        out[i] = total / area


def region_motion(frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    """Movement energy of each frame of a region: mean absolute difference to the frame before.

    Parameters
    ----------
    frames : (N, H, W) uint8 array
        Consecutive crops of one region (gray levels).
    previous : (H, W) uint8 array, optional
        The crop of the frame before the first one (the last frame of the previous chunk), so
        that the measure continues across chunks. Without it the first frame gets NaN (the first
        frame of a session has nothing to be compared with).

    Returns
    -------
    (N,) float32 array
        Gray levels; NaN at the first frame when ``previous`` is None.

    Raises
    ------
    ValueError
        When ``frames`` is not a uint8 (N, H, W) array or ``previous`` has another shape.

    Examples
    --------
    >>> f = np.zeros((3, 4, 4), dtype=np.uint8); f[2, :2] = 10
    >>> region_motion(f).tolist()
    [nan, 0.0, 5.0]
    >>> region_motion(f[1:], previous=f[0]).tolist()
    [0.0, 5.0]
    """
    f = np.asarray(frames)
    if f.ndim != 3 or f.dtype != np.uint8:
        raise ValueError(f"frames must be a uint8 (N, H, W) array, got {f.dtype} {f.shape}")
    out = np.empty(len(f), np.float32)
    if len(f) == 0:
        return out
    if f.shape[1] * f.shape[2] == 0:
        out[:] = np.nan
        return out
    first_nan = previous is None
    if previous is None:
        prev = f[0]
    else:
        prev = np.asarray(previous)
        if prev.shape != f.shape[1:] or prev.dtype != np.uint8:
            raise ValueError(f"previous must be a uint8 array of shape {f.shape[1:]}, got "
                             f"{prev.dtype} {prev.shape}")
    _mean_abs_diff(np.ascontiguousarray(f), np.ascontiguousarray(prev), out)
    if first_nan:
        out[0] = np.nan
    return out


def video_motion(
    path: str | Path,
    rois: Mapping[str, tuple[int, int, int, int] | None],
    *,
    fps: float | None = None,
    chunk_size: int = 256,
    check=None,
) -> pd.DataFrame:
    """Movement energy of several regions of one video, in one decoding pass.

    Parameters
    ----------
    path : path
        A video file or a folder of image frames (see :func:`mouseface.io.video.open_video`).
    rois : mapping of str to (x, y, w, h) or None
        Output column -> region in frame pixels (None: the whole frame), e.g.
        ``{"motion_energy": face_roi, "motion_body": body_roi}``.
    fps : float, optional
        Frame rate overriding the container's (required for image folders).
    chunk_size : int, default=256
        Frames decoded per chunk; memory stays flat however long the video.
    check : callable, optional
        ``check(frame_shape)`` called once the frame size is known, before decoding (e.g. to
        say which sessions table row names a region outside the frame).

    Returns
    -------
    DataFrame
        ``frame`` (int64), ``time`` (float64, seconds from the first frame) and one float32
        column per region, NaN at frame 0.

    Examples
    --------
    >>> from mouseface.io.video import write_video
    >>> import tempfile, os
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.integers(0, 255, (5, 32, 32), dtype=np.uint8)
    >>> p = os.path.join(tempfile.mkdtemp(), "v.mp4")
    >>> _ = write_video(p, frames, 10.0)
    >>> video_motion(p, {"motion_left": (0, 0, 16, 32)}).columns.tolist()
    ['frame', 'time', 'motion_left']
    """
    from mouseface.io.video import open_video

    names = list(rois)
    index, time = [], []
    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    with open_video(path, fps=fps) as reader:
        if check is not None:
            check(reader.frame_shape)
        last: list[np.ndarray | None] = [None] * len(names)
        for crops in reader.iter_crops([rois[n] for n in names], chunk_size=chunk_size):
            index.append(crops.index)
            time.append(crops.time)
            for k, (name, f) in enumerate(zip(names, crops.frames, strict=True)):
                values[name].append(region_motion(f, last[k]))
                last[k] = f[-1]
    out = pd.DataFrame({
        "frame": np.concatenate(index) if index else np.empty(0, np.int64),
        "time": np.concatenate(time) if time else np.empty(0, np.float64),
    })
    for name in names:
        out[name] = np.concatenate(values[name]) if values[name] else np.empty(0, np.float32)
    return out


def speed_on_frames(frame_time: np.ndarray, time: np.ndarray, speed: np.ndarray) -> np.ndarray:
    """Running speed at each video frame from a speed table on the video clock.

    Each frame gets the mean absolute speed of the table's samples between the midpoints to
    its neighbouring frames (a faster encoder is averaged, not subsampled); a frame without a
    sample there gets the linear interpolation of the absolute speed; frames outside the
    table's time span get NaN.

    Parameters
    ----------
    frame_time : (N,) array
        Frame times (s), increasing.
    time, speed : (M,) arrays
        The table's sample times (s, increasing) and values (sign ignored; NaN skipped).

    Returns
    -------
    (N,) float64 array

    Examples
    --------
    >>> speed_on_frames(np.arange(5.0), np.array([0.4, 0.6, 1.2, 2.8]),
    ...                 np.array([1.0, -3.0, 5.0, 9.0])).tolist()
    [1.0, 4.0, 7.0, 9.0, nan]
    """
    ft = np.asarray(frame_time, dtype=np.float64)
    t = np.asarray(time, dtype=np.float64)
    v = np.abs(np.asarray(speed, dtype=np.float64))
    ok = np.isfinite(t) & np.isfinite(v)
    t, v = t[ok], v[ok]
    out = np.full(len(ft), np.nan)
    if len(ft) == 0 or len(t) == 0:
        return out
    mid = (ft[1:] + ft[:-1]) / 2
    lo = np.concatenate([[ft[0] - (mid[0] - ft[0] if len(mid) else 0.5)], mid])
    hi = np.concatenate([mid, [ft[-1] + (ft[-1] - mid[-1] if len(mid) else 0.5)]])
    shown = Intervals(lo, hi)  # the stretch of time each frame stands for
    has = shown.count(t) > 0
    out[has] = shown.mean(t, v)[has]
    inside = (ft >= t[0]) & (ft <= t[-1])
    fill = ~has & inside
    out[fill] = np.interp(ft[fill], t, v)
    out[~inside & ~has] = np.nan
    return out
