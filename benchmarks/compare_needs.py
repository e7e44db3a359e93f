"""``mouseface compare --by need`` on synthetic videos: one stimulus at two needs, 20 seeds.

For each seed, simulates pleasure while thirsty and while sated (128-px faces, 20 fps), runs
``run`` and ``compare --by need``, and counts the seeds in which
pleasure's own score differs between the needs (p < 0.05) with the right sign: with a
simulated difference (the sated face at half the amplitude) and without one (both 1.0).

    python benchmarks/compare_needs.py --seeds 20 --animals 6 --trials 3   # over animals
    python benchmarks/compare_needs.py --seeds 20 --animals 4 --trials 3   # over trials

Acceptance (issue 13): the right sign in >= 95 % of 20 seeds; a difference called in <= 10 %
without one.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from mouseface.settings import load_settings
from mouseface.synth import simulate_experiment
from mouseface.workflows import pipeline
from mouseface.workflows.compare import compare

SETTINGS = load_settings(hog={"pixels_per_cell": (16, 16), "block_norm": "L1"},
                         prototypes={"baseline": 2.0})


def one(seed: int, animals: int, trials: int, sated: float, root: Path) -> dict:
    exp = simulate_experiment(root / f"d{seed}", n_animals=animals, n_trials=trials,
                              conditions=("pleasure",), seed=seed, size=(128, 128),
                              needs={"pleasure": {"thirsty": 1.0, "sated": sated}},
                              preset="ultrafast", crf=21)
    res = pipeline.run(exp.sessions_path, exp.events_path, root / f"r{seed}",
                       settings=SETTINGS, quiet=True, report=False)
    t = compare(res, "need", conditions=["pleasure"], prototypes=["pleasure"], write=False)
    r = t.iloc[0]
    return {"seed": seed, "sated": sated, "difference": r.difference, "ci_low": r.ci_low,
            "ci_high": r.ci_high, "p": r.p_value, "unit": r.unit,
            "called": bool(r.p_value < 0.05), "right": bool(r.p_value < 0.05
                                                            and r.difference > 0)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=20)
    p.add_argument("--animals", type=int, default=6)
    p.add_argument("--trials", type=int, default=3)
    a = p.parse_args()
    t0 = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(a.seeds):
            for sated in (0.5, 1.0):
                rows.append(one(seed, a.animals, a.trials, sated, Path(tmp)))
    df = pd.DataFrame(rows)
    real, null = df[df["sated"] == 0.5], df[df["sated"] == 1.0]
    print(f"{a.animals} animals x {a.trials} trials per need, {a.seeds} seeds, compared over "
          f"{df['unit'].iloc[0]}s; {time.perf_counter() - t0:.0f} s")
    print(f"sated at half the amplitude: found with the right sign in {real['right'].sum()} "
          f"of {len(real)} ({real['right'].mean():.0%}); median difference "
          f"{real['difference'].median():+.3f}")
    print(f"no difference: called in {null['called'].sum()} of {len(null)} "
          f"({null['called'].mean():.0%})")
    print(df.round(4).to_string(index=False))


if __name__ == "__main__":
    main()
