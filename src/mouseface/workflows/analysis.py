"""The analyses of a results folder: what the analysis verbs of the command line run.

Each function reads a results folder (``mouseface run`` wrote it), computes with
:mod:`mouseface.expressions`, writes its tables into ``DIR/analysis/`` and draws its figures
with :mod:`mouseface.report.analysis_figures` (PNG and SVG). Every function returns what it
computed, so the same analyses run from Python::

    from mouseface.workflows import analysis
    result = analysis.classify("results", features="hog", split="animal")
    result["balanced_accuracy"], result["chance"]["balanced_accuracy_mean"]

Files written (in ``DIR/analysis``):

=============================  ==============================================================
``classification.json``        :func:`classify`: settings and scores (see the function)
``classification_predictions.csv``  out-of-fold prediction of every sample
``confusion.png/.svg``         confusion matrix
``embedding.csv``              :func:`embed`: 2-D coordinates of the subsampled frames
``embedding.png/.svg``         pooled and per-animal scatter, coloured by condition
``clustering.json``            :func:`cluster`: purity, adjusted Rand index, composition
``clusters.csv``               cluster and leaf position of every clustered frame
``clustering.png/.svg``        frame x frame correlation heatmaps in leaf order
``trial_metrics.csv``          :func:`trial_metrics` (``trial_metrics_normalized.csv`` with
                               ``normalize=True``)
``trial_metrics.png/.svg``     own-prototype metrics per condition
``dose_<column>.csv``          :func:`dose`: Spearman, bootstrap CI and isotonic fit
``dose_<column>.png/.svg``     score against dose with the fit
``stats.csv``                  :func:`stats`: each condition against baseline
``summary.json``               :func:`analyze`: what ran, where it wrote, what failed
=============================  ==============================================================

Threads: each analysis runs with BLAS and OpenMP limited to ``MOUSEFACE_THREADS`` threads
(default 1; ``0`` for the libraries' own default). The analyses are small matrix jobs; on a
shared or busy machine, threads waiting for each other at every step made them 3-20 times
slower than one thread (t-SNE's Barnes-Hut gradient worst of all).
"""

from __future__ import annotations

import functools
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface._parallel import side_by_side
from mouseface._progress import Reporter
from mouseface.expressions import classify as _classify
from mouseface.expressions import cluster as _cluster
from mouseface.expressions import dose as _dose
from mouseface.expressions import embed as _embed
from mouseface.expressions import metrics as _metrics
from mouseface.expressions import stats as _stats
from mouseface.expressions.prototypes import NEUTRAL
from mouseface.expressions.windows import assign_windows
from mouseface.io.results import Results
from mouseface.io.tables import event_columns
from mouseface.report import analysis_figures as figures
from mouseface.runlog import logs_warnings

FEATURES = ("hog", "similarity", "prototypes")
THREADS_ENV = "MOUSEFACE_THREADS"
LEVELS = ("frame", "trial")
CENTER = ("none", "animal")

SIMILARITY_NOTE = ("similarity features: the sim_ columns of frames.parquet come from "
                   "per-animal prototypes built from all of that animal's trials, held-out "
                   "ones included, so this is optimistic; --features prototypes rebuilds the "
                   "prototypes inside every training fold")


