"""The neural-correlates analysis of a results folder: what ``mouseface neural`` runs.

It reads a results folder (``mouseface run`` wrote it) and a file of neural traces, puts both on
the video's clock (:mod:`mouseface.neural.sync`), correlates every neuron with every expression
trace against a circular-shift null (:mod:`mouseface.neural.encoding`), computes trial-locked
responses (:mod:`mouseface.neural.psth`) and population decoding of the trial condition
(:mod:`mouseface.neural.decoding`), and draws the figures
(:mod:`mouseface.report.neural_figures`)::

    from mouseface.workflows.neural import neural_correlates
    summary = neural_correlates("results", "suite2p/plane0", offset=2.5)
    summary["fractions"]["per_expression"], summary["decoding"]["balanced_accuracy"]

Files written (in ``DIR/neural`` unless ``out`` says otherwise):

==========================  =================================================================
``neurons.csv``             one row per neuron × expression (see
                            :meth:`~mouseface.neural.encoding.Encoding.to_frame`)
``neural_summary.json``     fractions per expression, mixed selectivity, decoding accuracy vs
                            chance, overlap, settings, warnings
``correlations.png/.svg``   neurons × expressions r, sorted by preferred expression
``examples.png/.svg``       expression traces above the neurons that track them best
``psth.png/.svg``           trial-averaged responses per condition (when there are trials)
==========================  =================================================================
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.io.neural import read_traces
from mouseface.io.results import Results
from mouseface.neural.decoding import decode_conditions
from mouseface.neural.encoding import encode
from mouseface.neural.psth import psth
from mouseface.neural.sync import align
from mouseface.report import neural_figures as figures
from mouseface.workflows.runlog import logs_warnings

#: The steps ``progress`` is called with, in order.
STEPS = ("reading traces", "aligning", "encoding", "trial responses", "decoding", "figures")


def _session(res: Results, session: str | None) -> str:
    sessions = list(dict.fromkeys(res.frames["session"]))
    if session is None:
        if len(sessions) != 1:
            raise InputError(f"{len(sessions)} sessions in the results; name one with --session "
                             f"({', '.join(sessions[:6])}{', …' if len(sessions) > 6 else ''})",
                             res.layout.frames)
        return sessions[0]
    if session not in sessions:
        raise InputError(f"no session {session!r} in the results ({', '.join(sessions[:6])})",
                         res.layout.frames)
    return session


@logs_warnings("neural")
def neural_correlates(
    results: str | Path,
    traces: str | Path,
    *,
    kind: str | None = None,
    session: str | None = None,
    rate: float | None = None,
    offset: float = 0.0,
    n_shifts: int | None = 1000,
    min_shift: float = 10.0,
    tau: float | None = None,
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
    """Find the neurons that track each expression of one session; write tables and figures.

    Parameters
    ----------
    results
        Results folder of ``mouseface run``/``score``.
    traces
        Neural traces: a suite2p folder, an NWB file or a table (see
        :func:`mouseface.io.neural.read_traces`).
    kind
        ``suite2p``, ``nwb`` or ``table`` (default: guessed from the path).
    session
        Which session of the results the imaging belongs to (needed when there are several).
    rate
        Imaging rate (Hz) overriding the file's timestamps.
    offset
        Video time (s) at which the imaging clock reads zero.
    n_shifts, min_shift, tau, alpha, seed
        See :func:`mouseface.neural.encoding.encode`.
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
        What ``neural_summary.json`` holds, plus ``files``.
    """
    res = Results(results)
    session = _session(res, session)
    out = Path(out) if out is not None else res.layout.neural
    names = res.prototype_names
    frames = res.frames[res.frames["session"] == session]
    video_time = frames["time"].to_numpy(np.float64)
    sims = frames[[f"sim_{n}" for n in names]].to_numpy(np.float64).T

    step = progress or (lambda name: None)
    caught: list[str] = []
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        options = {"neuropil": neuropil} if (kind or _kind(traces)) == "suite2p" else {}
        step(STEPS[0])
        nt = read_traces(traces, kind, **options)
        step(STEPS[1])
        aligned = align(nt, video_time, sims, names, rate=rate, offset=offset)
        step(STEPS[2])
        enc = encode(aligned.traces.traces, aligned.expressions, fs=aligned.fs, names=names,
                     neuron=aligned.traces.neuron, n_shifts=n_shifts, min_shift=min_shift,
                     tau=tau, alpha=alpha, seed=seed)
        trials = res.trials[res.trials["session"] == session].reset_index(drop=True)
        step(STEPS[3])
        resp = psth(aligned.traces.traces, aligned.time, trials, pre=pre, post=post)
        step(STEPS[4])
        decoding = decode_conditions(aligned.traces.traces, aligned.time, trials,
                                     baseline=res.baseline, n_permutations=n_permutations,
                                     seed=seed)
    for w in rec:
        caught.append(str(w.message))
        warnings.warn(str(w.message), w.category, stacklevel=2)

    step(STEPS[5])
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "neurons.csv"]
    with atomic_path(files[0]) as tmp:
        enc.to_frame().to_csv(tmp, index=False)
    if draw:
        order, groups = figures.neuron_order(enc)
        files += figures.correlation_matrix_figure(enc, out / "correlations")
        files += figures.example_traces_figure(aligned, enc, out / "examples")
        files += figures.psth_figure(resp, out / "psth", order=order, groups=groups) or []
    fr = enc.fractions()
    summary = {
        "session": session,
        "traces": {k: v for k, v in nt.attrs.items() if k != "overlap"},
        "n_neurons": int(nt.n_neurons),
        "n_frames": int(aligned.traces.n_frames),
        "imaging_rate": float(aligned.fs),
        "expressions": names,
        "overlap": aligned.overlap,
        "fractions": fr,
        "n_significant_pairs": int(enc.significant.sum()),
        "decoding": decoding,
        "psth": {"n_trials": resp.n_trials(), "n_dropped": resp.n_dropped, "pre": pre,
                 "post": post},
        "settings": {**enc.params, "rate": rate, "offset": offset, "neuropil": neuropil,
                     "kind": nt.attrs.get("kind")},
        "nan_frames_excluded": {"total_neuron_frames": int(enc.n_excluded.sum()),
                                "neurons_affected": int((enc.n_excluded > 0).sum())},
        "warnings": caught,
        "files": [str(p) for p in [*files, out / "neural_summary.json"]],
    }
    write_json(out / "neural_summary.json", summary)
    return summary


def _kind(path: str | Path) -> str:
    from mouseface.io.neural import guess_kind

    return guess_kind(path)


__all__ = ["STEPS", "neural_correlates"]
