"""``mouseface demo``: simulate a small experiment and run the whole pipeline on it."""

from __future__ import annotations

import json
import time as _time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import write_json
from mouseface._progress import Reporter
from mouseface.expressions.prototypes import NEUTRAL
from mouseface.io.layout import ResultsLayout
from mouseface.workflows.pipeline import _report, run_results
from mouseface.workflows.settings import load_settings


def trial_accuracy(trials: pd.DataFrame) -> float:
    """Fraction of trials whose top-scoring emotion prototype is their own condition."""
    cols = [c for c in trials.columns if c.startswith("score_") and c != f"score_{NEUTRAL}"]
    if not cols or trials.empty:
        return float("nan")
    top = trials[cols].idxmax(axis=1).str.removeprefix("score_")
    return float((top == trials["trial_type"].astype(str)).mean())


def demo(out: str | Path = "mouseface_demo", *, seed: int = 0, n_animals: int = 4,
         n_trials: int = 6, quiet: bool = False, analyses: bool = True) -> dict[str, Any]:
    """Simulate a small experiment of synthetic faces, run the whole pipeline on it.

    Writes ``out/data`` (videos, tables, ground truth, a simulated suite2p population),
    ``out/results`` (the results folder, with ``analysis/``, ``neural/`` and ``report.html``),
    ``out/states.png`` (one animal's face in every state) and returns a summary.
    """
    from mouseface import synth

    out = Path(out)
    t0 = _time.perf_counter()
    reporter = Reporter(quiet)
    with reporter.live():
        task = reporter.task(f"simulating {n_animals} animals", total=None)
        exp = synth.simulate_experiment(
            out / "data", n_animals=n_animals, n_trials=n_trials, seed=seed,
            on_progress=lambda done, total: task.update(completed=done, total=total))
    t_sim = _time.perf_counter() - t0
    # L1: with 8 bins and 1x1 blocks, L2-Hys clipping flattens the crisp synthetic edges; the
    # ground-truth tests (tests/integration/test_synthetic_truth.py) use the same settings.
    settings = load_settings(hog={"pixels_per_cell": (16, 16), "block_norm": "L1"},
                             prototypes={"baseline": 2.0})
    held = run_results(exp.sessions_path, exp.events_path, out / "results",
                       settings=settings, quiet=quiet, report=False)
    results = held.path
    synth.state_figure(out / "states.png")
    summary: dict[str, Any] = {}
    if analyses:
        from mouseface.workflows.analysis import analyze
        from mouseface.workflows.neural import STEPS, neural_correlates

        summary["analysis"] = analyze(results, quick=True, quiet=quiet)
        suite2p, session = _demo_population(exp, out / "data" / "suite2p", seed)
        with Reporter(quiet).steps("neural", len(STEPS)) as step:
            summary["neural"] = neural_correlates(results, suite2p, session=session,
                                                  n_shifts=None, progress=step)
        summary["neurons_found"] = _neurons_found(
            results, json.loads((suite2p / "truth.json").read_text()))
    held.__dict__.pop("run", None)  # the analyses added warnings to run.json: read it again
    with Reporter(quiet).steps("report", 2) as step:
        report = _report(results, held, progress=step)
    trials = pd.read_csv(ResultsLayout(results).trials)
    own = {c: float(trials.loc[trials.trial_type == c, f"score_{c}"].mean())
           for c in sorted(trials.trial_type.unique())}
    return {"out": str(out), "results": str(results), "report": str(report),
            "states_figure": str(out / "states.png"), "n_trials": len(trials),
            "own_condition_score": own,
            "top_prototype_is_true_condition": trial_accuracy(trials),
            "simulate_s": round(t_sim, 1), "total_s": round(_time.perf_counter() - t0, 1),
            **summary}


def _demo_population(exp, folder: Path, seed: int) -> tuple[Path, str]:
    """A suite2p population for the demo's first session: some neurons follow its expression.

    Imaging runs at 10 Hz on the video clock; 15 of 60 neurons follow the true expression
    intensity of the session's condition (ground truth from the simulation), the rest follow
    nothing. ``truth.json`` beside the suite2p files says which.
    """
    from mouseface.synth.neurons import simulate_population, write_population_suite2p

    truth = exp.truth
    session = str(exp.sessions["session"].iloc[0])
    t = truth[truth["session"] == session]
    state = str(exp.events.loc[exp.events["session"] == session, "trial_type"].iloc[0])
    fs = 10.0
    times = np.arange(0, float(t["time"].max()), 1 / fs)
    intensity = np.interp(times, t["time"], np.where(t["state"] == state, t["intensity"], 0.0))
    coupled = dict.fromkeys(range(0, 60, 4), 0)
    pop = simulate_population(intensity[None], times, 60, coupled, snr=1.0, fs=fs, seed=seed,
                              names=[state])
    write_population_suite2p(pop, folder, seed=seed)
    write_json(folder / "truth.json", {"session": session, "expression": state,
                                       "coupled_neurons": sorted(coupled), "n_neurons": 60,
                                       "snr": 1.0})
    return folder, session


def _neurons_found(results: Path, truth: dict) -> dict[str, float]:
    """Precision and recall of the demo's coupled neurons (significant for their expression)."""
    neurons = pd.read_csv(ResultsLayout(results).neurons)
    hit = neurons[(neurons["expression"] == f"sim_{truth['expression']}")
                  | (neurons["expression"] == truth["expression"])]
    found = set(hit.loc[hit["significant"] & (hit["r"] > 0), "neuron"].astype(int))
    coupled = set(truth["coupled_neurons"])
    return {"found": len(found), "true": len(coupled),
            "precision": len(found & coupled) / max(len(found), 1),
            "recall": len(found & coupled) / len(coupled)}