def _threads(func):
    """Run ``func`` with BLAS/OpenMP limited to ``$MOUSEFACE_THREADS`` threads (default 1)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            n = int(os.environ.get(THREADS_ENV, "1"))
        except ValueError:
            raise InputError(f"{THREADS_ENV} must be an integer, got "
                             f"{os.environ[THREADS_ENV]!r}") from None
        if n <= 0:
            return func(*args, **kwargs)
        with threadpool_limits(limits=n):
            return func(*args, **kwargs)

    return wrapper


def _results(results: str | Path | Results) -> Results:
    return results if isinstance(results, Results) else Results(results)


def _write_csv(df: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return path


def _check(value: str, allowed: tuple[str, ...], name: str) -> None:
    if value not in allowed:
        raise InputError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def labelled_frames(
    r: Results, *, conditions: list[str] | None = None, neutral: bool = True, step: int = 1,
) -> pd.DataFrame:
    """Frames of trial windows with their ``event``, ``part`` and ``label`` columns added.

    Keeps baseline frames (label ``neutral``) when ``neutral``, stimulus frames of
    ``conditions`` (default all), and every ``step``-th frame of each session.
    """
    f = r.frames
    w = assign_windows(f, r.trials, r.baseline)
    keep = w["label"] != ""
    if conditions:
        keep &= w["label"].isin([*conditions, NEUTRAL])
    if not neutral:
        keep &= w["label"] != NEUTRAL
    if step > 1:
        keep &= (f["frame"] % step) == 0
    out = pd.concat([f[keep], w[keep]], axis=1)
    if out.empty:
        raise InputError("no frames fall in any baseline or stimulus window",
                         r.layout.trials)
    return out.reset_index(drop=True)


def _frame_features(r: Results, rows: pd.DataFrame, features: str) -> np.ndarray:
    if features == "similarity":
        cols = [f"sim_{p}" for p in r.prototype_names]
        if not cols:
            raise InputError("frames.parquet has no sim_<prototype> columns: no prototypes "
                             "could be built (run.json's warnings say why); classify the HOG "
                             "instead (--features hog)", r.layout.frames)
        return rows[cols].to_numpy(dtype=np.float64)
    return _hog(r, rows)


def _hog(r: Results, rows: pd.DataFrame) -> np.ndarray:
    """HOG of the rows without the cells the run's mask leaves out (``run.json``)."""
    x = r.hog(rows).astype(np.float64)
    mask = r.run.get("mask")
    if not mask or x.size == 0:
        return x
    from mouseface.features.masks import feature_keep

    hp = r.run.get("settings", {}).get("hog", {})
    keep = feature_keep(np.asarray(mask["cells"], bool), int(hp.get("orientations", 8)),
                        tuple(hp.get("cells_per_block", (1, 1))))
    return x[:, keep] if len(keep) == x.shape[1] else x


# ---------------------------------------------------------------------------- classify


