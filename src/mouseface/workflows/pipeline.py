"""The commands in order: prepare (the one pass), prototypes and scores, write, report.

Each public function here is what one CLI verb runs; the stages after the pass live in
:mod:`mouseface.workflows.scoring`, all computing in the rooms.
"""

from __future__ import annotations

import hashlib
import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.io.layout import ResultsLayout
from mouseface.io.lock import results_lock
from mouseface.io.model import (
    load_array,
    load_model,
    save_mean_faces,
    save_model,
    save_picked,
)
from mouseface.io.results import Results
from mouseface.io.tables import NEUTRAL, Table, natural_sorted, table_name
from mouseface.runlog import RunLog
from mouseface.settings import Settings, load_settings

#: What the ``sim_`` columns of a `run` mean (kept in frames.parquet's metadata).
FRAMES_NOTE = ("sim_<prototype> columns use prototypes built from all trials of the animal; "
               "trial scores in trials.csv are cross-fitted (a trial's own condition prototype "
               "is rebuilt without its frames)")


def _write_frames(path: Path, parts: list[pd.DataFrame], note: str) -> pd.DataFrame:
    """Write the per-frame rows of all sessions to ``frames.parquet`` atomically.

    Conditions an animal lacks give NaN in its ``sim_`` columns; ``note`` says which prototypes
    the similarities come from and is kept in the Parquet metadata.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    sim = natural_sorted(c for c in df.columns if c.startswith("sim_"))
    au = [c for c in df.columns if c.startswith("au_")]
    df = df[[c for c in df.columns if not c.startswith(("sim_", "au_"))] + sim + au]
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"mouseface.prototypes": note.encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return df


#: Where each verb writes when ``out`` is not given: a folder in the current one (a rerun reuses
#: its features).
DEFAULT_OUT = {"run": Path("mouseface-results"), "fit": Path("mouseface-model"),
               "score": Path("mouseface-scores")}


def run(
    sessions: Table,
    events: Table,
    out: str | Path | None = None,
    config: str | Path | Mapping | Settings | None = None,
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
    report: bool = True,
    poses: Table | Mapping[str, str | Path] | None = None,
) -> Results:
    """Per-animal prototypes (the paper's way); every frame and every trial scored.

    What ``mouseface run`` does, and ``mouseface.run`` in Python.

    Parameters
    ----------
    sessions, events
        The sessions and events tables: files (CSV, TSV, Parquet) or DataFrames with the same
        columns (relative video paths of a DataFrame are taken from the current folder).
    out
        The results folder; None: ``./mouseface-results``.
    config
        Settings: a TOML file, or a dict of the same shape (``{"hog": {"pixels_per_cell":
        16}}``); an unknown key or a bad value is an :class:`~mouseface.InputError` naming it.
    settings
        Settings already validated (:func:`~mouseface.settings.load_settings`), instead of
        ``config``.
    workers, scheduler
        Where the features are extracted (``[compute]``: a local Dask cluster of ``workers``
        processes, or a running cluster's scheduler address), over ``config``.
    quiet
        No progress bars.
    report
        Write ``report.html``.
    poses
        Face keypoints for facial action units (docs/poses.md): a poses table (file or
        DataFrame: ``session``, ``poses`` = the pose file, optional ``individual``) or a
        mapping session -> pose file. None: the sessions table's ``poses`` column, if it has
        one. Adds ``au_<name>`` columns to the frames and trials and writes
        ``poses/<session>.nc``.

    Returns
    -------
    Results
        The results as the run holds them (``.frames``, ``.trials``, ``.prototypes``,
        ``.run``; ``.path`` the folder, which it also stands for: ``os.fspath(results)``).
        The folder holds ``features/``, ``model/``, ``frames.parquet``, ``trials.csv``,
        ``run.json``, ``registration/`` (with registration on), ``poses/`` (with poses) and
        ``report.html``.
    """
    from mouseface.workflows.prepare import prepare

    out = Path(DEFAULT_OUT["run"] if out is None else out)
    settings = _settings(config, settings, workers, scheduler)
    log = RunLog("run", settings)
    reporter = Reporter(quiet)
    preload = _preload()
    with results_lock(out, "run"), reporter.live():
        pose_inputs = _read_poses(sessions, poses, settings, log)
        p = prepare(sessions, events, out, settings, reporter, log, scope="animal",
                    check_video=_pose_lengths(pose_inputs))
        scoring = _scoring(preload)
        with log.stage("prototypes_and_scores"), _one_blas_thread():
            frames, scores, models, picked = scoring.per_animal(p, settings, reporter)
            windows = _check_windows(p, settings)
            _warn_few_cells(p, settings)
            _warn_all_nan(frames, scores)
        au_trials, pose_record = _action_units(p, frames, pose_inputs, settings, out, log)
        frames_df = _write_frames(ResultsLayout(out).frames, frames, FRAMES_NOTE)
        trials_df = _write_trials(out, p.events, scores, p.sessions, windows, au_trials)
        model = _save(ResultsLayout(out).model, models, p, settings, mode="per-animal")
        faces = _mean_faces(ResultsLayout(out).model, picked, models, p)
        _log_table(log, sessions, "sessions")
        _log_table(log, events, "events")
        return _finish(out, log, p, frames_df, trials_df, model, reporter, report,
                       handed={"picked": picked, "faces": faces}, frames_note=FRAMES_NOTE,
                       **_mask_record(p), **_log_poses(log, pose_inputs, pose_record))


def fit(
    sessions: Table,
    events: Table,
    out: str | Path | None = None,
    config: str | Path | Mapping | Settings | None = None,
    *,
    settings: Settings | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = False,
) -> Results:
    """Prototypes over the given animals, saved with the HOG parameters, template and mask.

    ``[prototypes] mode`` says which: ``"transfer"`` (default) difference prototypes relative
    to each animal's own neutral face (:class:`~mouseface.expressions.transfer.TransferModel`),
    which carry over to new animals; ``"pooled"`` the paper's raw-HOG prototypes averaged over
    animals. Writes ``out/model`` (what :func:`score` loads), ``out/features``,
    ``out/registration`` and ``out/run.json`` (``out`` None: ``./mouseface-model``).
    Parameters as in :func:`run`.

    Returns
    -------
    Results
        The model folder (``.prototypes``, ``.model``, ``.run``); give it to :func:`score`.
    """
    from mouseface.workflows.prepare import prepare

    out = Path(DEFAULT_OUT["fit"] if out is None else out)
    settings = _settings(config, settings, workers, scheduler)
    log = RunLog("fit", settings)
    reporter = Reporter(quiet)
    preload = _preload(estimators=True)
    with results_lock(out, "fit"), reporter.live():
        p = prepare(sessions, events, out, settings, reporter, log, scope="all")
        scoring = _scoring(preload)
        with log.stage("prototypes"):
            _warn_few_cells(p, settings)
            mode, model = scoring.fit_model(p, settings, table_name(events, "events"))
            axis = scoring.fit_axis(p, settings)
        saved = _save(ResultsLayout(out).model, {mode: model}, p, settings, mode=mode,
                      axis=axis, animals=sorted(map(str, p.sessions["animal"].unique())))
        _log_table(log, sessions, "sessions")
        _log_table(log, events, "events")
        record = log.write(out, **_mask_record(p))
    # a model folder has no frames: the view holds the model and run.json
    return Results.from_memory(out, frames=pd.DataFrame(columns=["session", "animal", "frame",
                                                                 "time"]),
                               trials=None, run=record, model=saved,
                               registration=p.registration)


def score(
    model: str | Path | Results,
    sessions: Table,
    events: Table | None = None,
    out: str | Path | None = None,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    chunk_size: int | None = None,
    quiet: bool = False,
    report: bool = True,
    poses: Table | Mapping[str, str | Path] | None = None,
) -> Results:
    """Apply a saved model to new sessions.

    Features are computed with the model's HOG parameters, registration and mask, the faces
    registered onto the model's template. Pooled and per-animal models: where events are given,
    the neutral prototype is replaced by the new animal's own baseline frames. Transfer models
    need the events: every frame is taken relative to the animal's own neutral face (its
    baseline frames). With poses, the action units as :func:`run` measures them (the same
    functions; ``[poses]`` settings from the model's).

    Parameters
    ----------
    model
        A model folder (what :func:`fit` wrote, or a results folder of :func:`run`), or the
        :class:`Results` either returned.
    sessions, events
        As in :func:`run`; without events only frames are scored (no ``trials.csv``).
    out
        The results folder; None: ``./mouseface-scores``.
    workers, scheduler, chunk_size
        Where and in what chunks the features are extracted (the saved model's settings say
        how).
    quiet, report
        As in :func:`run`.
    poses
        As in :func:`run`: ``au_<name>`` columns in the frames and trials, ``poses/``; they
        need the events (each animal's action units are set against its baseline frames).

    Returns
    -------
    Results
        As :func:`run` returns them.
    """
    from mouseface.workflows.prepare import prepare

    model_dir = Path(model)
    out = Path(DEFAULT_OUT["score"] if out is None else out)
    events_name = table_name(events, "events")
    saved, meta = load_model(model_dir)
    settings = Settings.model_validate(meta["settings"])
    mode = meta.get("mode", "pooled")
    if mode == "transfer" and events is None:
        raise InputError("a transfer model scores each animal relative to its own neutral "
                         "face: give the events table (its baseline windows)", model_dir)
    template = load_array(model_dir, "template")
    if template is None and settings.registration.resolved("model") != "none":
        # a model saved without a template (registration off when it was fitted)
        settings = settings.model_copy(update={"registration": settings.registration
                                               .model_copy(update={"align": "none"})})
    # Where to compute is this run's choice, not the saved model's.
    compute = {"workers": workers or 1, "scheduler": scheduler}
    if chunk_size:
        compute["chunk_size"] = chunk_size
    settings = settings.model_copy(update={
        "compute": settings.compute.model_copy(update=compute)})
    log = RunLog("score", settings)
    reporter = Reporter(quiet)
    preload = _preload(estimators=True)
    with results_lock(out, "score"), reporter.live():
        pose_inputs = _read_poses(sessions, poses, settings, log, events=events is not None)
        p = prepare(sessions, events, out, settings, reporter, log, scope="model",
                    template=template, model_regions=meta.get("mask_regions", ""),
                    check_video=_pose_lengths(pose_inputs))
        scoring = _scoring(preload)
        with log.stage("scores"):
            frames, scores, note = scoring.apply_model(p, saved, meta, settings, model_dir,
                                                       events_name,
                                                       table_name(sessions, "sessions"))
            windows = _check_windows(p, settings) if events is not None else None
            _warn_few_cells(p, settings)
            _warn_all_nan(frames, scores)
        au_trials, pose_record = _action_units(p, frames, pose_inputs, settings, out, log)
        frames_df = _write_frames(ResultsLayout(out).frames, frames, note)
        trials_df = None
        if events is not None:
            trials_df = _write_trials(out, p.events, scores, p.sessions, windows, au_trials)
        log.add_input(model_dir, kind="model")
        _log_table(log, sessions, "sessions")
        if events is not None:
            _log_table(log, events, "events")
        return _finish(out, log, p, frames_df, trials_df, (saved, meta), reporter, report,
                       model=str(model_dir.resolve()), model_mode=mode, **_mask_record(p),
                       **_log_poses(log, pose_inputs, pose_record))


def _settings(config, settings: Settings | None, workers: int | None,
              scheduler: str | None) -> Settings:
    """The run's settings: ``settings`` or ``config`` (a file or a dict), the compute flags
    over them (as the command line's ``--workers`` and ``--scheduler``)."""
    compute = {k: v for k, v in (("workers", workers), ("scheduler", scheduler))
               if v is not None}
    return load_settings(settings if settings is not None else config, compute=compute)


def _read_poses(sessions: Table, poses, settings: Settings, log: RunLog, *,
                events: bool = True) -> dict:
    """The sessions' pose files, read and checked before the pass (empty: none; ``movement``
    is imported only then). Without ``events`` (a `score` without them) poses given are
    refused, a ``poses`` column of the sessions table is left aside with a warning: action
    units are set against each animal's baseline frames."""
    if poses is None and not _may_have_poses(sessions):
        return {}
    if not events:
        why = ("action units are set against each animal's own baseline frames: give the "
               "events table (its baseline windows)")
        if poses is not None:
            raise InputError(why, table_name(poses, "poses")
                             if not isinstance(poses, Mapping) else None)
        warnings.warn(f"{table_name(sessions, 'sessions')}: its poses column is not used: "
                      f"{why}", stacklevel=3)
        return {}
    from mouseface.workflows.action_units import read_run_poses

    with log.stage("poses"):
        return read_run_poses(sessions, poses, settings.poses)


def _pose_lengths(pose_inputs: dict):
    """The check of each video's sessions' pose lengths once the video is open (before any
    frame is decoded), for :func:`~mouseface.workflows.prepare.prepare`; None: no poses."""
    if not pose_inputs:
        return None
    from functools import partial

    from mouseface.workflows.action_units import check_pose_lengths

    return partial(check_pose_lengths, pose_inputs)


def _log_poses(log: RunLog, pose_inputs: dict, record: dict) -> dict:
    """Record the pose files as inputs of the run; what ``run.json`` gets under ``poses``."""
    if not record:
        return {}
    for s, sp in pose_inputs.items():
        log.add_input(sp.path, kind="poses", session=s)
    return {"poses": record}


def _may_have_poses(sessions: Table) -> bool:
    """Whether the sessions table has a ``poses`` column (read its header only)."""
    if isinstance(sessions, pd.DataFrame):
        return "poses" in sessions.columns
    try:
        from mouseface.io.tables import read_table

        return "poses" in read_table(Path(sessions)).columns
    except InputError:
        return False  # prepare says what is wrong with the table


def _action_units(p, frames: list[pd.DataFrame], pose_inputs: dict, settings: Settings,
                  out: Path, log: RunLog):
    """Action units of the sessions with poses (:func:`~mouseface.workflows.action_units.
    add_action_units`): trial scores and what run.json records."""
    if not pose_inputs:
        return None, {}
    from mouseface.workflows.action_units import add_action_units

    with log.stage("action_units"):
        return add_action_units(p, frames, pose_inputs, settings, out)


def _log_table(log: RunLog, table: Table, kind: str) -> None:
    """Record an input table in ``run.json``: its file, or a DataFrame's rows and content
    fingerprint (the hash of the table as CSV)."""
    if not isinstance(table, pd.DataFrame):
        log.add_input(table, kind=kind)
        return
    digest = hashlib.sha256(table.to_csv(index=False).encode()).hexdigest()[:16]
    log.inputs.append({"path": None, "size": None, "fingerprint": digest, "kind": kind,
                       "rows": len(table), "source": "DataFrame"})


#: The estimators `fit` and `score` use (scikit-learn and SciPy's statistics, about half a
#: second of CPU): `run` scores without them.
ESTIMATORS = ("mouseface.expressions.prototypes", "mouseface.expressions.transfer",
              "mouseface.expressions.intensity", "mouseface.expressions.animal_model")


def _preload(estimators: bool = False) -> threading.Thread:
    """Import the scoring stage (with ``estimators``, the estimators too) in the background
    while the baseline pre-read and the pass decode."""
    t = threading.Thread(target=_import_scoring, args=(estimators,), name="mouseface-import",
                         daemon=True)
    t.start()
    return t


def _import_scoring(estimators: bool = False):
    from importlib import import_module

    import mouseface.workflows.scoring as scoring

    for name in ESTIMATORS if estimators else ():
        import_module(name)
    return scoring


def _one_blas_thread():
    """BLAS on one thread for the scoring: its products are thin (frames x features times
    features x a few prototypes or axes) between Python steps, and a second OpenBLAS thread
    spins after each one (a 9000-frame run on reused features: user+sys 4.72 -> 4.57 s,
    benchmarks/RESULTS.md). These products split their output between threads, so one
    thread gives the same numbers."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _scoring(preload: threading.Thread):
    preload.join()
    return _import_scoring()


def _mask_record(p) -> dict:
    """What ``run.json`` says of the mask: its regions and the HOG cells it leaves out."""
    if p.mask is None:
        return {}
    return {"mask": {"regions": p.mask_regions, "cells": p.mask.astype(int).tolist()}}


def _save(path: Path, models: dict, p, settings: Settings, *, mode: str, axis=None,
          **extra) -> tuple[dict, dict]:
    """Save prototypes (and the expression ``axis`` of a fit) at full HOG length (masked
    entries NaN) with the mask and template."""
    from types import SimpleNamespace

    st = next(iter(p.stores.values()))

    def full_length(rows) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if p.keep is None:
            return rows
        wide = np.full((len(rows), st.n_features), np.nan)
        wide[:, p.keep] = rows
        return wide

    full = {k: SimpleNamespace(classes_=m.classes_, prototypes_=full_length(m.prototypes_))
            for k, m in models.items()}
    if p.mask is not None:
        extra["mask"] = p.mask.astype(int).tolist()
        extra["mask_regions"] = p.mask_regions
    extra["crop_shape"] = list(st.attrs.get("crop_shape", []))
    arrays = {"template": p.template} if p.template is not None else {}
    if axis is not None:
        arrays["axes"] = full_length(axis.axes_)
        extra["axis_names"] = [str(c) for c in axis.classes_]
    save_model(path, full, mode=mode, settings=settings, feature_shape=st.feature_shape,
               arrays=arrays, **extra)
    return load_model(path)


def _report(out: Path, results: Results | None = None,
            progress: Callable[[str], None] | None = None,
            drawn: dict | None = None) -> Path:
    from mouseface.report import write_report

    return write_report(out, results=results, progress=progress, drawn=drawn)


def _mean_faces(folder: Path, picked: pd.DataFrame, models: dict, p) -> dict | None:
    """Write the frames each prototype averaged and their mean registered crops (from the
    crops the pass kept) beside the model; return the faces by model and prototype.

    None when some session's pass kept no crops (its features were reused from an earlier
    run): the report then decodes the picked frames from the videos.
    """
    from mouseface.features.extract import mean_faces

    save_picked(folder, picked)
    faces = {}
    for animal, srows in p.sessions.groupby("animal", sort=False):
        if str(animal) not in models:
            continue
        rows = picked[picked["model"] == str(animal)]
        per = {str(name): list(zip(g["session"], g["frame"], strict=True))
               for name, g in rows.groupby("prototype", sort=False)}
        got = mean_faces(p.kept, [str(s) for s in srows["session"]], per, NEUTRAL)
        if got is None:
            return None
        faces[str(animal)] = got
    save_mean_faces(folder, faces)
    return faces


def _finish(out: Path, log: RunLog, p, frames: pd.DataFrame, trials: pd.DataFrame | None,
            saved: tuple[dict, dict] | None, reporter: Reporter, report: bool,
            handed: dict | None = None, **extra) -> Results:
    """Write ``run.json``; then the report from what the run holds in memory (it reads
    nothing back: ``handed`` is what else it draws, e.g. the prototypes' picked frames and
    mean faces), and ``run.json`` again with the report's time and warnings. Returns the
    in-memory results."""
    record = log.write(out, **extra)
    results = Results.from_memory(out, frames=frames, trials=trials, run=record, model=saved,
                                  registration=p.registration, kept=p.kept,
                                  **(handed or {}))
    if report:
        task = reporter.task("report", total=2, unit="steps")
        with log.stage("report"):
            _report(out, results, progress=lambda step: task.step(f"report: {step}"))
        task.finish()
        results.__dict__["run"] = log.write(out)
    return results


def _warn_few_cells(p, settings: Settings) -> None:
    """One warning naming the sessions whose face crop holds fewer than
    :data:`~mouseface.features.hog.MIN_CELLS` HOG cells."""
    from mouseface.features.hog import MIN_CELLS

    few: dict[tuple, list[str]] = {}
    for s, st in p.stores.items():
        cy, cx = (int(v) for v in tuple(st.feature_shape)[:2])
        if cy * cx < MIN_CELLS:
            crop = "x".join(map(str, st.attrs.get("crop_shape", [])))
            few.setdefault((cy, cx, crop), []).append(str(s))
    py, px = settings.hog.pixels_per_cell
    for (cy, cx, crop), names in few.items():
        listed = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        warnings.warn(
            f"session{'s' if len(names) > 1 else ''} {listed}: the face crop ({crop} px, height x "
            f"width) gives {cy}x{cx} = {cy * cx} HOG cells of {py}x{px} px, fewer than "
            f"{MIN_CELLS}: too few to tell expressions apart; use smaller [hog] pixels_per_cell "
            "(e.g. 8 for a face 64 px across) or a larger ROI", stacklevel=2)


def _warn_all_nan(frames: list[pd.DataFrame], scores: list[pd.DataFrame]) -> None:
    """Say so when a result is empty: animals whose every similarity is NaN (their HOG vectors
    do not vary: a featureless crop), or trial scores that are all NaN."""
    blank: dict[str, int] = {}
    for f in frames:
        sim = f.filter(like="sim_")
        if sim.shape[1] and len(sim) and sim.isna().all().all():
            animal = str(f["animal"].iloc[0])
            blank[animal] = blank.get(animal, 0) + len(sim)
    if blank:
        warnings.warn(
            f"animal{'s' if len(blank) > 1 else ''} {', '.join(blank)}: every similarity is NaN "
            f"({sum(blank.values())} frames): their HOG vectors do not vary (a crop without "
            "edges: white noise, a blank or saturated image, or HOG cells too large for the "
            "face; L2-Hys clips flat histograms to one value), so there are no scores",
            stacklevel=2)
    s = pd.concat(scores) if scores else pd.DataFrame()
    cols = [c for c in s.columns if c.startswith("score_")]
    if cols and len(s) and s[cols].isna().all().all() and not blank:
        warnings.warn(f"every trial score is NaN ({len(s)} trials): see the window counts "
                      "and flags in trials.csv", stacklevel=2)


def _check_windows(p, settings: Settings) -> pd.DataFrame:
    """Frames found in every trial's windows (:func:`~mouseface.expressions.windows.
    window_counts`); one warning naming the trials too thin to score."""
    from mouseface.expressions.windows import MIN_WINDOW_FRACTION, WINDOW_OK, window_counts

    parts = [window_counts(p.stores[s].time, ev, settings.prototypes.baseline)
             for s, ev in p.events.groupby("session", sort=False) if s in p.stores]
    counts = pd.concat(parts) if parts else pd.DataFrame(
        columns=["n_baseline", "n_frames", "window_flag"])
    short = counts[counts["window_flag"] != WINDOW_OK]
    if len(short):
        ev = p.events.set_index("event")
        kinds = short["window_flag"].str.split(";").explode().value_counts()
        first = short.index[0]
        warnings.warn(
            f"{len(short)} of {len(counts)} trials not scored (NaN in trials.csv): fewer than "
            f"{MIN_WINDOW_FRACTION:.0%} of their windows' frames "
            f"({', '.join(f'{k}: {n}' for k, n in kinds.items())}; e.g. session "
            f"'{ev.at[first, 'session']}' onset {ev.at[first, 'onset']:g} s: "
            f"{short.at[first, 'n_baseline']} baseline and {short.at[first, 'n_frames']} "
            "stimulus frames); an onset at the first frame has no baseline, a video that ends "
            "or loses frames inside a trial cuts its window", stacklevel=2)
    return counts


def _write_trials(out: Path, events: pd.DataFrame, scores: list[pd.DataFrame],
                  sessions: pd.DataFrame, windows: pd.DataFrame | None = None,
                  action_units: pd.DataFrame | None = None) -> pd.DataFrame:
    """``trials.csv``: the events' columns, ``animal``, the frames found in each trial's
    windows with their flag, then ``score_<p>``, ``peak_<p>``, ``grade_<c>`` and
    ``grade_mean_<c>``, each in the order people read conditions (numbers in names by value:
    50uA before 500uA), then the action units' ``au_<name>`` (with poses). A flagged trial's
    scores are NaN."""
    from mouseface.expressions.windows import WINDOW_OK

    s = pd.concat(scores) if scores else pd.DataFrame()
    if action_units is not None:
        s = s.join(action_units, how="outer") if len(s) else action_units
    if windows is not None and len(s):
        short = windows.index[windows["window_flag"] != WINDOW_OK]
        s = s.copy()
        s.loc[s.index.isin(short)] = np.nan
    if windows is not None:
        events = events.join(windows, on="event")
    trials = events.join(s, on="event") if len(s) else events.copy()
    if "animal" not in trials.columns:
        animal = dict(zip(sessions["session"], sessions["animal"], strict=True))
        trials.insert(1, "animal", trials["session"].map(animal))
    added: dict[str, list[str]] = {"score_": [], "peak_": [], "grade_": [], "grade_mean_": []}
    for c in trials.columns:
        prefix = next((p for p in ("grade_mean_", *added) if c.startswith(p)), None)
        if prefix:
            added[prefix].append(c)
    scored = [c for cols in added.values() for c in natural_sorted(cols)]
    scored += [c for c in trials.columns if c.startswith("au_")]
    trials = trials[[c for c in trials.columns if c not in scored] + scored]
    with atomic_path(ResultsLayout(out).trials) as tmp:
        trials.to_csv(tmp, index=False)
    return trials
