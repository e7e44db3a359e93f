"""What the expression-axis grades cost `mouseface run`, timed as a whole process.

Run::

    python benchmarks/bench_grades.py demo DEMO [--reps 3]   # DEMO: a `mouseface demo --out DEMO`
    python benchmarks/bench_grades.py der DER [--reps 3]     # DER: ../shared/data/real/der_videos

``demo`` runs ``mouseface run`` on the demo's simulated videos with the events the demo scores
(its stimuli and the bouts it found: ``results/behaviour``) and the demo's settings; ``der`` on
the three real DER mosaics, one session per trial tile (``examples/der_videos_tables.py``, as
``tests/integration/test_real_der.py`` runs them). Each repetition is two fresh processes,
``mouseface run SESSIONS EVENTS --out DIR --config CONFIG -q`` (report included: the command as
users run it) with the grades and without, in turns (A/B/A/B: machine load hits both alike),
after one untimed run of each (file cache, compiled kernels).

Without grades: the child process that runs the command first replaces
``_AnimalFrames._grading`` (what sets up the grades of an animal, in
:mod:`mouseface.workflows.scoring`) by one that returns None, when that module is imported; the
run then writes no ``grade_`` column and reads nothing for them. No setting of the package
turns the grades off (there is no reason for a user to); both arms start through this same
wrapper, so they differ by the grades alone. A checkout of the commit before the grades would
also differ by everything that landed since.

Prints, per repetition and arm: CPU seconds of the whole command (user + sys of the process
and every process it waited for), wall seconds, the 1-minute load average at its start; then
the medians and the median of the per-repetition ratios with/without.

Then, in this process, on the stores the runs wrote: the CPU seconds of `run`'s scoring of
every animal (prototypes, cross-fitted trial scores, grades, frame tables: what
:func:`mouseface.workflows.scoring.per_animal` does, without the quality flags), with the
grades and without, interleaved over the same repetitions; their difference is what the grades
cost, without the noise of a whole process.
"""

from __future__ import annotations

import argparse
import importlib.abc
import importlib.util
import os
import resource
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCORING = "mouseface.workflows.scoring"

#: the demo's settings for `run` (mouseface.workflows.demo.demo)
DEMO_CONFIG = """[hog]
pixels_per_cell = 16
block_norm = "L1"

[prototypes]
baseline = 2.0
"""


class _NoGrades(importlib.abc.MetaPathFinder):
    """Loads the scoring module as usual, then makes it grade nothing."""

    def find_spec(self, name, path, target=None):
        if name != SCORING:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            module._AnimalFrames._grading = lambda self: None

        spec.loader.exec_module = exec_module
        return spec


def child(grades: bool, argv: list[str]) -> None:
    """Run the mouseface command line on ``argv``, with or without the grades."""
    if not grades:
        sys.meta_path.insert(0, _NoGrades())
    from mouseface.cli import main

    sys.argv = ["mouseface", *argv]
    main()


def tables(kind: str, data: Path, work: Path) -> tuple[Path, Path, Path]:
    """Sessions, events and config of ``mouseface run`` for the demo's or the DER data."""
    if kind == "der":
        make = runpy.run_path(str(REPO / "examples" / "der_videos_tables.py"))["der_tables"]
        sessions, events = make(data, work / "tables")
        return sessions, events, work / "tables" / "mouseface.toml"
    config = work / "demo.toml"
    config.write_text(DEMO_CONFIG)
    from mouseface.io.layout import ResultsLayout

    return (data / "data" / "sessions.csv", ResultsLayout(data / "results").bouts_events,
            config)


def timed(grades: bool, args: list[str], out: Path) -> dict:
    """One whole ``mouseface run`` in a fresh process: CPU (user + sys) and wall seconds."""
    import pandas as pd

    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, __file__, "--child", "grades" if grades else "none",
                    "run", *args, "--out", str(out), "-q"], check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    columns = pd.read_csv(out / "trials.csv", nrows=1).columns
    graded = any(c.startswith("grade_") for c in columns)
    if graded != grades:
        raise SystemExit(f"the run {'with' if grades else 'without'} grades wrote "
                         f"{'' if graded else 'no '}grade_ columns")
    return {"cpu": cpu, "wall": wall, "load": load}


def scoring_cpu(results: Path, config: Path, grades: bool) -> float:
    """CPU seconds of `run`'s scoring of every animal from the stores in ``results``."""
    import numpy as np
    import pandas as pd

    from mouseface.io.store import FeatureStore
    from mouseface.settings import load_settings
    from mouseface.workflows import scoring

    events = pd.read_csv(results / "trials.csv")[
        ["session", "animal", "onset", "duration", "trial_type", "event"]]
    settings = load_settings(config)
    t = time.process_time()
    for _, g in events.groupby("animal", sort=False):
        stores = {s: FeatureStore(results / "features" / f"{s}.zarr") for s in g.session}
        frames = scoring._AnimalFrames(stores, events, settings, None, None)
        if not grades:
            frames._grading = lambda: None
        model, _ = frames.fit_and_crossfit(settings.prototypes.n_frames)
        axis, _ = frames.grade()
        for session, st in stores.items():
            scoring._frame_table(st, session, "m", model.transform, np.full(st.n_frames, ""),
                                 model.classes_, grade=axis)
    return time.process_time() - t


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2] == "grades", sys.argv[3:])  # nothing imported but the command's
        return
    import pandas as pd

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kind", choices=["demo", "der"])
    ap.add_argument("data", type=Path, help="the demo's folder, or the der_videos folder")
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_grades_") as tmp:
        work = Path(tmp)
        sessions, events, config = tables(a.kind, a.data.resolve(), work)
        args = [str(sessions), str(events), "--config", str(config)]
        for grades in (True, False):  # untimed: file cache, compiled kernels
            timed(grades, args, work / "out")
        rows = []
        for rep in range(a.reps):
            for grades in (True, False):
                r = timed(grades, args, work / "out")
                rows.append({"rep": rep + 1, "grades": grades, **r})
                print(f"rep {rep + 1} {'with   ' if grades else 'without'} grades: "
                      f"CPU {r['cpu']:6.2f} s  wall {r['wall']:6.2f} s  load {r['load']:.1f}",
                      flush=True)
        stages = {True: [], False: []}
        for _ in range(a.reps + 1):  # the first of each untimed
            for grades in (True, False):
                stages[grades].append(scoring_cpu(work / "out", config, grades))
    t = pd.DataFrame(rows)
    w, wo = t[t.grades].set_index("rep"), t[~t.grades].set_index("rep")
    print(f"\n`mouseface run` on the {a.kind} data, {a.reps} reps, "
          f"load {t.load.min():.1f}-{t.load.max():.1f}:")
    print("| run | CPU s (median) | wall s (median) |")
    print("|---|---:|---:|")
    for name, g in (("with grades", w), ("without grades", wo)):
        print(f"| {name} | {g.cpu.median():.2f} | {g.wall.median():.2f} |")
    cpu = statistics.median(w.cpu / wo.cpu)
    wall = statistics.median(w.wall / wo.wall)
    print(f"| with / without (median of the reps' ratios) | {cpu:.3f} | {wall:.3f} |")
    with_, without = (statistics.median(stages[g][1:]) for g in (True, False))
    print(f"\nscoring stage in one process, CPU s (median of {a.reps}): with grades "
          f"{with_:.2f}, without {without:.2f}: the grades add {with_ - without:.2f} s "
          f"({(with_ - without) / wo.cpu.median():.1%} of the whole run without them)")


if __name__ == "__main__":
    main()
