"""Acceptance figures of the neural nulls on realistic simulated sessions (issue 15).

Run::

    python benchmarks/bench_null.py [--sessions 200] [--sets 100] [--power 10] [--movement 10]
                                    [--append benchmarks/RESULTS.md]

Every session comes from :func:`mouseface.synth.neurons.simulate_session` with its realistic
defaults (photobleaching, baseline wander, bursts, neuropil, imaging motion artefacts), fixed
seeds. Three checks:

- **complete null**: ``--sessions`` sessions 1–10 min long (10 Hz, 50 neurons, 3 expression
  traces that drift), the neurons from an unrelated recording; the fraction of sessions with
  any discovery (Benjamini–Hochberg, q = 0.05) and of pairs called, for the default null
  (linear shift after a 60-s high-pass, 0.7-s kernel, as ``mouseface neural`` runs it), for
  the old circular-shift test as it ran before (1000 shifts of ≥ 10 s, no high-pass, no
  kernel), and for the circular test after the same high-pass.
- **sessions together**: ``--sets`` sets of 2–5 sessions of 1–3 min analysed as the same
  neurons in several sessions (each session shifted independently; smallest p 1/10 001).
- **power**: ``--power`` 5-min sessions (30 Hz, 50 neurons) in which 10 neurons follow the
  pleasure or disgust expression at 1.5 × their noise SD through a 0.7-s calcium kernel:
  recall of those neurons (significant and positive for their own expression).
- **movement**: ``--movement`` 5-min sessions in which 10 neurons follow an expression and 10
  follow only face motion energy (which itself rises with the expressions): how often each
  kind is called an expression neuron after the movement control.

The tests in ``tests/unit/neural/test_null_realistic.py`` assert the acceptance thresholds
on the same sessions (the 200-session null is marked slow).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from mouseface.neural.encoding import encode
from mouseface.neural.movement import movement_control, trial_blocks
from mouseface.synth.neurons import simulate_session

#: the nulls compared on the complete null: name -> encode keywords
NULLS = {
    "linear (default)": {"tau": 0.7},
    "circular (old)": {"null": "circular", "n_shifts": 1000},
    "circular + 60-s high-pass": {"null": "circular", "n_shifts": 1000, "highpass": 60.0,
                                  "tau": 0.7},
}
COUPLED = {i: ("pleasure" if i % 2 else "disgust") for i in range(10)}


def null_session(k: int):
    """The k-th complete-null session: 1-10 min, 10 Hz, 50 unrelated neurons."""
    minutes = float(np.random.default_rng(k).uniform(1.0, 10.0))
    return simulate_session(minutes, fs=10.0, n_neurons=50, unrelated=True, seed=k)


def complete_null(n_sessions: int, nulls: dict[str, dict] = NULLS) -> dict[str, dict]:
    """Fraction of sessions with any discovery and of pairs called, per null."""
    hits = {name: [] for name in nulls}
    for k in range(n_sessions):
        s = null_session(k)
        for name, kw in nulls.items():
            enc = encode(s.population.traces, s.expressions, fs=s.fs, names=s.names, **kw)
            hits[name].append((bool(enc.significant.any()), float(enc.significant.mean()),
                               float(np.mean(enc.p <= 0.05)), enc.params["p_floor"]))
    out = {}
    for name, rows in hits.items():
        a = np.array(rows, dtype=float)
        out[name] = {"sessions_with_discovery": float(a[:, 0].mean()),
                     "pairs_called": float(a[:, 1].mean()), "p_le_0.05": float(a[:, 2].mean()),
                     "smallest_p_median": float(np.median(a[:, 3]))}
    return out


def multi_session_null(n_sets: int) -> dict[str, float]:
    """The complete null when 2-5 sessions of 1-3 min are analysed together (independent
    shifts per session): each set's neurons unrelated to its faces."""
    rows = []
    for k in range(n_sets):
        rng = np.random.default_rng(5000 + k)
        sessions = [simulate_session(float(rng.uniform(1.0, 3.0)), fs=10.0, n_neurons=50,
                                     unrelated=True, seed=5000 + 10 * k + j)
                    for j in range(int(rng.integers(2, 6)))]
        x = np.hstack([s.population.traces for s in sessions])
        y = np.hstack([s.expressions for s in sessions])
        enc = encode(x, y, fs=10.0, tau=0.7, segments=[s.time.size for s in sessions])
        rows.append((bool(enc.significant.any()), float(enc.significant.mean()),
                     float(np.mean(enc.p <= 0.05)), float(np.mean(enc.p <= 0.001))))
    a = np.array(rows, dtype=float)
    return {"sets_with_discovery": float(a[:, 0].mean()), "pairs_called": float(a[:, 1].mean()),
            "p_le_0.05": float(a[:, 2].mean()), "p_le_0.001": float(a[:, 3].mean())}


