"""Where ``mouseface demo`` spends its CPU: each stage's CPU seconds (this process and the
processes it waited for: the rendering workers, the analyses' process) and wall seconds.

Runs the demo through its command line in this process with each stage's function wrapped:
the simulation, ``bouts``, ``run``, ``compare --by need``, the analyses (``analyze`` in this
process, or ``_Beside.result`` where the demo waits for its second process, which also drew the
bouts' and the faces' figures while the run went on: the CPU of that process counts there),
the simulated population, the neural step,
the report's own figures and the report. CPU is user + system time, which a loaded machine
changes less than the wall time; stages that overlap (the analyses beside the neural step and
the report's figures) add up to more wall time than the demo took. Also prints the CPU that
matplotlib's ``savefig`` took in this process, by what it wrote (``png``, ``svg``, ``buf``:
the report's in-memory images).

    python benchmarks/demo_stages.py /tmp/demo_stages
"""

from __future__ import annotations

import argparse
import importlib
import json
import resource
import time
from pathlib import Path

START = time.perf_counter()

#: (module, function) of each stage, as the demo calls them
STAGES = [("mouseface.synth", "simulate_experiment"), ("mouseface.workflows.behaviour", "bouts"),
          ("mouseface.workflows.pipeline", "run"),
          ("mouseface.workflows.demo", "comparison_summary"),
          ("mouseface.workflows.analysis", "analyze"),
          ("mouseface.workflows.demo", "_demo_population"),
          ("mouseface.workflows.neural", "neural_correlates"),
          ("mouseface.report.html", "draw_figures"),
          ("mouseface.workflows.demo", "_Beside.result"),
          ("mouseface.workflows.pipeline", "_report")]


def cpu() -> float:
    """User + system seconds of this process and of its waited-for children."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, help="the demo's folder (--out)")
    args = p.parse_args()
    rows: list[tuple[str, float, float]] = []

    def wrap(module: str, name: str) -> None:
        m = importlib.import_module(module)
        *owner, name = name.split(".")
        for part in owner:  # a method: wrapped on its class
            m = getattr(m, part, None)
        if not hasattr(m, name):
            return
        f = getattr(m, name)

        def timed(*a, **k):
            c0, t0 = cpu(), time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                rows.append((name, cpu() - c0, time.perf_counter() - t0))

        setattr(m, name, timed)

    for module, name in STAGES:
        wrap(module, name)
    import matplotlib.figure

    saved: dict[str, float] = {}
    savefig = matplotlib.figure.Figure.savefig

    def timed_savefig(self, fname, *a, **k):
        kind = "buf" if hasattr(fname, "write") else str(fname).rsplit(".", 1)[-1]
        c0 = time.thread_time()
        try:
            return savefig(self, fname, *a, **k)
        finally:
            saved[kind] = saved.get(kind, 0.0) + time.thread_time() - c0

    matplotlib.figure.Figure.savefig = timed_savefig
    rows.append(("imports", cpu(), time.perf_counter() - START))
    from typer.testing import CliRunner

    from mouseface.cli import app

    result = CliRunner().invoke(app, ["demo", "--out", str(args.out), "-q"])
    if result.exception:
        raise result.exception
    rows.append(("TOTAL", cpu(), time.perf_counter() - START))
    print(result.output.rstrip())
    print()
    for name, c, w in rows:
        print(f"{name:22s} cpu {c:6.1f} s  wall {w:6.1f} s")
    print("savefig CPU in this process:", {k: round(v, 1) for k, v in sorted(saved.items())})
    with open("/proc/loadavg") as fh:
        print("load average:", fh.read().split()[0])
    (args.out / "stages.json").write_text(json.dumps(rows))


if __name__ == "__main__":
    main()