@_threads
@logs_warnings("analysis")
def classify(
    results: str | Path | Results, *, features: str = "hog", split: str = "trial",
    classifier: str = "rf", level: str = "frame", conditions: list[str] | None = None,
    neutral: bool = True, center: str = "none", n_components: int = 50, n_splits: int = 5,
    n_permutations: int = 20, step: int = 2, random_state: int = 0, write: bool = True,
    n_jobs: int | None = -1,
) -> dict[str, Any]:
    """Cross-validated classification of frames (or trial windows) by condition.

    Parameters
    ----------
    results : path or Results
        A results folder.
    features : {"hog", "similarity", "prototypes"}, default="hog"
        ``hog``: HOG from ``features/``, PCA-reduced inside each training fold;
        ``similarity``: the ``sim_`` columns of ``frames.parquet`` (see ``note`` in the
        output: optimistic); ``prototypes``: HOG turned into similarities to prototypes fitted
        inside each training fold (frame level only).
    split : {"trial", "animal", "frame"}, default="trial"
        Held-out trials (all frames of a trial, baseline included, together), held-out
        animals (leave one animal out), or random frames (leaky; for comparison only).
    classifier : {"rf", "logreg"}, default="rf"
    level : {"frame", "trial"}, default="frame"
        ``frame``: every window frame is a sample, labelled ``neutral`` (baseline windows) or
        its condition (stimulus windows): with six conditions, the 7-class problem.
        ``trial``: one sample per trial window: with ``neutral`` the mean feature vector of
        each stimulus window (its condition) and of each baseline window (``neutral``);
        without ``neutral`` one sample per trial, labelled with its condition: for ``hog``
        the mean stimulus HOG minus the mean baseline HOG, for ``similarity`` the
        cross-fitted ``score_<p>`` of ``trials.csv``.
    conditions : list of str, optional
        Conditions to keep (default all).
    neutral : bool, default=True
        Include baseline windows as the class ``neutral``.
    center : {"none", "animal"}, default="none"
        ``animal``: subtract from every feature vector the mean over *all* frames of its
        animal (every 5th frame, trial windows or not), which takes out much of what differs
        between faces; it uses no label, so held-out animals stay held out (for the
        cross-fitted trial scores: the mean over the animal's trials).
    n_components : int, default=50
        PCA components for HOG features.
    n_splits : int, default=5
        Folds for ``split="trial"`` and ``"frame"``.
    n_permutations : int, default=20
        Repeats on permuted labels for the chance level (0: skip).
    step : int, default=2
        Use every ``step``-th frame (neighbouring frames are near copies; frame level).
    random_state : int, default=0
    write : bool, default=True
        Write ``classification.json``, ``classification_predictions.csv`` and the confusion
        figure into ``DIR/analysis``.
    n_jobs : int or None, default=-1
        Folds and permutations fitted side by side on this many threads (-1: every core;
        None or 1: one at a time); each fit is the same either way, so are the results.

    Returns
    -------
    dict
        The settings above, and the keys of
        :func:`mouseface.expressions.classify.cross_validate` (``accuracy``,
        ``balanced_accuracy``, ``chance``, ``confusion_matrix``, ``precision``, ``recall``,
        ``support``, ``fold_balanced_accuracy``, ``fold_groups``), ``note`` where relevant,
        and ``files`` (what was written). ``classification.json`` holds the same without the
        per-sample ``predictions``; ``classification_predictions.csv`` has ``session``,
        ``animal``, ``event``, ``frame`` (frame level) or ``part`` (trial level), ``true``,
        ``predicted``.
    """
    r = _results(results)
    _check(features, FEATURES, "features")
    _check(split, _classify.SPLITS, "split")
    _check(classifier, _classify.CLASSIFIERS, "classifier")
    _check(level, LEVELS, "level")
    _check(center, CENTER, "center")
    if level == "trial" and features == "prototypes":
        raise InputError("features 'prototypes' work on frames; use --level frame, or "
                         "--features similarity for trials (cross-fitted scores)")
    if features == "prototypes" and not neutral:
        raise InputError("features 'prototypes' need the baseline frames to build the neutral "
                         "prototype: drop --no-neutral")
    if level == "frame":
        rows = labelled_frames(r, conditions=conditions, neutral=neutral, step=step)
        X = _centered(r, rows, _frame_features(r, rows, features), features, center)
        y = rows["label"].to_numpy().astype(str)
        ids = rows[["session", "animal", "event", "frame"]]
    else:
        X, ids = trial_samples(r, features, conditions, neutral, center)
        y = ids.pop("label").to_numpy().astype(str)
    if not np.isfinite(X).all():
        X = np.where(np.isfinite(X), X, 0.0)  # a prototype the animal lacks: no similarity
    groups = (ids["animal"] if split == "animal" else ids["event"]).to_numpy().astype(str)
    est = _classify.make_classifier(
        classifier, n_components=None if features == "similarity" else n_components,
        prototypes=features == "prototypes", random_state=random_state)
    cv = _classify.make_splitter(split, n_splits=n_splits, n_groups=len(np.unique(groups)),
                                 random_state=random_state)
    blocks = _classify.block_ids(ids["event"].to_numpy().astype(str), y)
    try:
        res = _classify.cross_validate(est, X, y, groups, cv=cv, n_permutations=n_permutations,
                                       blocks=blocks, random_state=random_state,
                                       n_jobs=n_jobs)
    except ValueError as exc:
        raise InputError(f"cannot classify: {exc}", r.path) from None
    out = {"features": features, "split": split, "classifier": classifier, "level": level,
           "conditions": sorted(set(y) - {NEUTRAL}), "neutral": NEUTRAL in set(y),
           "center": center,
           "n_components": None if features == "similarity" else n_components,
           "n_splits_requested": n_splits, "step": step if level == "frame" else None,
           "random_state": random_state, "n_animals": int(ids["animal"].nunique()), **res}
    if features == "similarity" and (level == "frame" or neutral):
        out["note"] = SIMILARITY_NOTE
    predictions = out.pop("predictions")
    if write:
        lay = r.layout
        pred = ids.assign(true=y, predicted=predictions)
        files = [_write_csv(pred, lay.classification_predictions)]
        what = "frames" if level == "frame" else ("windows" if neutral else "trials")
        files += figures.confusion_figure(
            out, lay.confusion_figure,
            title=f"{what}, {features}, {classifier}, held-out {split}s")
        out["files"] = [str(f) for f in [lay.classification, *files]]
        write_json(lay.classification, out)
    out["predictions"] = predictions
    return out


def _centered(r: Results, rows: pd.DataFrame, X: np.ndarray, features: str,
              center: str) -> np.ndarray:
    """``X`` minus the mean over all frames (every 5th) of each row's animal."""
    if center == "none":
        return X
    out = X.copy()
    frames = r.frames
    for animal, idx in rows.groupby("animal").indices.items():
        every = frames[frames["animal"] == animal].iloc[::5]
        m = (every[[f"sim_{p}" for p in r.prototype_names]].to_numpy(dtype=np.float64)
             if features == "similarity" else _hog(r, every))
        out[idx] -= np.nanmean(m, axis=0)
    return out


