"""``mouseface bouts --poses FILE``: freezing and escape bouts from a pose file, no video.

The pose file is read through ``movement`` (:func:`mouseface.io.poses.read_poses`), points
below the likelihood threshold dropped and short gaps filled
(:func:`mouseface.io.poses.clean_poses`), the body's movement measured
(:func:`mouseface.features.body_motion.body_motion`: centroid speed and the fastest part), and
the same detector as for pixel motion finds the bouts
(:func:`mouseface.expressions.bouts.find_bouts`): freezing when the fastest part stays below
its threshold (every part still) for more than ``min_freeze`` seconds, escape when the
centroid runs above its threshold for more than ``min_escape``. Thresholds come from the
animal's own movement (floor, typical, scale: see :mod:`mouseface.expressions.bouts`) unless
given.

``DIR`` gets (paths from :class:`~mouseface.io.layout.PoseBoutsLayout`): ``bouts.tsv``,
``thresholds.csv``, ``pose_motion.parquet``, ``bouts_summary.json`` and ``bouts.png/.svg``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.expressions import bouts as _bouts
from mouseface.features.body_motion import DEFAULT_POSE_SMOOTH, body_motion
from mouseface.io import poses as _poses
from mouseface.io.layout import PoseBoutsLayout

#: defaults of the pose way in that differ from the pixel-motion one, and why
POSE_DEFAULTS = {
    # the speed of tracked points needs less smoothing than pixel motion energy: the points
    # are already de-jittered by a 0.2 s running median, and every 0.1 s of smoothing delays
    # a freezing onset by about as much
    "smooth": 0.25,
    # escape: centroid speed above q + 2 x (q - floor), q its 75th percentile. A freely
    # moving mouse stands, pauses or freezes a good part of the time, so its median speed
    # sits near the floor and moves with how much it walks; the 75th percentile is its usual
    # moving speed (the detector's advice for an animal still most of the time), and twice
    # its range above it clears fast walking and stays below a flight (40-70 cm/s)
    "escape_factor": 2.0,
    "escape_quantile": 0.75,
}


def bouts_from_poses(
    poses: str | Path,
    *,
    out: str | Path,
    fps: float | None = None,
    individual: str | None = None,
    source_software: str | None = None,
    min_likelihood: float | None = _poses.DEFAULT_MIN_LIKELIHOOD,
    max_gap: int = _poses.DEFAULT_MAX_GAP,
    point_smooth: float = DEFAULT_POSE_SMOOTH,
    smooth: float = POSE_DEFAULTS["smooth"],
    min_freeze: float = 5.0,
    min_escape: float = 2.0,
    merge_gap: float = 0.3,
    baseline: float | None = None,
    freeze_fraction: float = 0.4,
    escape_factor: float = POSE_DEFAULTS["escape_factor"],
    escape_quantile: float = POSE_DEFAULTS["escape_quantile"],
    typical_quantile: float = 0.5,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    figure: bool = True,
    results: str | Path | None = None,
    session: str | None = None,
    events: str | Path | None = None,
    context: str | None = None,
) -> dict[str, Any]:
    """Find freezing and escape bouts in one pose file and write them to ``out``.

    Parameters
    ----------
    poses : path
        A pose file :func:`mouseface.io.poses.read_poses` reads.
    out : path
        Folder to write into (created).
    fps : float, optional
        Frame rate, when the file has none (DeepLabCut and Facemap files have none; SLEAP's
        may).
    individual : str, optional
        The animal of a multi-animal file.
    source_software, min_likelihood, max_gap
        See :func:`mouseface.io.poses.read_poses` and :func:`~mouseface.io.poses.clean_poses`.
    point_smooth : float, default=0.2
        Seconds of running median over each point.
    smooth, min_freeze, min_escape, merge_gap, baseline, freeze_fraction, typical_quantile,
    thresholds
        See :func:`mouseface.expressions.bouts.find_bouts` (``escape_factor`` there is
        unused: the escape threshold is set here); ``thresholds`` keys are
        ``motion_parts`` (freezing) and ``speed`` (escape), in pixels per second.
    escape_factor, escape_quantile : float, default=2.0, 0.75
        Escape threshold ``q + escape_factor * (q - floor)`` of the smoothed centroid speed,
        ``q`` its ``escape_quantile`` (see ``POSE_DEFAULTS`` for why), unless given in
        ``thresholds``.

    results : path, optional
        A results folder: the poses are of one of its sessions (``session``, default the pose
        file's stem), frame for frame (the lengths must agree), on its clock (the times of
        ``frames.parquet``); the bouts go to ``results/behaviour/`` (``out`` is ignored) and
        ``behaviour/events.tsv`` holds the run's events plus the bouts, for the next ``run``.
    session : str, optional
        The results folder's session the poses are of.
    events : path, optional
        Events table (default: the results folder's ``trials.csv``).
    context : str, optional
        The trial type whose first event starts the fear context (with ``results``).

    Returns
    -------
    dict
        What ``bouts_summary.json`` holds, plus ``bouts`` (DataFrame) and ``files``.
    """
    path = Path(poses)
    ds = _poses.read_poses(path, source_software=source_software, fps=fps,
                           individual=individual)
    ds = _poses.one_individual(ds, path)
    animal = str(ds["individuals"].values[0])
    fps = fps or ds.attrs.get("fps")
    if not fps:
        raise InputError("the poses carry no frame rate: give --fps", path)
    clean, report = _poses.clean_poses(ds, min_likelihood=min_likelihood, max_gap=max_gap,
                                       path=path)
    ev = None
    if results is not None:
        from mouseface.workflows import behaviour

        run_frames, ev, _, _, _, _, run_baseline = behaviour._from_results(
            Path(results), events, None, None)
        if run_frames is None:
            raise InputError("the results folder has no frames.parquet", results)
        known = sorted(run_frames["session"].astype(str).unique())
        session = session or path.stem
        if session not in known:
            raise InputError(f"which session are the poses of? give --session (the results' "
                             f"sessions: {', '.join(known)})", path)
        rows = run_frames[run_frames["session"].astype(str) == session].sort_values("frame")
        _poses.check_length(ds, len(rows), path, f"session {session}")
        animal = str(rows["animal"].iloc[0])
        baseline = run_baseline if baseline is None else baseline
    motion = body_motion(clean, fps=fps, smooth=point_smooth)
    if results is not None:
        motion["time"] = rows["time"].to_numpy(dtype=float)   # the video's clock
    else:
        session = path.stem
    baseline = 2.0 if baseline is None else baseline
    frames = motion.assign(session=session, animal=animal)
    given = dict(thresholds or {})
    computed = given.get("speed", (None, None))[1] is None
    if computed:
        speed = _bouts.smooth_movement(motion["speed"].to_numpy(), int(round(smooth * fps)))
        if np.isfinite(speed).any():
            escape = _bouts.movement_thresholds(speed, typical_quantile=escape_quantile,
                                                escape_factor=escape_factor)
            given["speed"] = (given.get("speed", (None, None))[0],
                              escape["escape_threshold"])
    try:
        res = _bouts.find_bouts(
            frames, ev, context=context if results is not None else None,
            freeze=["motion_parts"], escape="speed",
            thresholds=given, smooth=smooth, min_freeze=min_freeze,
            min_escape=min_escape, merge_gap=merge_gap, baseline=baseline,
            freeze_fraction=freeze_fraction,
            typical_quantile=typical_quantile)
    except (KeyError, ValueError) as exc:
        raise InputError(str(exc).strip("'\""), path) from None
    if computed:  # set from the data here, not given by the user
        res.thresholds.loc[res.thresholds["measure"] == "speed", "source"] = \
            f"data (quantile {escape_quantile:g})"

    if results is not None:
        from mouseface.io.layout import ResultsLayout
        from mouseface.workflows import behaviour

        run = ResultsLayout(results)
        paths = {"bouts": run.bouts, "thresholds": run.bouts_thresholds,
                 "motion": run.behaviour_pose_motion, "summary": run.bouts_summary,
                 "figure": run.bouts_figure}
    else:
        pl = PoseBoutsLayout(out)
        paths = {"bouts": pl.bouts, "thresholds": pl.thresholds, "motion": pl.motion,
                 "summary": pl.summary, "figure": pl.figure}
    paths["bouts"].parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(paths["bouts"]) as tmp:
        res.bouts.to_csv(tmp, sep="\t", index=False)
    files = [paths["bouts"]]
    if results is not None:
        with atomic_path(run.bouts_events) as tmp:
            behaviour._events_with_bouts(ev, res.bouts).to_csv(tmp, sep="\t", index=False)
        files.append(run.bouts_events)
    with atomic_path(paths["thresholds"]) as tmp:
        res.thresholds.to_csv(tmp, index=False)
    with atomic_path(paths["motion"]) as tmp:
        frames.to_parquet(tmp, index=False)
    files += [paths["thresholds"], paths["motion"]]
    if figure:
        from mouseface.report.behaviour_figures import bouts_figure

        files += bouts_figure(res, ev, paths["figure"])
    summary = {
        "poses": str(path), "source_software": ds.attrs.get("source_software"),
        "individual": animal, "fps": float(fps), "frames": int(ds.sizes["time"]),
        "cleaning": {"min_likelihood": clean.attrs["min_likelihood"], "max_gap": max_gap,
                     **_poses.summary(report),
                     "per_keypoint": json.loads(report.to_json(orient="records"))},
        "counts": {k: int((res.bouts["trial_type"] == k).sum()) for k in _bouts.BOUT_TYPES},
        "rejected": json.loads(res.rejected.to_json(orient="records")),
        "thresholds": json.loads(res.thresholds.to_json(orient="records")),
        "settings": dict(point_smooth=point_smooth, smooth=smooth, min_freeze=min_freeze,
                         min_escape=min_escape, merge_gap=merge_gap, baseline=baseline,
                         freeze_fraction=freeze_fraction, escape_factor=escape_factor,
                         escape_quantile=escape_quantile, typical_quantile=typical_quantile,
                         thresholds=dict(thresholds or {})),
        "units": "px/s",
    }
    if results is not None:
        summary.update(results=str(results), session=session, context=context,
                       context_start_s=res.context, baseline_s=baseline,
                       next=f"mouseface run SESSIONS {run.bouts_events} --out {results}")
    write_json(paths["summary"], summary)
    files.append(paths["summary"])
    return {**summary, "bouts": res.bouts, "files": [str(f) for f in files]}


__all__ = ["POSE_DEFAULTS", "bouts_from_poses"]
