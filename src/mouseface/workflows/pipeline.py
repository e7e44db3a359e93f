"""The stages in order: extract features, build prototypes, score frames and trials, write.

Each public function here is what one CLI verb runs; all computing lives in the rooms.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.trials import TrialFrames, crossfit_trial_scores, trial_scores
from mouseface.expressions.windows import NEUTRAL, label_frames, trial_frames
from mouseface.io.layout import ResultsLayout
from mouseface.io.model import load_array, load_model, save_model
from mouseface.io.results import Results
from mouseface.io.store import FeatureStore
from mouseface.io.tables import natural_sorted
from mouseface.workflows.runlog import RunLog
from mouseface.workflows.settings import Settings, load_settings

FRAMES_NOTE = ("sim_<prototype> columns use prototypes built from all trials of the animal; "
               "trial scores in trials.csv are cross-fitted (a trial's own condition prototype "
               "is rebuilt without its frames)")

# ---------------------------------------------------------------------------- stages


def _first_trials(events: pd.DataFrame, sessions: pd.DataFrame) -> np.ndarray:
    """True for each animal's first trial of each condition (by session order, then onset)."""
    order = {s: i for i, s in enumerate(sessions["session"])}
    animal = dict(zip(sessions["session"], sessions["animal"], strict=True))
    e = events.assign(_animal=events["session"].map(animal),
                      _order=events["session"].map(order))
    e = e.sort_values(["_animal", "trial_type", "_order", "onset"])
    first = ~e.duplicated(["_animal", "trial_type"])
    return first.reindex(events.index).to_numpy()


def _animal_frames(
    stores: dict, events: pd.DataFrame, settings: Settings,
    exclude: np.ndarray | None, quality: dict[str, pd.DataFrame] | None = None,
) -> tuple[np.ndarray, np.ndarray, list[TrialFrames]]:
    """Labelled frames (for prototypes) and per-trial windows of one animal's sessions.

    Frames flagged by the quality pass never enter prototypes; they are still scored in their
    trial windows (a startle is part of the response to a shock).
    """
    baseline = settings.prototypes.baseline
    xs, ys, trials, lost = [], [], [], {}
    for session, store in stores.items():
        ev = events[events["session"] == session]
        if ev.empty:
            continue
        t = store.time
        ok = np.ones(len(t), bool)
        if quality is not None and session in quality:
            ok = ~quality[session]["flag"].to_numpy(dtype=bool)[: len(t)]
        ex = None if exclude is None else exclude[ev.index.to_numpy()]
        labels, _ = label_frames(t, ev, baseline, exclude=ex)
        windows = [trial_frames(t, row.onset, row.duration, baseline)
                   for row in ev.itertuples(index=False)]
        # every frame of every window, read once; prototypes and trials slice it
        rows = np.unique(np.concatenate([np.flatnonzero(labels != "")]
                                        + [np.r_[b, s_] for b, s_ in windows]))
        x = store.read(rows)
        at = np.searchsorted(rows, np.arange(len(t)))
        keep = np.flatnonzero((labels != "") & ok)
        for name in set(labels[labels != ""]):
            lost.setdefault(name, []).append(bool((labels[keep] == name).any()))
        xs.append(x[at[keep]])
        ys.append(labels[keep])
        for k, (row, (b, s_)) in enumerate(zip(ev.itertuples(index=False), windows,
                                                strict=True)):
            trials.append(TrialFrames(int(row.event), str(row.trial_type), x[at[b]],
                                      x[at[s_]], in_prototype=not (ex is not None and ex[k]),
                                      usable=ok[s_]))
    gone = sorted(n for n, kept in lost.items() if not any(kept))
    if gone:
        animal = ", ".join(sorted(stores))
        warnings.warn(f"sessions {animal}: every {'/'.join(gone)} frame is quality-flagged "
                      f"(see the flag columns of frames.parquet): no prototype for "
                      f"{', '.join(gone)}; consider [quality] exclude_flagged = false or "
                      "[registration] shift_threshold", stacklevel=2)
    if not xs:
        return np.empty((0, 0)), np.empty(0, str), trials
    return np.concatenate(xs), np.concatenate(ys), trials


