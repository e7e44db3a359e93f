"""Synthetic expression traces and a tiny results folder for the neural tests.

``bouts(seed, n_expr, seconds, fs)`` gives slow, bursty expression-like traces (a smoothed bout
of a few seconds now and then, plus slow wander), autocorrelated like real similarity traces.
``results_folder(tmp)`` writes frames.parquet, trials.csv and run.json as ``mouseface run``
would, with expression traces that rise during each condition's trials.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.ndimage import gaussian_filter1d


def make_bouts(seed: int, n_expr: int = 4, seconds: float = 600.0, fs: float = 20.0,
               n_bouts: int = 12) -> tuple[np.ndarray, np.ndarray]:
    """(n_expr, T) expression-like traces and their times."""
    rng = np.random.default_rng(seed)
    n = int(seconds * fs)
    out = []
    for _ in range(n_expr):
        d = np.zeros(n)
        for o in rng.choice(n - int(10 * fs), size=n_bouts, replace=False):
            d[o:o + int(rng.uniform(3, 8) * fs)] += 1.0
        out.append(gaussian_filter1d(d, fs) + 0.1 * gaussian_filter1d(rng.normal(size=n),
                                                                        5 * fs))
    return np.array(out), np.arange(n) / fs


@pytest.fixture
def bouts():
    return make_bouts


CONDITIONS = ("pain", "sucrose")


def write_results(out, *, seed: int = 0, fps: float = 20.0, seconds: float = 240.0,
                  n_trials: int = 6, stimulus: float = 4.0, sessions=("s1",),
                  motion: bool = False):
    """A results folder with one animal; returns (path, frames DataFrame, trials DataFrame).

    With ``motion``, frames.parquet gets ``motion_energy`` (whisking bouts plus movement at
    every stimulus onset) and ``motion_body`` (bouts of its own), as ``mouseface run`` writes
    them.
    """
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    frames, trials = [], []
    for session in sessions:
        n = int(seconds * fps)
        t = np.arange(n) / fps
        # jittered intervals and doses, as real designs have them: a strictly periodic design
        # gives a shift null nothing to tell alignment from a shift by one period
        onsets = np.linspace(15.0, seconds - 20.0, 2 * n_trials)
        onsets = onsets + rng.uniform(-0.25, 0.25, onsets.size) * np.diff(onsets)[0]
        kinds = np.array([CONDITIONS[i % 2] for i in range(2 * n_trials)])
        doses = rng.uniform(0.3, 1.0, onsets.size)
        sim = {c: 0.2 + 0.01 * gaussian_filter1d(rng.normal(size=n), 2 * fps)
               for c in ("neutral", *CONDITIONS)}
        window = np.array([""] * n, dtype=object)
        for on, c, dose in zip(onsets, kinds, doses, strict=True):
            inside = (t >= on) & (t < on + stimulus)
            ramp = dose * gaussian_filter1d(inside.astype(float), 0.5 * fps)
            sim[c] = sim[c] + 0.5 * ramp
            sim["neutral"] = sim["neutral"] - 0.3 * ramp
            window[inside] = c
            window[(t >= on - 2) & (t < on)] = "neutral"
        cols = {}
        if motion:
            bouts = gaussian_filter1d((rng.random(n) < 0.3 / fps).astype(float), fps) * fps
            onset = sum(np.exp(-np.clip(t - on, 0, None) / 0.7) * (t >= on) for on in onsets)
            cols = {"motion_energy": (1 + 2 * bouts + onset
                                      + 0.1 * rng.random(n)).astype(np.float32),
                    "motion_body": (1 + 3 * gaussian_filter1d(
                        (rng.random(n) < 0.2 / fps).astype(float), fps) * fps
                        + 0.1 * rng.random(n)).astype(np.float32)}
        frames.append(pd.DataFrame({"session": session, "animal": "m1", "frame": np.arange(n),
                                    "time": t, "window": window, **cols,
                                    **{f"sim_{k}": v.astype(np.float32)
                                       for k, v in sim.items()}}))
        trials.append(pd.DataFrame({"session": session, "onset": onsets,
                                    "duration": stimulus, "trial_type": kinds,
                                    "event": np.arange(len(onsets)),
                                    "trial": np.arange(len(onsets))}))
    frames = pd.concat(frames, ignore_index=True)
    trials = pd.concat(trials, ignore_index=True)
    frames.to_parquet(out / "frames.parquet", index=False)
    trials.to_csv(out / "trials.csv", index=False)
    (out / "run.json").write_text(json.dumps({"settings": {"prototypes": {"baseline": 2.0}}}))
    return out, frames, trials


@pytest.fixture
def results_folder():
    return write_results