def power_session(k: int, fs: float = 30.0, coupled: dict | None = None):
    return simulate_session(5.0, fs=fs, n_neurons=50, coupled=coupled or COUPLED, snr=1.5,
                            seed=100 + k)


def power(n_sessions: int, kw: dict | None = None) -> dict[str, float]:
    """Recall of the coupled neurons, and the fraction of the others called, pooled."""
    kw = {"tau": 0.7} if kw is None else kw
    found, others = [], []
    for k in range(n_sessions):
        s = power_session(k)
        enc = encode(s.population.traces, s.expressions, fs=s.fs, names=s.names, **kw)
        found += [bool(enc.positive[i, s.names.index(c)]) for i, c in COUPLED.items()]
        others += enc.significant.any(axis=1)[len(COUPLED):].tolist()
    return {"recall": float(np.mean(found)), "others_called": float(np.mean(others)),
            "n_coupled": len(found)}


def movement(n_sessions: int, fs: float = 15.0) -> dict[str, float]:
    """Expression- and motion-driven neurons called expression neurons, before and after."""
    coupled = {**COUPLED, **dict.fromkeys(range(10, 20), "motion_energy")}
    rows = {"expression_plain": [], "expression_after": [], "motion_plain": [],
            "motion_after": [], "motion_tracks_movement": []}
    for k in range(n_sessions):
        s = simulate_session(5.0, fs=fs, n_neurons=50, coupled=coupled, snr=1.5, seed=200 + k)
        x = s.population.traces
        plain = encode(x, s.expressions, fs=fs, names=s.names, tau=0.7)
        mc = movement_control(plain, x, s.expressions, s.motion[None],
                              movement_names=["motion_energy"],
                              folds=trial_blocks(x.shape[1], s.time, s.events["onset"]))
        expr_called = np.isin(mc.tracks, ["expression", "both"])
        for i, c in coupled.items():
            if c == "motion_energy":
                rows["motion_plain"].append(bool(plain.significant[i].any()))
                rows["motion_after"].append(bool(expr_called[i]))
                rows["motion_tracks_movement"].append(mc.tracks[i] in ("movement", "both"))
            else:
                j = s.names.index(c)
                rows["expression_plain"].append(bool(plain.positive[i, j]))
                rows["expression_after"].append(bool(expr_called[i]))
    return {k: float(np.mean(v)) for k, v in rows.items()} | {"n_each": 10 * n_sessions}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sessions", type=int, default=200)
    p.add_argument("--sets", type=int, default=100)
    p.add_argument("--power", type=int, default=10)
    p.add_argument("--movement", type=int, default=10)
    p.add_argument("--append", type=Path, default=None)
    args = p.parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    t0 = time.perf_counter()
    nul = complete_null(args.sessions)
    print(f"complete null, {args.sessions} sessions of 1-10 min (10 Hz, 50 neurons, 3 drifting "
          "expressions; bleaching, wander, bursts, neuropil, motion artefacts):")
    for name, v in nul.items():
        print(f"  {name:28s} sessions with a discovery {v['sessions_with_discovery']:6.1%}   "
              f"pairs called {v['pairs_called']:7.3%}   p <= 0.05 {v['p_le_0.05']:5.1%}   "
              f"median smallest p {v['smallest_p_median']:.2g}", flush=True)
    mul = multi_session_null(args.sets)
    print(f"complete null, {args.sets} sets of 2-5 sessions of 1-3 min analysed together "
          f"(independent shifts, smallest p 1e-4): sets with a discovery "
          f"{mul['sets_with_discovery']:.1%}, pairs called {mul['pairs_called']:.3%}, "
          f"p <= 0.05 {mul['p_le_0.05']:.1%}, p <= 0.001 {mul['p_le_0.001']:.2%}", flush=True)
    pw = power(args.power)
    pw_old = power(args.power, {"null": "circular", "n_shifts": 1000})
    print(f"power, {args.power} sessions of 5 min (30 Hz), {pw['n_coupled']} neurons at "
          f"1.5 SD through a 0.7-s kernel: recall {pw['recall']:.1%} (other neurons called "
          f"{pw['others_called']:.1%}); old circular test: recall {pw_old['recall']:.1%} "
          f"(others {pw_old['others_called']:.1%})", flush=True)
    mv = movement(args.movement)
    print(f"movement, {args.movement} sessions of 5 min (15 Hz), {mv['n_each']} neurons of "
          f"each kind: motion-driven called expression neurons {mv['motion_plain']:.1%} before "
          f"the movement control, {mv['motion_after']:.1%} after (tracking movement: "
          f"{mv['motion_tracks_movement']:.1%}); expression-driven still called "
          f"{mv['expression_after']:.1%} (before: {mv['expression_plain']:.1%})")
    seconds = time.perf_counter() - t0
    print(f"done in {seconds:.0f} s; load average {os.getloadavg()[0]:.1f}")
    res = {"null": nul, "sessions_together": mul, "power": pw, "power_circular": pw_old,
           "movement": mv}
    if args.append:
        cmd = "python benchmarks/bench_null.py " + " ".join(
            argv if argv is not None else sys.argv[1:])
        lines = [f"\n## Neural nulls on realistic sessions (issue 15): "
                 f"{dt.date.today().isoformat()}\n", f"`{cmd.strip()}`:\n",
                 "| null | sessions with any discovery | pairs called | p ≤ 0.05 | "
                 "median smallest p |", "|---|---|---|---|---|"]
        lines += [f"| {n} | {v['sessions_with_discovery']:.1%} | {v['pairs_called']:.3%} | "
                  f"{v['p_le_0.05']:.1%} | {v['smallest_p_median']:.2g} |"
                  for n, v in nul.items()]
        lines += ["", f"Sessions analysed together ({args.sets} sets of 2–5 sessions of "
                  f"1–3 min, independent shifts): sets with any discovery "
                  f"{mul['sets_with_discovery']:.1%}, pairs called {mul['pairs_called']:.3%}, "
                  f"p ≤ 0.05 {mul['p_le_0.05']:.1%}, p ≤ 0.001 {mul['p_le_0.001']:.2%}."]
        lines += ["", f"Power ({args.power} × 5 min, 30 Hz, 1.5 SD, 0.7-s kernel): recall "
                  f"{pw['recall']:.1%} with the default null ({pw_old['recall']:.1%} with the "
                  f"old circular test).", "",
                  f"Movement ({args.movement} × 5 min, 15 Hz): motion-driven neurons called "
                  f"expression neurons {mv['motion_plain']:.1%} before the movement control, "
                  f"{mv['motion_after']:.1%} after; expression-driven neurons still called "
                  f"{mv['expression_after']:.1%}.", ""]
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines))
    return res


if __name__ == "__main__":
    main()
