"""Facial action units from pose files: ``mouseface au POSES --out DIR`` (one file on its own)
and ``mouseface run ... --poses`` / ``mouseface score ... --poses`` (beside the expression
scores).

The pose file is read through ``movement`` and cleaned (``[poses]`` settings: likelihood
threshold, longest gap filled), its keypoints mapped to roles (``[poses.roles]``, else by
name), the neutral learned from the neutral frames (``neutral``: time ranges in seconds;
default every frame, i.e. the session's median face) and every frame measured
(:class:`mouseface.features.action_units.ActionUnits`). With ``video``, the poses must have as
many frames as the video. Writes (paths from :class:`~mouseface.io.layout.ActionUnitsLayout`)
``action_units.csv``, ``action_units.json`` and ``action_units.png``.

**In a run or a score** (:func:`read_run_poses` before the pass, :func:`check_pose_lengths`
when each video is opened, :func:`add_action_units` after the scores): each session's pose file
(the sessions table's ``poses`` column, or a poses table) is read, cleaned and its keypoints
matched to roles before any frame is decoded, and its length checked against the video's
frame count as soon as the video is open, so a bad file costs no pass and writes nothing;
after the pass its length must equal the session's decoded frames (pose row ``i`` is video
frame ``i`` and takes that frame's time; this catches what the container's count could not: a
video that ends early, a count estimated from the duration). Each animal's action units are
set against its own neutral: the median of its sessions' baseline-window frames
(quality-flagged frames left out when ``[quality] exclude_flagged``, as for the neutral
prototype). Every frame gets ``au_<name>`` columns in ``frames.parquet``; every trial gets
``au_<name>`` in ``trials.csv``: the mean over its stimulus window minus the mean over its
baseline window, the windows and subtraction of ``score_<p>``. Each session's cleaned poses
are written to ``poses/<session>.nc`` (a ``movement`` dataset on the video's clock,
:func:`mouseface.io.poses.write_session_poses`).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.features.action_units import ACTION_UNITS, ActionUnits, map_roles
from mouseface.io import poses as _poses
from mouseface.io import tables
from mouseface.io.layout import ActionUnitsLayout, ResultsLayout
from mouseface.settings import PoseSettings, Settings


def action_units(
    poses: str | Path,
    *,
    out: str | Path,
    settings: PoseSettings | None = None,
    video: str | Path | None = None,
    fps: float | None = None,
    individual: str | None = None,
    neutral: Sequence[tuple[float, float]] | None = None,
    figure: bool = True,
) -> dict[str, Any]:
    """Action units of every frame of one pose file (see the module).

    Parameters
    ----------
    poses : path
        A pose file :func:`mouseface.io.poses.read_poses` reads.
    out : path
        Folder to write into.
    settings : PoseSettings, optional
        Roles, likelihood threshold, longest gap, scale (``[poses]`` of the config).
    video : path, optional
        The video the poses were tracked on: its frame count must match; its frame rate is
        used when ``fps`` is not given.
    fps : float, optional
        Frame rate (time in seconds); else the file's or the video's, else frames.
    individual : str, optional
        The animal of a multi-animal file.
    neutral : list of (start, stop), optional
        Neutral time ranges in seconds (frames without a frame rate); default every frame.

    Raises
    ------
    InputError
        A bad pose file, keypoints matching no role, poses and video of different lengths,
        every point below the threshold, no frame in the neutral ranges.
    """
    cfg = settings or PoseSettings()
    path = Path(poses)
    n_video = None
    if video is not None:
        from mouseface.io.video import open_video

        with open_video(video) as reader:
            n_video = int(reader.n_frames)
            fps = fps or reader.fps
    ds = _poses.read_poses(path, fps=fps, individual=individual)
    ds = _poses.one_individual(ds, path)
    if n_video is not None:
        _poses.check_length(ds, n_video, path, video)
    clean, report = _poses.clean_poses(ds, min_likelihood=cfg.min_likelihood,
                                       max_gap=cfg.max_gap, path=path)
    pos, names = _poses.position_array(clean)
    rate = fps or ds.attrs.get("fps")
    time = np.arange(len(pos)) / float(rate) if rate else np.arange(len(pos), dtype=float)
    mask = np.ones(len(pos), bool)
    if neutral:
        mask = np.zeros(len(pos), bool)
        for start, stop in neutral:
            mask |= (time >= start) & (time < stop)
        if not mask.any():
            raise InputError(f"no frame in the neutral ranges {list(neutral)} (the poses span "
                             f"0-{time[-1]:g} {'s' if rate else 'frames'})", path)
    au = ActionUnits(roles=cfg.roles or None, mm_per_px=cfg.mm_per_px)
    try:
        au.fit(pos[mask], names)
    except (KeyError, ValueError) as exc:
        raise InputError(str(exc).strip("'\""), path) from None
    table = au.transform(pos)
    table.insert(0, "time", time)
    table.insert(0, "frame", np.arange(len(pos)))
    layout = ActionUnitsLayout(out)
    layout.root.mkdir(parents=True, exist_ok=True)
    with atomic_path(layout.table) as tmp:
        table.to_csv(tmp, index=False)
    files = [layout.table]
    if figure:
        files.append(_figure(table, au.units_, mask, layout.figure, bool(rate)))
    summary = {
        "poses": str(path), "video": None if video is None else str(video),
        "individual": str(ds["individuals"].values[0]), "frames": len(pos),
        "fps": float(rate) if rate else None, "roles": au.roles_, "facing": au.facing_,
        "units": au.units_, "neutral": au.neutral_,
        "neutral_frames": int(mask.sum()),
        "neutral_ranges": [list(r) for r in neutral] if neutral else "every frame",
        "cleaning": {"min_likelihood": clean.attrs["min_likelihood"], "max_gap": cfg.max_gap,
                     **_poses.summary(report),
                     "per_keypoint": json.loads(report.to_json(orient="records"))},
    }
    write_json(layout.summary, summary)
    files.append(layout.summary)
    return {**summary, "table": table, "files": [str(f) for f in files]}


def _figure(table, units: dict, neutral: np.ndarray, stem: Path, seconds: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in table.columns if c.startswith("au_")]
    fig, axes = plt.subplots(len(cols), 1, figsize=(10, 0.6 + 1.1 * len(cols)), sharex=True,
                             squeeze=False, layout="constrained")
    t = table["time"].to_numpy()
    for ax, col in zip(axes[:, 0], cols, strict=True):
        ax.plot(t, table[col].to_numpy(), lw=0.7, color="0.15")
        ax.axhline(1.0 if units[col] == "ratio" else 0.0, color="0.6", lw=0.6)
        ax.fill_between(t, 0, 1, where=neutral, color="tab:green", alpha=0.12,
                        transform=ax.get_xaxis_transform(), lw=0)
        ax.set_ylabel(f"{col.removeprefix('au_')}\n({units[col]})", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)" if seconds else "frame")
    axes[0, 0].set_title("action units against the neutral (green: neutral frames)",
                         fontsize=9)
    out = stem.with_suffix(".png")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out


# ---------------------------------------------------------------------------- in a run


@dataclass
class SessionPoses:
    """One session's cleaned poses, read before the pass."""

    session: str
    path: Path
    ds: Any                    # the cleaned movement dataset (one individual)
    report: pd.DataFrame       # clean_poses' table per keypoint
    position: np.ndarray       # (frames, keypoints, 2)
    keypoints: list[str]