def _check_same_shape(stores: dict[str, FeatureStore], what: str) -> None:
    shapes = {s: st.feature_shape for s, st in stores.items()}
    if len(set(shapes.values())) > 1:
        raise InputError(f"sessions of {what} have different HOG shapes {shapes}: give them ROIs "
                         "of the same size")


def _write_frames(path: Path, parts: list[pd.DataFrame], note: str) -> pd.DataFrame:
    """Write the per-frame rows of all sessions to ``frames.parquet`` atomically.

    Conditions an animal lacks give NaN in its ``sim_`` columns; ``note`` says which prototypes
    the similarities come from and is kept in the Parquet metadata.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    df = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    sim = natural_sorted(c for c in df.columns if c.startswith("sim_"))
    df = df[[c for c in df.columns if not c.startswith("sim_")] + sim]
    table = pa.Table.from_pandas(df, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"mouseface.prototypes": note.encode()})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return df


def _excluding(quality: dict[str, pd.DataFrame] | None, settings: Settings):
    """The quality tables whose flags keep frames out of prototypes (None: keep all)."""
    return quality if settings.quality.exclude_flagged else None


def _frame_table(store, session: str, animal: str, similarity, labels: np.ndarray | None,
                 names, extras: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of ``frames.parquet`` for one session; ``similarity(hog)`` gives the ``sim_``
    columns (one per name), ``extras`` the quality and drift columns."""
    sims = [similarity(x) for _, x in store.iter_blocks()]
    sim = np.concatenate(sims) if sims else np.empty((0, len(names)))
    n = len(sim)
    df = pd.DataFrame({"session": session, "animal": animal, "frame": np.arange(n),
                       "time": store.time[:n]})
    df["window"] = labels[:n] if labels is not None else ""
    for j, name in enumerate(names):
        df[f"sim_{name}"] = sim[:, j].astype(np.float32)
    if extras is not None:
        df = pd.concat([df, extras.iloc[:n].reset_index(drop=True)], axis=1)
    return df


# ---------------------------------------------------------------------------- verbs


def run(
    sessions_path: str | Path,
    events_path: str | Path,
    out: str | Path,
    *,
    config: str | Path | None = None,
    settings: Settings | None = None,
    quiet: bool = False,
    report: bool = True,
) -> Path:
    """Per-animal prototypes (the paper's way); every frame and every trial scored.

    Writes ``features/``, ``model/``, ``frames.parquet``, ``trials.csv``, ``run.json``,
    ``registration/`` (with registration on) and (unless ``report`` is False) ``report.html``
    into ``out`` and returns ``out``.
    """
    return run_results(sessions_path, events_path, out, config=config, settings=settings,
                       quiet=quiet, report=report).path


def run_results(
    sessions_path: str | Path,
    events_path: str | Path,
    out: str | Path,
    *,
    config: str | Path | None = None,
    settings: Settings | None = None,
    quiet: bool = False,
    report: bool = True,
) -> Results:
    """:func:`run`, returning the results as it holds them in memory (what a later report
    takes without reading the folder back)."""
    from mouseface.workflows.prepare import prepare

    out = Path(out)
    settings = settings or load_settings(config)
    log = RunLog("run", settings)
    reporter = Reporter(quiet)
    with reporter.live():
        p = prepare(sessions_path, events_path, out, settings, reporter, log, scope="animal")
        sessions, events, stores = p.sessions, p.events, p.stores
        exclude = (_first_trials(events, sessions)
                   if settings.prototypes.exclude_first_trial else None)
        frames, scores, models = [], [], {}
        with log.stage("prototypes_and_scores"):
            task = reporter.task("scoring", total=len(stores), unit="sessions")
            for animal, srows in sessions.groupby("animal", sort=False):
                a_stores = {s: stores[s] for s in srows["session"]}
                _check_same_shape(a_stores, f"animal {animal}")
                X, y, trials = _animal_frames(a_stores, events, settings, exclude,
                                              _excluding(p.quality, settings))
                if len(X) == 0 or not (y == NEUTRAL).any():
                    why = ("no events" if not trials else
                           "no unflagged baseline frames" if len(X) else
                           "every labelled frame is flagged")
                    warnings.warn(f"animal {animal}: {why}, no prototypes; its frames are in "
                                  "frames.parquet without similarities", stacklevel=1)
                    for session, st in a_stores.items():
                        frames.append(_frame_table(st, session, str(animal), _no_similarity,
                                                   p.labels[session], [],
                                                   p.frame_extras(session, st.n_frames)))
                        task.advance()
                    continue
                model = PrototypeModel(n_frames=settings.prototypes.n_frames).fit(X, y)
                models[str(animal)] = model
                s, _ = crossfit_trial_scores(trials, n_frames=settings.prototypes.n_frames,
                                             neutral=model.prototypes_[0])
                scores.append(s)
                for session, st in a_stores.items():
                    frames.append(_frame_table(st, session, str(animal), model.transform,
                                               p.labels[session], model.classes_,
                                               p.frame_extras(session, st.n_frames)))
                    task.advance()
        frames_df = _write_frames(ResultsLayout(out).frames, frames, FRAMES_NOTE)
        trials_df = _write_trials(out, events, scores, sessions)
        model = _save(ResultsLayout(out).model, models, p, settings, mode="per-animal")
        log.add_input(sessions_path, kind="sessions")
        log.add_input(events_path, kind="events")
        return _finish(out, log, p, frames_df, trials_df, model, reporter, report,
                       frames_note=FRAMES_NOTE, **_mask_record(p))


