"""The neural-correlates analysis of a results folder: what ``mouseface neural`` runs.

It reads a results folder (``mouseface run`` wrote it) and neural traces of one or several of
its sessions (the same neurons in each), puts both on the video's clock
(:mod:`mouseface.neural.sync`), correlates every neuron with every expression trace against a
shift null (:mod:`mouseface.neural.encoding`, default: the linear-shift test on high-passed
signals), controls for the face's movement (:mod:`mouseface.neural.movement`), computes
trial-locked responses (:mod:`mouseface.neural.psth`) and population decoding of the trial
condition (:mod:`mouseface.neural.decoding`), and draws the figures
(:mod:`mouseface.report.neural_figures`)::

    from mouseface.workflows.neural import neural_correlates
    summary = neural_correlates("results", "suite2p/plane0", offset=2.5)
    summary["counts"]["tracking"], summary["decoding"]["balanced_accuracy"]

Several sessions of one animal (the same field of view imaged during sessions of different
conditions) are analysed together: either one suite2p folder in which suite2p registered the
recordings together (``frames_per_folder`` in ``ops.npy``), or one traces file per session
with the same neuron ids. Each session stays on its own clock; the null shifts each session
independently.

Files written (in ``DIR/neural`` unless ``out`` says otherwise):

==========================  =================================================================
``neurons.csv``             one row per neuron × expression (see
                            :meth:`~mouseface.neural.encoding.Encoding.to_frame` and
                            :meth:`~mouseface.neural.movement.MovementControl.columns`)
``neural_summary.json``     the null used and its smallest p, neuron counts per expression and
                            per movement category, decoding accuracy vs chance, overlap,
                            settings, every warning
``correlations.png/.svg``   neurons × expressions r, plain and after movement, sorted by
                            preferred expression, with each neuron's movement category
``movement.png/.svg``       unique variance of expressions vs movement, neurons per category
``examples.png/.svg``       expression traces and movement above the neurons that track them
``psth.png/.svg``           trial-averaged responses per condition (when there are trials)
==========================  =================================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.io.layout import NeuralFiles
from mouseface.io.neural import NeuralTraces, guess_kind, read_traces
from mouseface.io.results import Results
from mouseface.neural.decoding import decode_conditions
from mouseface.neural.encoding import DEFAULT_HIGHPASS, encode
from mouseface.neural.movement import hog_motion, movement_control, trial_blocks
from mouseface.neural.psth import psth
from mouseface.neural.sync import Aligned, align
from mouseface.report import neural_figures as figures
from mouseface.runlog import logs_warnings

#: The steps ``progress`` is called with, in order.
STEPS = ("reading traces", "aligning", "encoding", "movement control", "trial responses",
         "decoding", "figures")

#: calcium kernel (s) the expression traces go through when the traces are ΔF/F
DEFAULT_TAU = 0.7

NULL_DESCRIPTIONS = {
    "linear": "linear-shift test (Harris 2020) on signals high-passed at {highpass:g} s: the "
              "neuron's central frames stay fixed, the expression is shifted by every lag up to "
              "{max_shift} either way{independent}; p = rank of the unshifted |r| among all "
              "lags",
    "circular": "circular-shift test: the neuron is rotated against the expression by random "
                "shifts of at least {min_shift:g} s; not valid for trending or drifting traces "
                "(kept for comparison)",
}


def _sessions(res: Results, session: str | list[str] | None) -> list[str]:
    known = list(dict.fromkeys(res.frames["session"]))
    if session is None:
        if len(known) != 1:
            raise InputError(f"{len(known)} sessions in the results; name one with --session "
                             f"({', '.join(known[:6])}{', …' if len(known) > 6 else ''})",
                             res.layout.frames)
        return known
    wanted = [session] if isinstance(session, str) else list(session)
    for s in wanted:
        if s not in known:
            raise InputError(f"no session {s!r} in the results ({', '.join(known[:6])})",
                             res.layout.frames)
    if len(set(wanted)) != len(wanted):
        raise InputError(f"a session is named twice: {', '.join(wanted)}", res.layout.frames)
    return wanted


def _read(traces: str | Path | list, sessions: list[str], kind: str | None,
          deconvolved: bool, neuropil: float) -> list[NeuralTraces]:
    """One NeuralTraces per session: one file per session, or one split by frames_per_folder."""
    paths = [traces] if isinstance(traces, str | Path) else list(traces)

    def one(path) -> NeuralTraces:
        k = kind or guess_kind(path)
        options = {"neuropil": neuropil} if k == "suite2p" else {}
        return read_traces(path, k, deconvolved=deconvolved, **options)

    if len(paths) == len(sessions):
        out = [one(p) for p in paths]
        ref = out[0].neuron
        for i in range(1, len(out)):
            nt = out[i]
            if nt.n_neurons != ref.size or not np.array_equal(np.sort(nt.neuron.astype(str)),
                                                               np.sort(ref.astype(str))):
                raise InputError(f"its {nt.n_neurons} neurons are not the {ref.size} of "
                                 f"{paths[0]}: every session needs the same neuron ids",
                                 paths[i])
            order = pd.Index(nt.neuron.astype(str)).get_indexer(ref.astype(str))
            out[i] = nt.replace(traces=nt.traces[order], neuron=ref)
        return out
    if len(paths) == 1:
        nt = one(paths[0])
        counts = nt.attrs.get("frames_per_folder")
        if counts is None or len(counts) != len(sessions):
            have = f"{len(counts)} recordings" if counts else "one recording"
            raise InputError(f"{len(sessions)} sessions but the traces hold {have}; give one "
                             "traces file per session (same neurons), or a suite2p folder whose "
                             "ops.npy frames_per_folder has one entry per session", paths[0])
        edges = np.concatenate([[0], np.cumsum(counts)])
        dt = 1.0 / nt.rate
        return [nt.replace(traces=nt.traces[:, a:b], time=np.arange(b - a) * dt,
                           attrs={"recording": i})
                for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))]
    raise InputError(f"{len(paths)} traces files for {len(sessions)} sessions; give one per "
                     "session, or one holding them all", paths[0])


def _action_unit_columns(res: Results, action_units: bool) -> list[str]:
    """The ``au_<name>`` columns of ``frames.parquet`` tested beside the expressions."""
    if not action_units:
        return []
    cols = [c for c in res.frames.columns if c.startswith("au_")
            and np.isfinite(res.frames[c].to_numpy(np.float64)).any()]
    if not cols:
        raise InputError("no action units (au_ columns) in frames.parquet: run `mouseface "
                         "run` with --poses first", res.layout.frames)
    return cols


def _action_unit_traces(frames: pd.DataFrame, cols: list[str], session: str,
                        path: Path) -> np.ndarray:
    """(action units, frames) traces of one session, frames whose keypoints were lost
    filled by linear interpolation in time (a NaN in any trace would drop the frame from every
    test)."""
    t = frames["time"].to_numpy(np.float64)
    out = []
    for c in cols:
        v = frames[c].to_numpy(np.float64)
        ok = np.isfinite(v)
        if not ok.any():
            raise InputError(f"session {session!r} has no {c} (no poses for it, or its "
                             "keypoints lack that action unit's points): analyse it without "
                             "--action-units", path)
        out.append(v if ok.all() else np.interp(t, t[ok], v[ok]))
    return np.vstack(out)


def _movement_columns(frames: pd.DataFrame) -> list[str]:
    """``motion_energy`` first, then every ``motion_<region>`` column."""
    cols = [c for c in frames.columns if c.startswith("motion_")]
    return sorted(cols, key=lambda c: (c != "motion_energy", c))


def _first_frame_filled(v: np.ndarray) -> np.ndarray:
    """A movement energy with its first frame filled from the next: a difference of
    consecutive frames has none at a session's first frame, and without it every session
    would lose that frame from the tests, with a warning the user can do nothing about."""
    if len(v) > 1 and not np.isfinite(v[0]) and np.isfinite(v[1]):
        v = v.copy()
        v[0] = v[1]
    return v


def _movement_names(res: Results, movement: bool | Sequence[str]) -> list[str]:
    """The movement columns of ``frames.parquet`` the control uses (see ``movement``)."""
    if isinstance(movement, bool):
        return _movement_columns(res.frames) if movement else []
    names = list(movement)
    missing = [c for c in names if c not in res.frames.columns]
    if missing:
        have = ", ".join(_movement_columns(res.frames)) or "none"
        raise InputError(f"no movement column {', '.join(missing)} (it has: {have})",
                         res.layout.frames)
    return names


@logs_warnings("neural")
def neural_correlates(
    results: str | Path,
    traces: str | Path | list[str | Path],
    *,
    kind: str | None = None,
    session: str | list[str] | None = None,
    rate: float | None = None,
    offset: float | list[float] = 0.0,
    deconvolved: bool = False,
    null: str = "linear",
    n_shifts: int | None = None,
    min_shift: float = 10.0,
    max_shift: float | None = None,
    highpass: float | None = None,
    tau: float | None = None,
    movement: bool | Sequence[str] = True,
    hog_components: int = 0,
    action_units: bool = False,
    alpha: float = 0.05,
    neuropil: float = 0.7,
    pre: float = 2.0,
    post: float = 6.0,
    n_permutations: int = 100,
    seed: int = 0,
    out: str | Path | None = None,
    draw: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Find the neurons that track each expression, beyond movement; write tables and figures.

    Parameters
    ----------
    results
        Results folder of ``mouseface run``/``score``.
    traces
        Neural traces: a suite2p folder, an NWB file or a table (see
        :func:`mouseface.io.neural.read_traces`); or a list of them, one per session.
    kind
        ``suite2p``, ``nwb`` or ``table`` (default: guessed from the path).
    session
        Which session(s) of the results the imaging belongs to (needed when there are several
        in the results). Several sessions: the same neurons imaged in each (see the module).
    rate
        Imaging rate (Hz) overriding the file's timestamps.
    offset
        Video time (s) at which the imaging clock reads zero; one per session, or one for all.
    deconvolved
        Use the deconvolved activity (suite2p ``spks.npy``, an NWB deconvolved series) instead
        of ΔF/F.
    null, n_shifts, min_shift, max_shift, highpass, alpha, seed
        See :func:`mouseface.neural.encoding.encode` (default: the linear-shift null with a
        60-s high-pass).
    tau
        Calcium kernel (s) for the expression traces; default 0.7 s (GCaMP6s-like) for ΔF/F
        and none for deconvolved activity; 0: none.
    movement
        Control for the face's movement (``motion_energy`` and ``motion_<region>`` columns of
        ``frames.parquet``, plus ``hog_components``). True: every such column measured in
        all the sessions (a region filmed in only some is left out, with a warning); a list:
        these columns (e.g. ``["motion_energy"]`` when the body is filmed in one session
        only, on purpose); False: no control.
    hog_components
        Low-rank motion components of the HOG features to add as movement regressors (0: none).
    action_units
        Test the facial action units (the ``au_<name>`` columns ``run --poses`` wrote) like
        the expression traces, beside them: each is one more trace named ``au_<name>``
        (frames whose keypoints were lost are interpolated in time).
    neuropil
        suite2p neuropil coefficient.
    pre, post
        Seconds around each onset for the trial-locked responses.
    n_permutations
        Label shuffles for the decoding chance level.
    out
        Output folder (default ``results/neural``).
    draw
        Write the figures.
    progress
        Called with the name of each step (:data:`STEPS`) as it starts.

    Returns
    -------
    dict
        What ``neural_summary.json`` holds, plus ``files``. Its warnings also go to the
        folder's ``run.json`` (the report's Warnings section).
    """
    step = progress or (lambda name: None)
    res = Results(results)
    sessions = _sessions(res, session)
    paths = NeuralFiles(out) if out is not None else res.layout.neural_files
    offsets = [float(offset)] * len(sessions) if np.isscalar(offset) else list(offset)
    if len(offsets) != len(sessions):
        raise InputError(f"{len(offsets)} offsets for {len(sessions)} sessions")
    names = res.prototype_names
    au_cols = _action_unit_columns(res, action_units)
    if tau is None:
        tau = None if deconvolved else DEFAULT_TAU
    tau = tau or None

    caught: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        step(STEPS[0])
        per = _read(traces, sessions, kind, deconvolved, neuropil)
        step(STEPS[1])
        motion_names = _movement_names(res, movement)
        aligned, motion, trials, folds, bases = [], [], [], [], []
        base = 0.0
        for s, nt, off in zip(sessions, per, offsets, strict=True):
            frames = res.frames[res.frames["session"] == s]
            video_time = frames["time"].to_numpy(np.float64)
            sims = frames[[f"sim_{n}" for n in names]].to_numpy(np.float64).T
            if au_cols:
                sims = np.vstack([sims, _action_unit_traces(frames, au_cols, s,
                                                            res.layout.frames)])
            a = align(nt, video_time, sims, [*names, *au_cols], rate=rate, offset=off)
            aligned.append(a)
            # a region measured in this session (body, wheel: not every session films them)
            rows = {c: _first_frame_filled(v) for c in motion_names
                    if np.isfinite(v := frames[c].to_numpy(np.float64)).any()}
            if movement and hog_components:
                comps = _hog_components(res, s, hog_components)
                if comps is not None:
                    store_time, values = comps
                    rows.update({f"hog_motion_{k + 1}": np.interp(video_time, store_time, v)
                                 for k, v in enumerate(values)})
            if rows:
                with warnings.catch_warnings():  # the same overlap was reported just above
                    warnings.simplefilter("ignore", UserWarning)
                    m = align(nt, video_time, np.vstack(list(rows.values())), list(rows),
                              rate=rate, offset=off).expressions
                motion.append(dict(zip(rows, m, strict=True)))
            t = res.trials[res.trials["session"] == s].copy()
            folds.append(trial_blocks(a.traces.n_frames, a.time, t["onset"].to_numpy()))
            shift = base - float(a.time[0])
            t["onset"] = t["onset"] + shift
            trials.append(t)
            bases.append(shift)
            base = float(a.time[-1]) + shift + 1.0 / a.fs + pre + post + res.baseline + 10.0
        if movement and not motion_names and not hog_components:
            warnings.warn("frames.parquet has no motion_energy or motion_<region> column: no "
                          "movement control (re-run `mouseface run` to get them)",
                          UserWarning, stacklevel=2)
        movement_names = ([k for k in motion[0] if all(k in d for d in motion)]
                          if len(motion) == len(sessions) else [])
        partial = sorted(set().union(*motion) - set(movement_names))
        if partial:
            warnings.warn(f"{', '.join(partial)} measured in only some of the sessions: left "
                          "out of the movement control (it needs every session's; analyse "
                          "those sessions on their own to control for them)", UserWarning,
                          stacklevel=2)
        motion = [np.vstack([d[k] for k in movement_names]) for d in motion] \
            if movement_names else []
        x = np.concatenate([a.traces.traces for a in aligned], axis=1)
        y = np.concatenate([a.expressions for a in aligned], axis=1)
        time = np.concatenate([a.time + b for a, b in zip(aligned, bases, strict=True)])
        segments = [a.traces.n_frames for a in aligned]
        fs = float(np.median([a.fs for a in aligned]))
        neuron = aligned[0].traces.neuron
        kw = {"fs": fs, "null": null, "n_shifts": n_shifts, "min_shift": min_shift,
              "max_shift": max_shift, "highpass": highpass,
              "segments": segments if len(segments) > 1 else None, "tau": tau,
              "alpha": alpha, "seed": seed}
        step(STEPS[2])
        enc = encode(x, y, names=[*names, *au_cols], neuron=neuron, **kw)
        control = None
        if motion:
            step(STEPS[3])
            m = np.concatenate(motion, axis=1)
            control = movement_control(enc, x, y, m, movement_names=movement_names,
                                       folds=np.concatenate(folds), **kw)
        all_trials = pd.concat(trials, ignore_index=True)
        step(STEPS[4])
        resp = psth(x, time, all_trials, pre=pre, post=post)
        step(STEPS[5])
        decoding = decode_conditions(x, time, all_trials, baseline=res.baseline,
                                     n_permutations=n_permutations, seed=seed)
    for w in rec:  # each once: the movement tests repeat the NaN counts of the plain one
        if str(w.message) not in caught:
            caught.append(str(w.message))
            warnings.warn(str(w.message), w.category, stacklevel=2)

    step(STEPS[6])
    files = [paths.neurons]
    table = enc.to_frame()
    if control is not None:
        table = pd.concat([table, control.columns()], axis=1)
    with atomic_path(files[0]) as tmp:
        table.to_csv(tmp, index=False)
    counts = enc.counts()
    if draw:
        order, groups = figures.neuron_order(enc)
        files += figures.correlation_matrix_figure(enc, paths.correlations_figure,
                                                   control=control)
        if control is not None:
            files += figures.movement_figure(control, paths.movement_figure)
        view, moved = _concatenated(aligned, bases, motion)
        files += figures.example_traces_figure(
            view, enc, paths.examples_figure, movement=moved,
            movement_name=movement_names[0] if motion else None,
            xlabel=("time from the first video frame (s)" if len(sessions) == 1 else
                    f"time (s), sessions {', '.join(sessions)} one after another"))
        files += figures.psth_figure(resp, paths.psth_figure, order=order, groups=groups) or []
    summary = _summary(enc, control, sessions, per, aligned, decoding, resp, caught, counts,
                       fs=fs, tau=tau, rate=rate, offsets=offsets, neuropil=neuropil,
                       pre=pre, post=post)
    summary["files"] = [str(p) for p in [*files, paths.summary]]
    write_json(paths.summary, summary)
    return summary