def trial_samples(
    results: str | Path | Results, features: str = "hog", conditions: list[str] | None = None,
    neutral: bool = False, center: str = "none",
) -> tuple[np.ndarray, pd.DataFrame]:
    """Trial-level samples, as :func:`classify` with ``level="trial"`` uses them.

    With ``neutral``: the mean feature vector of every stimulus window and every baseline
    window; without: one vector per trial, stimulus mean minus baseline mean (HOG) or the
    cross-fitted ``score_<p>`` of ``trials.csv`` (similarity).

    Returns
    -------
    X : ndarray, shape (n_samples, n_features)
    ids : DataFrame
        ``session``, ``animal``, ``event``, ``part`` (``stimulus``/``baseline``) and ``label``
        (the trial's condition, or ``neutral`` for baseline windows) of each sample.
    """
    r = _results(results)
    _check(features, ("hog", "similarity"), "features")
    _check(center, CENTER, "center")
    trials = r.trials
    if conditions:
        trials = trials[trials["trial_type"].astype(str).isin(conditions)]
    info = trials.set_index("event")
    if features == "similarity" and not neutral:
        cols = [f"score_{p}" for p in r.prototype_names if f"score_{p}" in trials.columns]
        if not cols:
            raise InputError("trials.csv has no score_<prototype> columns",
                             r.layout.trials)
        X = _center_rows(trials[cols].to_numpy(dtype=np.float64), trials["animal"], center)
        ids = trials[["session", "animal", "event"]].assign(
            part="stimulus", label=trials["trial_type"].astype(str)).reset_index(drop=True)
        return X, ids
    rows = labelled_frames(r, conditions=conditions, neutral=True)
    X = _centered(r, rows, _frame_features(r, rows, features), features, center)
    event, part = rows["event"].to_numpy(), rows["part"].to_numpy()
    if neutral:
        X, events, parts = _classify.window_features(X, event, part)
    else:
        X, events = _classify.trial_features(X, event, part)
        parts = np.full(len(events), "stimulus")
    kinds = info.loc[events, "trial_type"].astype(str).to_numpy()
    ids = pd.DataFrame({"session": info.loc[events, "session"].to_numpy(),
                        "animal": info.loc[events, "animal"].to_numpy(),
                        "event": events, "part": parts,
                        "label": np.where(parts == "baseline", NEUTRAL, kinds)})
    return X, ids


def _center_rows(X: np.ndarray, animal: pd.Series, center: str) -> np.ndarray:
    if center == "none":
        return X
    out = X.copy()
    for _, idx in animal.reset_index(drop=True).groupby(animal.to_numpy()).indices.items():
        out[idx] -= np.nanmean(X[idx], axis=0)
    return out


# ---------------------------------------------------------------------------- embed


@_threads
@logs_warnings("analysis")
def embed(
    results: str | Path | Results, *, features: str = "hog", method: str = "tsne",
    max_frames: int = 1500, per_animal: bool = True, n_pca: int = 100,
    perplexity: float = 30.0, random_state: int = 0, write: bool = True,
    n_jobs: int | None = -1,
) -> pd.DataFrame:
    """PCA then t-SNE (or UMAP) of window frames, pooled and per animal.

    Frames of baseline (``neutral``) and stimulus windows are subsampled to at most
    ``max_frames`` per embedding, shared evenly among conditions
    (:func:`mouseface.expressions.embed.subsample`). The embeddings are computed side by side
    on ``n_jobs`` threads (-1: every core), each as it would be alone.

    Returns
    -------
    DataFrame
        ``embedding.csv``: ``scope`` (``pooled`` or the animal), ``session``, ``animal``,
        ``frame``, ``time``, ``event``, ``label`` (condition or ``neutral``), ``method``,
        ``features``, ``x``, ``y``.
    """
    r = _results(results)
    _check(features, ("hog", "similarity"), "features")
    _check(method, _embed.METHODS, "method")
    rows = labelled_frames(r)
    scopes = [("pooled", np.arange(len(rows)))]
    if per_animal and rows["animal"].nunique() > 1:
        scopes += [(str(a), idx) for a, idx in rows.groupby("animal").indices.items()]
    subs, jobs = [], []
    for _, idx in scopes:
        pick = idx[_embed.subsample(rows["label"].to_numpy()[idx], max_frames,
                                    random_state=random_state)]
        subs.append(rows.iloc[pick])
        jobs.append(functools.partial(_embedded, _frame_features(r, subs[-1], features),
                                      method=method, n_pca=n_pca, perplexity=perplexity,
                                      random_state=random_state))
    parts = []
    for (scope, _), sub, xy in zip(scopes, subs, side_by_side(jobs, n_jobs), strict=True):
        if isinstance(xy, ImportError):
            raise InputError(str(xy)) from None
        if isinstance(xy, ValueError):
            raise InputError(f"cannot embed {scope}: {xy}", r.path) from None
        parts.append(sub[["session", "animal", "frame", "time", "event", "label"]].assign(
            scope=scope, method=method, features=features, x=xy[:, 0], y=xy[:, 1]))
    out = pd.concat(parts, ignore_index=True)[
        ["scope", "session", "animal", "frame", "time", "event", "label", "method", "features",
         "x", "y"]]
    if write:
        files = [_write_csv(out, r.layout.embedding)]
        name = method.upper() if method == "umap" else "t-SNE"
        files += figures.embedding_figure(out, r.layout.embedding_figure, method=name,
                                          title=f"{name} of {features} (PCA {n_pca})")
        out.attrs["files"] = [str(f) for f in files]
    return out