def fit(
    sessions_path: str | Path,
    events_path: str | Path,
    out: str | Path,
    *,
    config: str | Path | None = None,
    settings: Settings | None = None,
    quiet: bool = False,
) -> Path:
    """Prototypes over the given animals, saved with the HOG parameters, template and mask.

    ``[prototypes] mode`` says which: ``"transfer"`` (default) difference prototypes relative
    to each animal's own neutral face (:class:`~mouseface.expressions.transfer.TransferModel`),
    which carry over to new animals; ``"pooled"`` the paper's raw-HOG prototypes averaged over
    animals. Writes ``out/model`` (what ``score`` loads), ``out/features``,
    ``out/registration`` and ``out/run.json``.
    """
    from mouseface.expressions.transfer import TransferModel
    from mouseface.workflows.prepare import prepare

    out = Path(out)
    settings = settings or load_settings(config)
    log = RunLog("fit", settings)
    reporter = Reporter(quiet)
    with reporter.live():
        p = prepare(sessions_path, events_path, out, settings, reporter, log, scope="all")
        sessions, events, stores = p.sessions, p.events, p.stores
        _check_same_shape(stores, "the model")
        exclude = (_first_trials(events, sessions)
                   if settings.prototypes.exclude_first_trial else None)
        with log.stage("prototypes"):
            xs, ys, gs = [], [], []
            for animal, srows in sessions.groupby("animal", sort=False):
                X, y, _ = _animal_frames({s: stores[s] for s in srows["session"]}, events,
                                         settings, exclude, _excluding(p.quality, settings))
                if len(X):
                    xs.append(X)
                    ys.append(y)
                    gs.append(np.full(len(y), str(animal), dtype=object))
            if not xs:
                raise InputError("no events fall on any session: nothing to fit",
                                 events_path)
            X, y, g = np.concatenate(xs), np.concatenate(ys), np.concatenate(gs)
            mode = settings.prototypes.mode
            try:
                if mode == "transfer":
                    model = TransferModel(control=settings.prototypes.control).fit(X, y,
                                                                                  groups=g)
                else:
                    model = PrototypeModel(n_frames=settings.prototypes.n_frames).fit(
                        X, y, groups=g)
            except ValueError as exc:
                raise InputError(f"cannot fit {mode} prototypes: {exc}", events_path) from None
        _save(ResultsLayout(out).model, {mode: model}, p, settings, mode=mode,
              animals=sorted(map(str, sessions["animal"].unique())))
        log.add_input(sessions_path, kind="sessions")
        log.add_input(events_path, kind="events")
        log.write(out, **_mask_record(p))
    return out


