"""Freezing and escape bouts found by ``mouseface bouts`` against synthetic ground truth.

For each seed, simulates a fear session per animal (``simulate_experiment(fear=True)``: shocks,
then spontaneous freezing and escape bouts with grooming, brief stillness and stillness while
whisking as confounds), runs the bouts workflow from the sessions table, and prints precision,
recall, F1 and onset errors per bout type, and how many confounds were called a bout.

    python benchmarks/bouts_truth.py --seeds 21 22 --animals 4
    python benchmarks/bouts_truth.py --seeds 11 --preset veryfast --crf 18 --size 160

The detector's defaults were chosen looking at seeds 0-4 (160 px, both presets) and 11 (128
px); other seeds are held out (23 is the integration test's).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from mouseface.expressions.bouts import BOUT_TYPES, detection_scores, match_bouts
from mouseface.synth import simulate_experiment
from mouseface.workflows.behaviour import bouts

CONFOUNDS = ("grooming", "brief_stillness", "whisking_stillness")


def one(seed: int, animals: int, size: int, preset: str, crf: int, root: Path) -> dict:
    exp = simulate_experiment(root / f"s{seed}", n_animals=animals, conditions=(), fear=True,
                              fear_shocks=3, seed=seed, size=(size, size), preset=preset,
                              crf=crf)
    found = bouts(exp.sessions_path, exp.events_path, out=root / f"r{seed}", context="pain",
                  quiet=True, figure=False)["bouts"]
    truth = exp.bouts[exp.bouts["behaviour"].isin(BOUT_TYPES)].rename(
        columns={"behaviour": "trial_type"})
    matched = match_bouts(found, truth)
    out = {"seed": seed}
    for row in detection_scores(matched).itertuples():
        out[f"{row.trial_type}_f1"] = row.f1
        out[f"{row.trial_type}_hits"] = f"{row.hits}/{row.true} ({row.found} found)"
        out[f"{row.trial_type}_onset_max_s"] = row.onset_error_max
    for kind in CONFOUNDS:
        rows = exp.bouts[exp.bouts["behaviour"] == kind]
        hit = sum(bool(((found["session"] == r.session) & (found["onset"] < r.onset + r.duration)
                        & (found["onset"] + found["duration"] > r.onset)).any())
                  for r in rows.itertuples())
        out[f"{kind}_called"] = f"{hit}/{len(rows)}"
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[21, 22])
    p.add_argument("--animals", type=int, default=4)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--preset", default="ultrafast")
    p.add_argument("--crf", type=int, default=21)
    a = p.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [one(s, a.animals, a.size, a.preset, a.crf, Path(tmp)) for s in a.seeds]
    table = pd.DataFrame(rows).set_index("seed")
    print(f"{a.animals} animals per seed, {a.size} px, {a.preset} crf {a.crf}; "
          f"{time.perf_counter() - t0:.0f} s")
    print(table.T.to_string())


if __name__ == "__main__":
    main()