def _embedded(X: np.ndarray, **kwargs) -> np.ndarray | ImportError | ValueError:
    """:func:`mouseface.expressions.embed.embed`, or the error it raised (for the caller to
    report as the scope's, in the scopes' order)."""
    try:
        return _embed.embed(X, **kwargs)
    except (ImportError, ValueError) as exc:
        return exc


# ---------------------------------------------------------------------------- cluster


@_threads
@logs_warnings("analysis")
def cluster(
    results: str | Path | Results, *, features: str = "hog", per_animal: bool = True,
    max_frames: int = 1000, n_clusters: int | None = None, write: bool = True,
) -> dict[str, Any]:
    """Frame x frame correlation, complete-linkage clustering, purity against conditions.

    Clusters the window frames (baseline: ``neutral``; stimulus: the condition) of each
    animal (``per_animal``, the paper's view) or of all animals together, at most
    ``max_frames`` frames each, evenly spaced in time.

    Returns
    -------
    dict
        ``clustering.json``: ``features``, ``max_frames``, and ``scopes``: one entry per
        animal (or ``pooled``) with ``n_frames``, ``n_clusters``, ``purity`` (fraction of
        frames whose condition is their cluster's most common one; chance is the largest
        class fraction, given as ``majority_fraction``), ``adjusted_rand`` (0 at chance, 1 for
        a perfect match) and ``composition`` (cluster -> condition -> frames).
    """
    r = _results(results)
    _check(features, ("hog", "similarity"), "features")
    rows = labelled_frames(r)
    scopes = ([(str(a), idx) for a, idx in rows.groupby("animal").indices.items()]
              if per_animal else [("pooled", np.arange(len(rows)))])
    summary, panels, tables = [], [], []
    for scope, idx in scopes:
        sub = rows.iloc[idx]
        X = _frame_features(r, sub, features)
        labels = sub["label"].to_numpy().astype(str)
        try:
            c = _cluster.cluster_frames(X, labels, n_clusters=n_clusters,
                                        max_frames=max_frames)
        except ValueError as exc:
            raise InputError(f"cannot cluster {scope}: {exc}", r.path) from None
        lab = labels[c.index]
        comp = pd.crosstab(c.clusters, lab)
        _, counts = np.unique(lab, return_counts=True)
        summary.append({"scope": scope, "n_frames": len(c.index),
                        "n_clusters": int(len(np.unique(c.clusters))),
                        "purity": c.purity, "majority_fraction": float(counts.max() / len(lab)),
                        "adjusted_rand": c.adjusted_rand,
                        "composition": {str(k): {str(n): int(v) for n, v in row.items() if v}
                                        for k, row in comp.iterrows()}})
        position = np.empty(len(c.index), dtype=int)
        position[c.order] = np.arange(len(c.index))
        tables.append(sub.iloc[c.index][["session", "animal", "frame", "time", "event",
                                         "label"]].assign(scope=scope, cluster=c.clusters,
                                                          leaf_position=position))
        panels.append({"title": scope, "corr": c.corr, "labels": lab[c.order],
                       "purity": c.purity})
    out = {"features": features, "max_frames": max_frames, "method": "complete linkage, "
           "correlation distance, optimal leaf ordering", "scopes": summary}
    if write:
        lay = r.layout
        files = [lay.clustering, _write_csv(pd.concat(tables, ignore_index=True), lay.clusters)]
        files += figures.cluster_figure(panels, lay.clustering_figure,
                                        title=f"frame x frame correlation of {features}")
        out["files"] = [str(f) for f in files]
        write_json(lay.clustering, out)
    return out