def score(
    model_dir: str | Path,
    sessions_path: str | Path,
    events_path: str | Path | None,
    out: str | Path,
    *,
    quiet: bool = False,
    chunk_size: int | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    report: bool = True,
) -> Path:
    """Apply a saved model to new sessions.

    Features are computed with the model's HOG parameters, registration and mask, the faces
    registered onto the model's template. Pooled and per-animal models: where events are given,
    the neutral prototype is replaced by the new animal's own baseline frames. Transfer models
    need the events: every frame is taken relative to the animal's own neutral face (its
    baseline frames).
    """
    from mouseface.workflows.prepare import prepare

    out = Path(out)
    saved, meta = load_model(model_dir)
    settings = Settings.model_validate(meta["settings"])
    mode = meta.get("mode", "pooled")
    if mode == "transfer" and events_path is None:
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
    with reporter.live():
        p = prepare(sessions_path, events_path, out, settings, reporter, log, scope="model",
                    template=template, model_regions=meta.get("mask_regions", ""))
        sessions, events, stores = p.sessions, p.events, p.stores
        shape = tuple(meta["feature_shape"])
        for s, st in stores.items():
            if st.feature_shape != shape:
                raise InputError(
                    f"session {s}: HOG shape {st.feature_shape} differs from the model's "
                    f"{shape}: use an ROI of the model's size "
                    f"({meta.get('crop_shape', 'see model.json')})", sessions_path)
        keep = p.keep if p.keep is not None else slice(None)
        frames, scores = [], []
        with log.stage("scores"):
            for animal, srows in sessions.groupby("animal", sort=False):
                a_stores = {s: stores[s] for s in srows["session"]}
                names, protos = _saved_for(saved, str(animal), model_dir)
                X, y, trials = _animal_frames(a_stores, events, settings, None,
                                              _excluding(p.quality, settings))
                if mode == "transfer":
                    similarity, names, s = _transfer_scoring(names, protos[:, keep], X, y,
                                                             trials, animal, events_path)
                else:
                    model = PrototypeModel.from_prototypes(
                        names, protos[:, keep], n_frames=settings.prototypes.n_frames)
                    model = _with_own_neutral(model, X, y)
                    similarity, names = model.transform, model.classes_
                    s = (trial_scores(trials, model.prototypes_, list(model.classes_))
                         if trials else None)
                if s is not None:
                    scores.append(s)
                for session, st in a_stores.items():
                    frames.append(_frame_table(st, session, str(animal), similarity,
                                               p.labels[session], names,
                                               p.frame_extras(session, st.n_frames)))
        note = (TRANSFER_NOTE if mode == "transfer" else
                "prototypes from the saved model; neutral from each animal's own baseline "
                "where events were given")
        frames_df = _write_frames(ResultsLayout(out).frames, frames, note)
        trials_df = None
        if events_path is not None:
            trials_df = _write_trials(out, events, scores, sessions)
        log.add_input(model_dir, kind="model")
        log.add_input(sessions_path, kind="sessions")
        if events_path is not None:
            log.add_input(events_path, kind="events")
        _finish(out, log, p, frames_df, trials_df, (saved, meta), reporter, report,
                model=str(Path(model_dir).resolve()), model_mode=mode, **_mask_record(p))
    return out


TRANSFER_NOTE = ("transfer model: sim_neutral is the correlation of each frame's HOG with the "
                 "animal's own neutral face (mean of its baseline frames); sim_<condition> the "
                 "correlation of the frame's difference from that face (standardised by its "
                 "baseline spread) with the condition's difference prototype, fitted on other "
                 "animals")


def _mask_record(p) -> dict:
    """What ``run.json`` says of the mask: its regions and the HOG cells it leaves out."""
    if p.mask is None:
        return {}
    return {"mask": {"regions": p.mask_regions, "cells": p.mask.astype(int).tolist()}}


def _no_similarity(x: np.ndarray) -> np.ndarray:
    return np.empty((len(x), 0))


def _transfer_scoring(names, prototypes, X, y, trials, animal, events_path):
    from mouseface.expressions.transfer import TransferModel, transfer_trial_scores

    model = TransferModel.from_prototypes(names, prototypes)
    base = X[y == NEUTRAL] if len(X) else X
    if len(base) == 0:
        raise InputError(f"animal {animal}: no baseline frames (none before any onset, or all "
                         "flagged): a transfer model needs the animal's own neutral face",
                         events_path)
    ref = model.reference(base)
    s = transfer_trial_scores(model, trials, ref) if trials else None
    return (lambda x: model.transform(x, ref)), model.classes_, s