def _hog_components(res: Results, session: str, k: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(video times, (k, frames) HOG motion components), or None with a warning."""
    path = res.layout.store(session)
    if not path.exists():
        warnings.warn(f"no HOG features for session {session!r} ({path}): no HOG motion "
                      "components", UserWarning, stacklevel=3)
        return None
    store = res.store(session)
    return store.time, hog_motion(store.iter_blocks, k)


def _concatenated(aligned: list[Aligned], bases: list[float],
                  motion: list[np.ndarray]) -> tuple[Aligned, np.ndarray | None]:
    """The sessions as one Aligned on the concatenated time axis, for the example figure: a
    NaN frame between sessions so that no line joins one session to the next. Also the first
    movement regressor on the same frames (None without movement)."""
    if len(aligned) == 1:
        return aligned[0], (motion[0][0] if motion else None)
    gap = [np.full((a.traces.n_neurons, 1), np.nan) for a in aligned]
    xs, ys, ts, ms = [], [], [], []
    for k, (a, b) in enumerate(zip(aligned, bases, strict=True)):
        xs += [a.traces.traces, gap[k]]
        ys += [a.expressions, np.full((a.expressions.shape[0], 1), np.nan)]
        ts += [a.time + b, [a.time[-1] + b + 0.5 / a.fs]]
        if motion:
            ms += [motion[k][0], [np.nan]]
    nt = aligned[0].traces.replace(traces=np.hstack(xs)[:, :-1],
                                   time=np.concatenate(ts)[:-1])
    return (Aligned(nt, np.hstack(ys)[:, :-1], aligned[0].names, {}),
            np.concatenate(ms)[:-1] if motion else None)


def _summary(enc, control, sessions, per, aligned, decoding, resp, caught, counts, *,
             fs, tau, rate, offsets, neuropil, pre, post) -> dict[str, Any]:
    p = enc.params
    overlap = {"seconds": float(sum(a.overlap["seconds"] for a in aligned)),
               "n_frames": int(sum(a.overlap["n_frames"] for a in aligned)),
               "n_dropped": int(sum(a.overlap["n_dropped"] for a in aligned)),
               "sessions": {s: a.overlap for s, a in zip(sessions, aligned, strict=True)}}
    shifts = p["max_shift"]
    null = {
        "name": p["null"],
        "description": NULL_DESCRIPTIONS[p["null"]].format(
            highpass=p["highpass"] or 0.0, min_shift=p["min_shift"],
            max_shift=("a quarter of each session" if shifts is None or len(set(shifts)) > 1
                       else f"{shifts[0]:.1f} s"),
            independent=(", each session independently (random combinations of lags)"
                         if p["shifts_per_session"] == "independent" else "")),
        "highpass_s": p["highpass"],
        "max_shift_s": shifts,
        "min_shift_s": p["min_shift"] if p["null"] == "circular" else None,
        "n_shifts": p["n_shifts"],
        "shifts_per_session": p["shifts_per_session"],
        "smallest_p": p["p_floor"],
        "pairs_needed_at_smallest_p": p["needed_at_floor"],
        "reference": "Harris KD (2020) Nonsense correlations in neuroscience. bioRxiv "
                     "10.1101/2020.11.29.402719",
    }
    summary: dict[str, Any] = {
        "session": sessions[0] if len(sessions) == 1 else sessions,
        "sessions": sessions,
        "traces": {k: v for k, v in per[0].attrs.items() if k not in ("overlap", "recording")},
        "signal": per[0].attrs.get("signal"),
        "n_neurons": int(enc.r.shape[0]),
        "n_frames": int(p["n_frames"]),
        "segments": p["segments"],
        "imaging_rate": float(fs),
        "expressions": enc.names,
        "null": null,
        "counts": counts,
        "fractions": enc.fractions(),
        "n_significant_pairs": int(enc.significant.sum()),
        "overlap": overlap,
        "decoding": decoding,
        "psth": {"n_trials": resp.n_trials(), "n_dropped": resp.n_dropped, "pre": pre,
                 "post": post},
        "settings": {**p, "rate": rate, "offset": offsets if len(offsets) > 1 else offsets[0],
                     "neuropil": neuropil, "kind": per[0].attrs.get("kind"),
                     "tau": tau},
        "nan_frames_excluded": {"total_neuron_frames": int(enc.n_excluded.sum()),
                                "neurons_affected": int((enc.n_excluded > 0).sum())},
        "warnings": caught,
    }
    if control is not None:
        v = control.variance
        summary["movement"] = {
            "regressors": control.movement_names,
            "tracks": control.counts(),
            "of_tracking": control.tracking(enc),
            "after_movement": {"counts": control.after_movement.counts(),
                               "n_significant_pairs":
                                   int(control.after_movement.significant.sum())},
            "movement_significant_neurons": int(control.movement.significant.any(axis=1).sum()),
            "unique_variance_median": {
                "expressions": float(np.nanmedian(v.unique_expressions)),
                "movement": float(np.nanmedian(v.unique_movement)),
                "full_model_r2": float(np.nanmedian(v.r2_full))},
            "cross_validation": v.params,
        }
    else:
        summary["movement"] = None
    return summary


__all__ = ["DEFAULT_HIGHPASS", "DEFAULT_TAU", "STEPS", "neural_correlates"]