# ---------------------------------------------------------------------------- trial metrics


@_threads
@logs_warnings("analysis")
def trial_metrics(
    results: str | Path | Results, *, normalize: bool = False, k: float = 10.0,
    post: float = 10.0, noise_sd: float = 2.0, smooth: float = 0.25, write: bool = True,
) -> pd.DataFrame:
    """Intensity, latency, persistence, decay and valence of every trial and prototype.

    See :func:`mouseface.expressions.metrics.trial_metrics` for the definitions and the
    columns. Written to ``trial_metrics.csv`` (``trial_metrics_normalized.csv`` with
    ``normalize``) with a figure of the own-prototype metrics per condition.
    """
    r = _results(results)
    m = _metrics.trial_metrics(r.frames, r.trials, baseline=r.baseline, post=post,
                               noise_sd=noise_sd, smooth=smooth, normalize=normalize, k=k)
    if write:
        files = [_write_csv(m, r.layout.trial_metrics(normalize))]
        if m["own"].any():
            files += figures.metrics_figure(m, r.layout.trial_metrics_figure(normalize),
                                            title="own-prototype trial metrics"
                                            + (" (normalised)" if normalize else ""))
        m.attrs["files"] = [str(f) for f in files]
    return m


# ---------------------------------------------------------------------------- dose


@_threads
@logs_warnings("analysis")
def dose(
    results: str | Path | Results, column: str, prototype: str | None = None, *,
    score: str = "score", conditions: list[str] | None = None, n_boot: int = 2000,
    ci: float = 0.95, random_state: int = 0, write: bool = True,
) -> pd.DataFrame:
    """Trial score against a numeric events column: Spearman, bootstrap CI, isotonic fit.

    See :func:`mouseface.expressions.dose.dose_table`; without ``prototype`` each condition is
    scored with its own prototype. Written to ``dose_<column>.csv`` (list columns ``doses``,
    ``fitted``, ``mean_score`` as JSON arrays) and ``dose_<column>.png/.svg``.
    """
    r = _results(results)
    trials = r.trials
    _check(score, ("score", "peak"), "score")
    try:
        table = _dose.dose_table(trials, column, prototype, score=score, conditions=conditions,
                                 n_boot=n_boot, ci=ci, random_state=random_state)
    except (KeyError, ValueError) as exc:
        raise InputError(str(exc).strip("'\""), r.layout.trials) from None
    if write:
        flat = table.copy()
        for c in ("doses", "fitted", "mean_score"):
            flat[c] = flat[c].map(json.dumps)
        files = [_write_csv(flat, r.layout.dose(column))]
        points = []
        for proto in table["prototype"].unique():
            mask = (trials["trial_type"].astype(str) == proto) if prototype is None else (
                trials["trial_type"].astype(str).isin(conditions) if conditions
                else pd.Series(True, index=trials.index))
            t = trials[mask]
            points.append(pd.DataFrame({"prototype": proto, "animal": t["animal"],
                                        "dose": pd.to_numeric(t[column], errors="coerce"),
                                        "score": t[f"{score}_{proto}"]}))
        files += figures.dose_figure(pd.concat(points, ignore_index=True), table,
                                     r.layout.dose_figure(column),
                                     title=f"dose-response: {score} against {column}")
        table.attrs["files"] = [str(f) for f in files]
    return table


# ---------------------------------------------------------------------------- stats