#: What a run's poses argument may be: a poses table (file or DataFrame with ``session``,
#: ``poses`` and optionally ``individual``), or session -> pose file.
PosesInput = tables.Table | Mapping[str, Any]


def read_run_poses(sessions_table: tables.Table, poses: PosesInput | None,
                   settings: PoseSettings) -> dict[str, SessionPoses]:
    """Read, clean and check every session's pose file (before the pass).

    Parameters
    ----------
    sessions_table
        The run's sessions table; its ``poses`` column names pose files when ``poses`` is None.
    poses
        A poses table (``session``, ``poses``, optional ``individual``; relative paths from
        its folder) or a mapping session -> pose file; None: the sessions table's ``poses``
        column, if any.
    settings
        ``[poses]``: roles, likelihood threshold, longest gap filled.

    Returns
    -------
    dict
        Session -> :class:`SessionPoses` (empty: no poses).

    Raises
    ------
    InputError
        One line naming the file: both a poses table and a ``poses`` column, an unknown
        session, a missing or unknown pose file, several individuals with none chosen, every
        point below the likelihood threshold, keypoints matching no role, one animal's pose
        files naming different keypoints.
    """
    sessions = tables.read_sessions(sessions_table)
    sessions_path = tables.table_name(sessions_table, "sessions")
    if poses is None:
        if "poses" not in sessions.columns:
            return {}
        rows = pd.DataFrame({"session": sessions["session"], "poses": sessions["poses"],
                             "individual": None}).dropna(subset=["poses"])
        where = f"the sessions table ({sessions_path})"
    else:
        if "poses" in sessions.columns and sessions["poses"].notna().any():
            raise InputError("the sessions table has a poses column and a poses table was "
                             "given too: keep one", sessions_path)
        if isinstance(poses, Mapping):
            poses = pd.DataFrame({"session": list(poses), "poses": [str(v) for v in
                                                                    poses.values()]})
        rows = tables.read_poses_table(poses, sessions)
        where = "the poses table"
    cfg = settings
    out = {}
    for row in rows.itertuples(index=False):
        path = Path(row.poses)
        ds = _poses.read_poses(path, individual=row.individual)
        if ds.sizes["individuals"] > 1:
            names = ", ".join(str(i) for i in ds["individuals"].values)
            raise InputError(f"{ds.sizes['individuals']} individuals ({names}): name one in "
                             f"an individual column of {where}", path)
        clean, report = _poses.clean_poses(ds, min_likelihood=cfg.min_likelihood,
                                           max_gap=cfg.max_gap, path=path)
        pos, names = _poses.position_array(clean)
        try:
            map_roles(names, cfg.roles or None)
        except KeyError as exc:
            raise InputError(str(exc).strip("'\""), path) from None
        out[str(row.session)] = SessionPoses(str(row.session), path, clean, report, pos,
                                             names)
    _check_animal_keypoints(sessions, out)
    return out


