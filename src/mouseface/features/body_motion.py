"""Movement of the body from poses: what the bout detector reads instead of pixel motion.

From a ``movement`` poses dataset of one animal (cleaned: :func:`mouseface.io.poses.clean_poses`)
two measures per frame, in pixels per second:

- ``speed``: the speed of the body's centroid (the mean of the tracked points): what escape
  (``active_fear``, fast runs) is read from;
- ``motion_parts``: the speed of the fastest tracked part: below its threshold only when
  *every* part is still, which is what freezing is (Fanselow 1980; Anagnostaras et al. 2010:
  the absence of all movement but breathing). A mouse that stops walking but scans with its
  head, sniffs or grooms moves a part, and is not freezing.

Each point is first smoothed over time by a centred running median of ``smooth`` seconds (0.2
s by default: a tracker's frame-to-frame jitter is otherwise read as movement, and a speed
computed from jittering points never reaches zero), and the speed comes from
``movement.kinematics.compute_speed``. Points missing after cleaning are left out of the
centroid and of the fastest part of that frame; a frame with no point has NaN (never still).

References
----------
Fanselow MS (1980) Conditional and unconditional components of post-shock freezing. Pavlov J
Biol Sci 15:177-182. doi:10.1007/BF03001163
Anagnostaras SG et al. (2010) Automated assessment of Pavlovian conditioned freezing and
shock reactivity in mice using the Video Freeze system. Front Behav Neurosci 4:158.
doi:10.3389/fnbeh.2010.00158
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: running-median window over each point, seconds
DEFAULT_POSE_SMOOTH = 0.2


def body_motion(ds, *, fps: float | None = None, smooth: float = DEFAULT_POSE_SMOOTH,
                individual: int = 0) -> pd.DataFrame:
    """``time``, ``speed`` (centroid) and ``motion_parts`` (fastest part) of one animal.

    Parameters
    ----------
    ds : xarray.Dataset
        ``movement`` poses (cleaned).
    fps : float, optional
        Frames per second; default from the dataset (``ds.attrs["fps"]``).
    smooth : float, default=0.2
        Seconds of the running median over each point.
    individual : int
        Which individual.

    Returns
    -------
    DataFrame
        One row per frame: ``frame``, ``time`` (s), ``speed``, ``motion_parts`` (px/s).

    Raises
    ------
    ValueError
        No frame rate (the dataset has none and none was given).

    Examples
    --------
    >>> from movement.io import load_poses
    >>> t = np.arange(60)
    >>> x = np.where(t < 30, 0.0, (t - 30) * 2.0)           # still, then 2 px/frame
    >>> pos = np.stack([x, np.zeros(60)], axis=1)[:, :, None, None]
    >>> ds = load_poses.from_numpy(pos, fps=10.0)
    >>> m = body_motion(ds, smooth=0.1)
    >>> m["speed"].iloc[[10, 50]].round(6).tolist()
    [0.0, 20.0]
    """
    import xarray as xr

    fps = fps or ds.attrs.get("fps")
    # xarray hands rolling and nan-reductions to numbagg when it is installed (movement brings
    # it); numbagg compiles them in every new process, minutes on a small machine
    with xr.set_options(use_numbagg=False, use_bottleneck=True):
        return _body_motion(ds, fps, smooth, individual)


def _body_motion(ds, fps, smooth, individual) -> pd.DataFrame:
    from movement.filtering import rolling_filter
    from movement.kinematics import compute_speed

    if not fps:
        raise ValueError("the poses have no frame rate: give --fps")
    pos = ds["position"].isel(individuals=[individual])
    n = pos.sizes["time"]
    pos = pos.assign_coords(time=np.arange(n) / float(fps))
    window = max(1, int(round(smooth * fps)))
    if window > 1:
        pos = rolling_filter(pos, window, statistic="median", min_periods=1)
    parts = compute_speed(pos).isel(individuals=0)             # (time, keypoints)
    centroid = compute_speed(pos.mean("keypoints", skipna=True)).isel(individuals=0)
    part = np.asarray(parts.transpose("time", "keypoints").values, dtype=np.float64)
    with np.errstate(all="ignore"):
        fastest = np.where(np.isfinite(part).any(axis=1),
                           np.nanmax(np.where(np.isfinite(part), part, -np.inf), axis=1),
                           np.nan)
    return pd.DataFrame({"frame": np.arange(n), "time": np.arange(n) / float(fps),
                         "speed": np.asarray(centroid.values, dtype=np.float64),
                         "motion_parts": fastest})


__all__ = ["DEFAULT_POSE_SMOOTH", "body_motion"]