@_threads
@logs_warnings("analysis")
def stats(
    results: str | Path | Results, *, correction: str = "holm", score: str = "score",
    unit: str = "trial", alpha: float = 0.05, write: bool = True,
) -> pd.DataFrame:
    """Each condition against baseline for every prototype (Wilcoxon, effect size, Holm/BH).

    See :func:`mouseface.expressions.stats.condition_vs_baseline` for the columns of
    ``stats.csv``.
    """
    r = _results(results)
    _check(correction, _stats.CORRECTIONS, "correction")
    _check(unit, ("trial", "animal"), "unit")
    _check(score, ("score", "peak"), "score")
    try:
        table = _stats.condition_vs_baseline(r.trials, score=score, correction=correction,
                                             alpha=alpha, unit=unit)
    except KeyError as exc:
        raise InputError(str(exc).strip("'\""), r.layout.trials) from None
    if write:
        table.attrs["files"] = [str(_write_csv(table, r.layout.stats))]
    return table


# ---------------------------------------------------------------------------- everything


def numeric_event_columns(trials: pd.DataFrame) -> list[str]:
    """The events' own numeric columns that vary (candidates for dose–response)."""
    skip = {"onset", "duration", "event", "trial"}  # ids and times, not doses
    out = []
    own = set(event_columns(trials))
    for c in trials.columns:
        if c in skip or c not in own:
            continue
        v = pd.to_numeric(trials[c], errors="coerce")
        if v.notna().all() and v.nunique() > 1 and trials[c].dtype.kind in "iuf":
            out.append(c)
    return out


@_threads
@logs_warnings("analysis")
def analyze(
    results: str | Path | Results, *, features: str | None = None, split: str = "trial",
    classifier: str = "rf", n_permutations: int = 20, normalize: bool = False,
    quick: bool = False, quiet: bool = True, n_jobs: int | None = -1,
) -> dict[str, Any]:
    """Run every analysis with its defaults; a failing one is recorded and the rest go on.

    ``features`` defaults to ``hog`` when the folder has ``features/``, else ``similarity``.
    Dose–response runs for every numeric events column that varies (e.g. ``intensity``),
    each condition against its own prototype. The frame-level random forest with permutations
    dominates the time: each permutation costs as much as the real cross-validation. ``quick``
    classifies every 6th frame's similarity traces (unless ``features`` is given) with logistic
    regression (a few seconds where the forest over HOG takes minutes), keeps the
    ``n_permutations`` that make its chance level, and embeds and clusters 200 frames per
    scope. Unless ``quiet``, a bar names the analysis running. ``n_jobs``: as for
    :func:`classify`. Writes ``summary.json`` (per analysis: ``ok``, the headline numbers or
    the ``error``).
    """
    r = _results(results)
    if features is None:
        features = ("similarity" if quick or not r.layout.features.is_dir() else "hog")
    scale = {"max_frames": 200} if quick else {}
    perms = n_permutations
    step = 6 if quick else 2
    if quick:
        classifier = "logreg"
    summary: dict[str, Any] = {"features": features}
    jobs = {
        "classify": lambda: _headline(classify(r, features=features, split=split,
                                               classifier=classifier, n_permutations=perms,
                                               step=step, n_jobs=n_jobs)),
        "embed": lambda: {"frames": len(embed(r, features=features, n_jobs=n_jobs,
                                              **scale))},
        "cluster": lambda: {s["scope"]: round(s["purity"], 3) for s in cluster(
            r, features=features, **scale)["scopes"]},
        "trial_metrics": lambda: {"rows": len(trial_metrics(r, normalize=normalize))},
        "stats": lambda: {"significant": int(stats(r)["significant"].sum())},
    }
    for column in numeric_event_columns(r.trials):
        jobs[f"dose_{column}"] = lambda c=column: {
            row.prototype: round(row.rho, 3) for row in dose(r, c).itertuples()
            if row.scope == "pooled"}
    with Reporter(quiet).steps("analyses", len(jobs)) as starting:
        for name, job in jobs.items():
            starting(name)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    summary[name] = {"ok": True, **job()}
            except InputError as exc:
                summary[name] = {"ok": False, "error": str(exc)}
    summary["files"] = [str(r.layout.analysis_summary)]
    write_json(r.layout.analysis_summary, summary)
    return summary


def _headline(res: dict) -> dict:
    return {"balanced_accuracy": round(res["balanced_accuracy"], 3),
            "chance": round(res["chance"].get("balanced_accuracy_mean",
                                              res["chance"]["uniform"]), 3)}


__all__ = ["CENTER", "FEATURES", "LEVELS", "analyze", "classify", "cluster", "dose", "embed",
           "labelled_frames", "numeric_event_columns", "stats", "trial_metrics",
           "trial_samples"]
