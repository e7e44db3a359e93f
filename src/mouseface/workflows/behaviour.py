"""``mouseface bouts``: freezing and escape bouts from behaviour, written as events.

Two ways in:

- **a sessions table** (``bouts(SESSIONS, EVENTS, out=DIR)``): the movement of the face ROI
  and of every ``roi_<region>`` of the sessions to analyse is measured in one decoding pass per
  video (no HOG), with running speed from ``speed`` tables; it is kept in
  ``DIR/behaviour/motion.parquet``.
- **a results folder** (``bouts(DIR)``): the movement columns of ``frames.parquet``
  (``motion_energy``, ``motion_<region>``), its ``trials.csv`` as the events; when the run
  measured no region, the regions of the sessions table the run read (``run.json``) are
  measured as above.

Then :func:`mouseface.expressions.bouts.find_bouts` finds the bouts, and ``DIR/behaviour/``
gets (paths from :class:`~mouseface.io.layout.ResultsLayout`):

======================  ======================================================================
``bouts.tsv``           the bouts: session, onset, duration, trial_type (``passive_fear`` or
                        ``active_fear``), measure, movement (its mean over the bout),
                        threshold, animal
``events.tsv``          the events it was given plus the bouts: give it to ``run``, ``fit`` or
                        ``score``
``thresholds.csv``      per animal and measure: floor, typical, scale, the two thresholds
``bouts_summary.json``  counts, rejected bouts (and why), skipped sessions, settings
``bouts.png/.svg``      movement traces with thresholds, the context and the bouts shaded
``motion.parquet``      the movement it measured itself (sessions-table way in)
======================  ======================================================================
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.expressions import bouts as _bouts
from mouseface.io import tables
from mouseface.io.layout import ResultsLayout
from mouseface.io.results import DEFAULT_BASELINE
from mouseface.io.tables import event_columns

_RESERVED = ("trial", "event")


# ---------------------------------------------------------------------------- movement


def measure_movement(
    sessions: pd.DataFrame, sessions_path: str | Path | None = None, *,
    only: Sequence[str] | None = None, speed: Mapping[str, str | Path] | None = None,
    chunk_size: int = 256, reporter: Reporter | None = None,
) -> pd.DataFrame:
    """Movement per frame of every session of a (validated) sessions table, one pass per video.

    Parameters
    ----------
    sessions : DataFrame
        From :func:`mouseface.io.tables.read_sessions`.
    sessions_path : path, optional
        The table, named in messages.
    only : list of str, optional
        Measure only these sessions (default all).
    speed : mapping of str to path, optional
        Session -> a running-speed table (overrides the table's ``speed`` column).
    chunk_size : int, default=256
    reporter : Reporter, optional

    Returns
    -------
    DataFrame
        ``session``, ``animal``, ``frame``, ``time``, ``motion_energy`` (the face ROI),
        ``motion_<region>`` for every ``roi_<region>`` column (NaN where a session has no such
        region), ``speed`` when any session has a speed table.

    Raises
    ------
    InputError
        A region outside its video's frame; a speed table that is unreadable or does not
        overlap its video.
    """
    from mouseface.features.motion import video_motion
    from mouseface.workflows.execute import _fps, _roi, by_video

    reporter = reporter or Reporter(True)
    full = sessions
    names = tables.region_names(sessions)
    position = {s: i for i, s in enumerate(sessions["session"])}  # rows in the file's order
    if only is not None:
        sessions = sessions[sessions["session"].isin(set(map(str, only)))]
    groups = list(by_video(sessions).items())
    task = reporter.task("movement", total=len(sessions), unit="sessions")

    def one(item) -> list[pd.DataFrame]:
        (video, fps), rows = item
        rois: dict[str, tuple | None] = {}
        for row in rows:
            rois[f"{row.session}\0motion_energy"] = _roi(row)
            for name in names:
                roi = getattr(row, f"roi_{name}", None)
                if isinstance(roi, tuple):
                    rois[f"{row.session}\0motion_{name}"] = roi

        def check(shape):
            for row in rows:
                for name in names:
                    tables.check_region(full, position[row.session], name, shape,
                                        sessions_path)

        m = video_motion(video, rois, fps=_fps(rows[0]), chunk_size=chunk_size, check=check)
        parts = []
        for row in rows:
            part = pd.DataFrame({"session": row.session, "animal": row.animal,
                                 "frame": m["frame"].to_numpy(), "time": m["time"].to_numpy()})
            for name in ["energy", *names]:
                key = f"{row.session}\0motion_{name}"
                part[f"motion_{name}"] = m[key].to_numpy() if key in m else np.float32(np.nan)
            parts.append(part)
        task.advance(len(rows))
        return parts

    with ThreadPoolExecutor(max_workers=max(1, min(len(groups), os.cpu_count() or 1))) as pool:
        parts = [p for ps in pool.map(one, groups) for p in ps]
    frames = pd.concat(parts, ignore_index=True)
    order = {s: i for i, s in enumerate(sessions["session"])}
    frames = frames.sort_values(["session", "frame"], key=lambda c: c.map(order)
                                if c.name == "session" else c, kind="stable")
    frames = frames.reset_index(drop=True)
    paths = dict(speed or {})
    if "speed" in sessions.columns:
        for s, p in zip(sessions["session"], sessions["speed"], strict=True):
            if isinstance(p, str) and s not in paths:
                paths[s] = p
    if paths:
        frames["speed"] = add_speed(frames, paths)
    return frames


def add_speed(frames: pd.DataFrame, paths: Mapping[str, str | Path]) -> np.ndarray:
    """The ``speed`` column for ``frames`` from each session's speed table (NaN elsewhere).

    Raises
    ------
    InputError
        An unreadable table, or one that does not overlap its session's video (one line
        naming the table and both time spans). A partial overlap is a warning.
    """
    from mouseface.features.motion import speed_on_frames

    out = np.full(len(frames), np.nan)
    sessions = frames["session"].astype(str)
    for session, path in paths.items():
        idx = np.flatnonzero(sessions.to_numpy() == str(session))
        if not len(idx):
            raise InputError(f"a speed table is given for session '{session}', which is not "
                             "analysed", path)
        table = tables.read_speed(path)
        t = frames["time"].to_numpy(dtype=np.float64)[idx]
        dt = float(np.median(np.diff(t))) if len(t) > 1 else 0.0
        covered = tables.check_overlap(table["time"].to_numpy(), float(t[0]),
                                       float(t[-1] + dt), path,
                                       what=f"the video of session '{session}'")
        if covered < 0.99:
            warnings.warn(f"{path}: covers {covered:.0%} of the video of session "
                          f"'{session}'; frames outside it have no speed", stacklevel=2)
        out[idx] = speed_on_frames(t, table["time"].to_numpy(), table["speed"].to_numpy())
    return out


# ---------------------------------------------------------------------------- bouts


def bouts(
    source: str | Path,
    events: str | Path | None = None,
    *,
    out: str | Path | None = None,
    context: str | None = None,
    sessions: Sequence[str] | None = None,
    speed: str | Path | Mapping[str, str | Path] | None = None,
    freeze: Sequence[str] | None = None,
    escape: str | None = None,
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None,
    smooth: float = 0.5,
    min_freeze: float = 5.0,
    min_escape: float = 2.0,
    merge_gap: float = 0.3,
    baseline: float | None = None,
    face_tolerance: float = 1.0,
    freeze_fraction: float = 0.4,
    escape_factor: float = 5.0,
    typical_quantile: float = 0.5,
    floor_window: float | None = None,
    chunk_size: int = 256,
    quiet: bool = False,
    figure: bool = True,
) -> dict[str, Any]:
    """Find freezing and escape bouts and write them as events (see the module).

    Parameters
    ----------
    source : path
        A sessions table (CSV, TSV, Parquet) or a results folder.
    events : path, optional
        Events table: the stimuli (no bout in their windows) and the events that start the
        context. Default for a results folder: its ``trials.csv``.
    out : path, optional
        Results folder to write ``behaviour/`` into; default the results folder ``source``
        (required with a sessions table).
    context : str or None, default=None
        The trial type whose first event starts each session's fear context (e.g. the first
        ``footshock``); None: whole sessions (a session without stimuli, or where the context
        is the whole recording).
    sessions : list of str, optional
        Analyse only these sessions.
    speed : path or mapping, optional
        A running-speed table (``time`` on the video clock + one value column) for the one
        session analysed, or session -> table. A sessions table's ``speed`` column works too.
    freeze, escape, thresholds, smooth, min_freeze, min_escape, merge_gap, face_tolerance,
    freeze_fraction, escape_factor, typical_quantile, floor_window
        See :func:`mouseface.expressions.bouts.find_bouts`.
    baseline : float, optional
        Bout-free seconds before each bout; default the run's ``prototypes.baseline`` (a
        results folder) or 2.
    chunk_size : int, default=256
        Frames per decoded chunk when movement is measured here.
    quiet : bool
        No progress bars.
    figure : bool
        Draw the QC figure.

    Returns
    -------
    dict
        What ``bouts_summary.json`` holds, plus ``bouts`` (the DataFrame), ``files`` (all
        written), ``paths`` (``bouts``, ``events``, ``summary``, ``figure``: where each went
        or goes), and what the figure is drawn from: ``result`` (the
        :class:`~mouseface.expressions.bouts.Bouts`) and ``events_table`` (the events read),
        for a caller that left the figure out to draw it later
        (:func:`~mouseface.report.behaviour_figures.bouts_figure`).

    Raises
    ------
    InputError
        Missing or bad tables, a context event that never happens, a region outside the
        frame, a speed table that does not overlap the video, no session to analyse.
    """
    source = Path(source)
    reporter = Reporter(quiet)
    if source.is_dir():
        frames, ev, ev_path, table, table_path, out, baseline = _from_results(
            source, events, out, baseline)
    else:
        if out is None:
            raise InputError("give --out: the results folder to write behaviour/ into", source)
        table_path = source
        table = tables.read_sessions(source)
        ev_path = Path(events) if events is not None else None
        ev = tables.read_events(ev_path, table) if ev_path is not None else None
        frames = None
        baseline = DEFAULT_BASELINE if baseline is None else baseline
    out = Path(out)
    layout = ResultsLayout(out)
    if context is not None:
        if ev is None:
            raise InputError(f"the context starts with an event of type '{context}', but no "
                             "events table was given (leave out --context for whole sessions)",
                             source)
        try:
            starts = _bouts.context_starts(ev, context)
        except KeyError as exc:
            raise InputError(str(exc).strip("'\"") + ": give --context TYPE, or leave it out "
                             "for whole sessions", ev_path) from None
    wanted = _wanted(frames, table, sessions, None if context is None else starts, source)
    speed_map = _speed_map(speed, wanted, source)

    measured = False
    with reporter.live():
        if frames is None or not _has_body(frames, speed_map):
            if table is None:
                raise InputError("frames.parquet has no body movement (motion_<region>) and "
                                 "the run's sessions table is not at hand: run `mouseface "
                                 "bouts SESSIONS EVENTS --out DIR`", source)
            sub = table[table["session"].isin(wanted)].reset_index(drop=True)
            if not tables.region_names(sub) and not speed_map and "speed" not in sub:
                raise InputError("no body movement to find bouts from: give the sessions "
                                 "table a body or wheel region (roi_body, roi_wheel, \"x,y,w,h\""
                                 " in frame pixels) or a running-speed table (--speed)",
                                 table_path)
            frames = measure_movement(table, table_path, only=wanted, speed=speed_map,
                                      chunk_size=chunk_size, reporter=reporter)
            measured = True
        elif speed_map:
            frames = frames.copy()
            frames["speed"] = add_speed(frames, speed_map)
    frames = frames[frames["session"].astype(str).isin(wanted)]
    try:
        res = _bouts.find_bouts(
            frames, ev, context=context, freeze=freeze, escape=escape, thresholds=thresholds,
            smooth=smooth, min_freeze=min_freeze, min_escape=min_escape, merge_gap=merge_gap,
            baseline=baseline, face_tolerance=face_tolerance, freeze_fraction=freeze_fraction,
            escape_factor=escape_factor, typical_quantile=typical_quantile,
            floor_window=floor_window)
    except (KeyError, ValueError) as exc:
        raise InputError(str(exc).strip("'\""), table_path or source) from None

    files = []
    if measured:
        with atomic_path(layout.behaviour_motion) as tmp:
            frames.to_parquet(tmp, index=False)
        files.append(layout.behaviour_motion)
    _write_tsv(res.bouts, layout.bouts)
    _write_tsv(_events_with_bouts(ev, res.bouts), layout.bouts_events)
    with atomic_path(layout.bouts_thresholds) as tmp:
        res.thresholds.to_csv(tmp, index=False)
    files += [layout.bouts, layout.bouts_events, layout.bouts_thresholds]
    if figure:
        from mouseface.report.behaviour_figures import bouts_figure

        files += bouts_figure(res, ev, layout.bouts_figure)
    summary = _summary(res, context=context, baseline=baseline, settings=dict(
        smooth=smooth, min_freeze=min_freeze, min_escape=min_escape, merge_gap=merge_gap,
        face_tolerance=face_tolerance, freeze_fraction=freeze_fraction,
        escape_factor=escape_factor, typical_quantile=typical_quantile,
        floor_window=floor_window, thresholds=dict(thresholds or {})),
        source=source, events=ev_path, measured=measured, layout=layout, table=table_path)
    write_json(layout.bouts_summary, summary)
    files.append(layout.bouts_summary)
    return {**summary, "bouts": res.bouts, "files": [str(f) for f in files],
            "paths": {"bouts": str(layout.bouts), "events": str(layout.bouts_events),
                      "summary": str(layout.bouts_summary), "figure": str(layout.bouts_figure)},
            "result": res, "events_table": ev}


def _from_results(source: Path, events, out, baseline):
    """Frames, events and the sessions table of a results folder: ``frames.parquet`` and
    ``trials.csv`` of a run, or what an earlier ``bouts`` measured and read
    (``behaviour/motion.parquet``, ``bouts_summary.json``)."""
    from mouseface.io.results import Results

    layout = ResultsLayout(source)
    r = Results(source, require=()) if layout.is_results() else None
    if r is None and not layout.behaviour_motion.is_file():
        raise InputError("not a results folder (no frames.parquet, no behaviour/motion.parquet):"
                         " give a sessions table, or run `mouseface run` first", source)
    earlier = {}
    if layout.bouts_summary.is_file():
        try:
            earlier = json.loads(layout.bouts_summary.read_text())
        except ValueError:
            earlier = {}
    frames = r.frames if r is not None and layout.frames.is_file() else None
    if (frames is None or not _has_body(frames, {})) and layout.behaviour_motion.is_file():
        frames = pd.read_parquet(layout.behaviour_motion)
    if events is not None:
        ev_path = Path(events)
        ev = tables.read_events(ev_path)
    elif layout.trials.is_file():
        ev_path = layout.trials
        raw = pd.read_csv(ev_path, dtype={"session": str, "trial_type": str})
        raw = raw[[c for c in event_columns(raw) if c not in _RESERVED]]
        ev = tables.validate_events(raw, path=ev_path)
    elif earlier.get("events") and Path(earlier["events"]).is_file():
        ev_path = Path(earlier["events"])
        ev = tables.read_events(ev_path)
    else:
        ev_path, ev = None, None
    table, table_path = None, None
    candidates = [item.get("path", "") for item in (r.run.get("inputs", []) if r else [])
                  if isinstance(item, dict) and item.get("kind") == "sessions"]
    candidates.append(earlier.get("sessions_table") or "")
    for p in map(Path, filter(None, candidates)):
        if p.is_file():
            table_path, table = p, tables.read_sessions(p)
            break
    if baseline is None:
        baseline = r.baseline if r is not None else DEFAULT_BASELINE
    return frames, ev, ev_path, table, table_path, Path(out) if out else source, baseline


def _has_body(frames: pd.DataFrame, speed: Mapping) -> bool:
    cols = set(frames.columns)
    return bool(speed) or "speed" in cols or any(
        c.startswith("motion_") and c != "motion_energy" for c in cols)


def _wanted(frames, table, sessions, starts, source) -> list[str]:
    have = (list(dict.fromkeys(frames["session"].astype(str))) if frames is not None
            else list(table["session"]))
    if sessions:
        unknown = sorted(set(map(str, sessions)) - set(have))
        if unknown:
            raise InputError(f"unknown sessions {unknown} (have: {', '.join(have[:6])}"
                             f"{', ...' if len(have) > 6 else ''})", source)
        have = [s for s in have if s in set(map(str, sessions))]
    if starts is not None:
        have = [s for s in have if s in starts]
    if not have:
        raise InputError("no session has the context event (see --context)", source)
    return have


def _speed_map(speed, wanted: list[str], source) -> dict[str, str]:
    if speed is None:
        return {}
    if isinstance(speed, Mapping):
        return {str(k): str(v) for k, v in speed.items()}
    if len(wanted) != 1:
        raise InputError(f"--speed names one table but {len(wanted)} sessions are analysed "
                         f"({', '.join(wanted[:4])}{', ...' if len(wanted) > 4 else ''}): give "
                         "--session, or a speed column in the sessions table", speed)
    return {wanted[0]: str(speed)}


def _events_with_bouts(ev: pd.DataFrame | None, found: pd.DataFrame) -> pd.DataFrame:
    """The events given (less earlier bouts and the reserved columns) plus the bouts."""
    base = None if ev is None or ev.empty else ev[
        ~ev["trial_type"].astype(str).isin(_bouts.BOUT_TYPES)]
    # the animal is the sessions table's to say, unless the events carry it already (a run's
    # trials.csv does)
    keep_animal = base is not None and "animal" in base.columns
    rows = found if keep_animal else found.drop(columns=["animal"])
    if base is None:
        return rows
    base = base[[c for c in base.columns if c not in _RESERVED]]
    both = pd.concat([base, rows], ignore_index=True)
    return both.sort_values(["session", "onset"], kind="stable").reset_index(drop=True)


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False)


def _summary(res: _bouts.Bouts, *, context, baseline, settings, source, events, measured,
             layout: ResultsLayout, table) -> dict[str, Any]:
    counts = {s: {k: int((g["trial_type"] == k).sum()) for k in _bouts.BOUT_TYPES}
              for s, g in res.bouts.groupby("session")}
    for s in res.context:
        counts.setdefault(s, dict.fromkeys(_bouts.BOUT_TYPES, 0))
    return {
        "source": str(source), "events": None if events is None else str(events),
        "sessions_table": None if table is None else str(table),
        "context": context, "context_start_s": res.context, "baseline_s": baseline,
        "measures": res.measures, "movement_measured_here": measured,
        "bouts": {k: int((res.bouts["trial_type"] == k).sum()) for k in _bouts.BOUT_TYPES},
        "per_session": counts,
        "rejected": json.loads(res.rejected.to_json(orient="records")),
        "skipped_sessions": res.skipped,
        "thresholds": json.loads(res.thresholds.to_json(orient="records")),
        "settings": settings,
        "next": f"mouseface run SESSIONS {layout.bouts_events} --out {layout.root}",
    }


__all__ = ["add_speed", "bouts", "measure_movement"]