def _check_animal_keypoints(sessions: pd.DataFrame, poses: dict[str, SessionPoses]) -> None:
    """One animal's pose files must name the same keypoints (one neutral for them all)."""
    for animal, srows in sessions.groupby("animal", sort=False):
        mine = [str(s) for s in srows["session"] if str(s) in poses]
        names = poses[mine[0]].keypoints if mine else []
        for s in mine[1:]:
            if sorted(poses[s].keypoints) != sorted(names):
                raise InputError(f"animal {animal}: its pose files name different keypoints "
                                 f"({', '.join(poses[s].keypoints)}; session {mine[0]}: "
                                 f"{', '.join(names)})", poses[s].path)


def check_pose_lengths(poses: dict[str, SessionPoses], rows: Sequence,
                       info) -> None:
    """Before a video's frames are decoded: each of its sessions' poses must have as many
    frames as the video (``info``: what opening it told, a
    :class:`~mouseface.features.alignment.VideoInfo`; a count estimated from the container's
    duration is held to its tolerance, and checked exactly after the pass)."""
    for row in rows:
        sp = poses.get(str(row.session))
        if sp is not None:
            _poses.check_length(sp.ds, info.n_frames, sp.path, row.video,
                                tolerance=info.count_tolerance)


def add_action_units(p, frames: list[pd.DataFrame], poses: dict[str, SessionPoses],
                     settings: Settings, out: Path) -> tuple[pd.DataFrame | None, dict]:
    """Action units of every frame and trial of the sessions with poses (see the module).

    ``frames`` (the run's per-session frame tables) get their ``au_<name>`` columns in place;
    each session's aligned poses are written to ``poses/<session>.nc``.

    Returns
    -------
    (DataFrame or None, dict)
        The trials' ``au_<name>`` scores indexed by ``event`` (None without events or poses)
        and what ``run.json`` records of the poses (per session: file, frames, cleaning; per
        animal: roles, facing, neutral values, neutral frames, units).
    """
    from mouseface.expressions.trials import window_scores
    from mouseface.expressions.windows import NEUTRAL, trial_frames

    if not poses:
        return None, {}
    for s, sp in poses.items():
        st = p.stores[s]
        video = p.sessions.loc[p.sessions["session"] == s, "video"].iloc[0]
        _poses.check_length(sp.ds, st.n_frames, sp.path, video)
    exclude = settings.quality.exclude_flagged and p.quality is not None
    by_session = {str(f["session"].iloc[0]): f for f in frames if len(f)}
    layout = ResultsLayout(out)
    trial_rows, record = [], {"sessions": {}, "animals": {}}
    for animal, srows in p.sessions.groupby("animal", sort=False):
        mine = [str(s) for s in srows["session"] if str(s) in poses]
        if not mine:
            continue
        names = poses[mine[0]].keypoints  # the same in each (read_run_poses checked)

        def position(s, names=names):
            sp = poses[s]
            order = [sp.keypoints.index(k) for k in names]
            return sp.position[:, order]

        neutral = []
        for s in mine:
            m = p.labels[s] == NEUTRAL
            if exclude:
                m = m & ~p.quality[s]["flag"].to_numpy(dtype=bool)[: len(m)]
            neutral.append(position(s)[m])
        au = ActionUnits(roles=settings.poses.roles or None, mm_per_px=settings.poses.mm_per_px)
        try:
            au.fit(np.concatenate(neutral), names)
        except ValueError:
            warnings.warn(f"animal {animal}: no baseline frame has the keypoints of an action "
                          "unit: no action units (au_ columns NaN)", stacklevel=2)
            continue
        record["animals"][str(animal)] = {
            "roles": au.roles_, "facing": au.facing_, "units": au.units_,
            "neutral": au.neutral_, "neutral_frames": int(sum(len(x) for x in neutral))}
        for s in mine:
            sp = poses[s]
            table = au.transform(position(s))
            f = by_session.get(s)
            if f is not None:
                for c in table.columns:
                    f[c] = table[c].to_numpy(dtype=np.float32)[: len(f)]
            st = p.stores[s]
            t = np.asarray(st.time, dtype=np.float64)
            ev = p.events[p.events["session"] == s]
            values = table.to_numpy()
            for row in ev.itertuples(index=False):
                b, w = trial_frames(t, row.onset, row.duration, settings.prototypes.baseline)
                sc = window_scores(values[b], values[w])["score"]
                trial_rows.append({"event": int(row.event),
                                   **{c: float(v) for c, v in zip(table.columns, sc,
                                                                  strict=True)}})
            _poses.write_session_poses(
                layout.pose_file(s), sp.ds, time=t, frame=np.arange(len(t)), session=s,
                animal=str(animal), roles=au.roles_, facing=au.facing_,
                fps=float(1.0 / np.median(np.diff(t))) if len(t) > 1 else None,
                source_file=str(sp.path))
            record["sessions"][s] = {"poses": str(sp.path), "frames": int(len(t)),
                                     "animal": str(animal),
                                     "cleaning": {"min_likelihood": sp.ds.attrs["min_likelihood"],
                                                  "max_gap": settings.poses.max_gap,
                                                  **_poses.summary(sp.report)}}
    if not trial_rows:
        return None, record
    order = [f"au_{n}" for n in ACTION_UNITS]
    trials = pd.DataFrame(trial_rows).set_index("event")
    return trials[[c for c in order if c in trials.columns]], record


__all__ = ["SessionPoses", "action_units", "add_action_units", "check_pose_lengths",
           "read_run_poses"]