def _save(path: Path, models: dict, p, settings: Settings, *, mode: str,
          **extra) -> tuple[dict, dict]:
    """Save prototypes at full HOG length (masked entries NaN) with the mask and template."""
    from types import SimpleNamespace

    st = next(iter(p.stores.values()))
    full = {}
    for k, m in models.items():
        protos = np.asarray(m.prototypes_, dtype=np.float64)
        if p.keep is not None:
            wide = np.full((len(protos), st.n_features), np.nan)
            wide[:, p.keep] = protos
            protos = wide
        full[k] = SimpleNamespace(classes_=m.classes_, prototypes_=protos)
    if p.mask is not None:
        extra["mask"] = p.mask.astype(int).tolist()
        extra["mask_regions"] = p.mask_regions
    extra["crop_shape"] = list(st.attrs.get("crop_shape", []))
    arrays = {"template": p.template} if p.template is not None else {}
    save_model(path, full, mode=mode, settings=settings, feature_shape=st.feature_shape,
               arrays=arrays, **extra)
    return load_model(path)


def _report(out: Path, results: Results | None = None) -> Path:
    from mouseface.report import write_report

    return write_report(out, results=results)


def _finish(out: Path, log: RunLog, p, frames: pd.DataFrame, trials: pd.DataFrame | None,
            saved: tuple[dict, dict] | None, reporter: Reporter, report: bool,
            **extra) -> Results:
    """Write ``run.json``; then the report from what the run holds in memory (it reads
    nothing back), and ``run.json`` again with the report's time and warnings. Returns the
    in-memory results."""
    record = log.write(out, **extra)
    results = Results.from_memory(out, frames=frames, trials=trials, run=record, model=saved,
                                  registration=p.registration, kept=p.kept)
    if report:
        task = reporter.task("report", total=1, unit="pages")
        with log.stage("report"):
            _report(out, results)
        task.advance()
        results.__dict__["run"] = log.write(out)
    return results


def _saved_for(saved: dict, animal: str, model_dir) -> tuple[list[str], np.ndarray]:
    """The saved prototypes that score ``animal``: the model's one set, or the animal's own."""
    if len(saved) == 1 and next(iter(saved)) in ("pooled", "transfer"):
        return next(iter(saved.values()))
    if animal in saved:
        return saved[animal]
    raise InputError(f"the model has per-animal prototypes for {sorted(saved)} but not for "
                     f"animal {animal}: fit a model with `mouseface fit`", model_dir)


def _with_own_neutral(model: PrototypeModel, X: np.ndarray, y: np.ndarray) -> PrototypeModel:
    if len(X) == 0 or not (y == NEUTRAL).any():
        return model
    prototypes = model.prototypes_.copy()
    prototypes[0] = X[y == NEUTRAL].mean(axis=0)
    return PrototypeModel.from_prototypes(model.classes_, prototypes, n_frames=model.n_frames)


def _write_trials(out: Path, events: pd.DataFrame, scores: list[pd.DataFrame],
                  sessions: pd.DataFrame) -> pd.DataFrame:
    """``trials.csv``: the events' columns, ``animal``, then ``score_<p>`` and ``peak_<p>`` in
    the order people read conditions (numbers in names by value: 50uA before 500uA)."""
    s = pd.concat(scores) if scores else pd.DataFrame()
    trials = events.join(s, on="event") if len(s) else events.copy()
    if "animal" not in trials.columns:
        animal = dict(zip(sessions["session"], sessions["animal"], strict=True))
        trials.insert(1, "animal", trials["session"].map(animal))
    score_cols = natural_sorted(c for c in trials.columns if c.startswith("score_"))
    peak_cols = natural_sorted(c for c in trials.columns if c.startswith("peak_"))
    other = [c for c in trials.columns if c not in score_cols + peak_cols]
    trials = trials[other + score_cols + peak_cols]
    with atomic_path(ResultsLayout(out).trials) as tmp:
        trials.to_csv(tmp, index=False)
    return trials
