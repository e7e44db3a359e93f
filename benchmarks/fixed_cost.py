"""What ``mouseface run`` spends outside its pass, as wall time and CPU time, from the second
run on (Numba's cache and the page cache warm).

Run::

    python benchmarks/fixed_cost.py [--frames 9000] [--reps 3] [--src A_SRC --src B_SRC]
    python benchmarks/fixed_cost.py --imports [--reps 3]

On :mod:`bench_run`'s generated file (640x480 H.264, crf 18; one session, a 400x400 face ROI,
30 events; ``MOUSEFACE_BENCH_CACHE`` says where it is kept) each rep runs ``mouseface run
sessions.csv events.csv --out DIR --no-report -q`` in a fresh process (one warm-up run first).
The process is timed from the parent (wall from before ``fork`` to after ``wait``; CPU,
user + sys of every thread, from ``wait4``) and marks its own times (wall, and the process's
CPU time, every thread's) where:

- ``pass start``: the first range of the pass (``execute.extract_range``) begins decoding;
- ``pass end``: the last range has returned;

and each ``run.json`` stage begins and ends. *Before* is process start to pass start, *after*
pass end to exit, *pass* what lies between; the stages are printed with their wall and CPU
(CPU in a stage is every thread's, so the scoring's background import counts where it runs).
``imports (thread)`` is the CPU that background import took, on its thread.

``--imports`` prints instead what importing the libraries ``run`` loads costs, in the order
it loads them (CPU seconds each, in a fresh process, the least of ``--reps`` processes): the
floor under *before*.

Several ``--src`` folders (each a ``src`` with the mouseface package) are run interleaved, rep
by rep, for an A/B comparison on a shared machine; their frames.parquet and trials.csv are
compared with the first's (``equal`` means every column equal to the bit).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Run in the child: marks pass start/end and the stages, then runs the command line.
DRIVER = r"""
import importlib.abc, importlib.machinery, json, os, sys, threading, time
_T = lambda: (time.time(), time.process_time())
marks = {"start": _T()}
stages = []
ranges = {"n": 0, "open": 0}

def _patch(name, module):
    if name == "mouseface.workflows.execute":
        f = module.extract_range
        def extract_range(*a, **k):
            if ranges["n"] == 0:
                marks["pass_start"] = _T()
            ranges["n"] += 1
            ranges["open"] += 1
            try:
                return f(*a, **k)
            finally:
                ranges["open"] -= 1
                if ranges["open"] == 0:
                    marks["pass_end"] = _T()
        module.extract_range = extract_range
    elif name == "mouseface.runlog":
        import contextlib
        f = module.RunLog.stage.__wrapped__
        @contextlib.contextmanager
        def stage(self, name):
            t0 = _T()
            with contextlib.contextmanager(f)(self, name):
                yield
            stages.append((name, t0, _T()))
        module.RunLog.stage = stage
    elif name == "mouseface.workflows.pipeline":
        f = module._import_scoring
        def _import_scoring(*a, **k):
            t = time.thread_time()
            try:
                return f(*a, **k)
            finally:
                if threading.current_thread().name == "mouseface-import":
                    marks["import_thread_cpu"] = time.thread_time() - t
        module._import_scoring = _import_scoring

class _Finder(importlib.abc.MetaPathFinder):
    names = {"mouseface.workflows.execute", "mouseface.runlog", "mouseface.workflows.pipeline"}
    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        exec_module = spec.loader.exec_module
        def run(module):
            exec_module(module)
            _patch(name, module)
        spec.loader.exec_module = run
        return spec

sys.meta_path.insert(0, _Finder())

def _dump():
    marks["exit"] = _T()
    marks["modules"] = sorted(m for m in sys.modules if "." not in m)
    with open(os.environ["FIXED_COST_MARKS"], "w") as fh:
        json.dump({"marks": marks, "stages": stages}, fh)

import atexit
atexit.register(_dump)
sys.argv = ["mouseface", *sys.argv[1:]]
from mouseface.cli import main
main()
"""


#: What ``run`` imports, in its order (each entry: what it adds to those before it).
IMPORTS = ("numpy", "pandas", "zarr", "av", "numba", "scipy.fft", "scipy.ndimage",
           "mouseface.cli", "mouseface.workflows.prepare", "mouseface.workflows.pipeline",
           "mouseface.workflows.scoring")
#: What `run` no longer imports, measured after :data:`IMPORTS`.
NOT_RUN = ("skimage.transform._geometric", "sklearn.base")

IMPORT_DRIVER = r"""
import json, sys, time
out = []
for name in sys.argv[1:]:
    t = time.process_time()
    __import__(name)
    out.append(time.process_time() - t)
print(json.dumps(out))
"""


def import_costs(reps: int) -> None:
    """Print the CPU each of :data:`IMPORTS` adds, then each of :data:`NOT_RUN`, the least
    over ``reps`` fresh processes."""
    names = IMPORTS + NOT_RUN
    runs = [json.loads(subprocess.run([sys.executable, "-c", IMPORT_DRIVER, *names],
                                      capture_output=True, text=True, check=True).stdout)
            for _ in range(reps)]
    print(f"import CPU (s), least of {reps} processes, load {os.getloadavg()[0]:.1f}")
    best = [min(r[k] for r in runs) for k in range(len(names))]
    for name, t in zip(names, best, strict=True):
        print(f"  {name:<32} {t:6.3f}")
        if name == IMPORTS[-1]:
            print(f"  {'what run imports':<32} {sum(best[:len(IMPORTS)]):6.3f}\n"
                  f"  not imported by run:")


def run_once(src: str | None, sessions: Path, events: Path, out: Path) -> dict:
    """One ``mouseface run`` in a fresh process: its marks, stages and the parent's times."""
    shutil.rmtree(out, ignore_errors=True)
    marks_file = out.with_suffix(".json")
    env = dict(os.environ, FIXED_COST_MARKS=str(marks_file))
    if src:
        env["PYTHONPATH"] = src
    cmd = [sys.executable, "-c", DRIVER, "run", str(sessions), str(events), "--out", str(out),
           "--no-report", "-q"]
    t0 = time.time()
    proc = subprocess.Popen(cmd, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    t1 = time.time()
    if status:
        raise SystemExit(f"mouseface run failed ({status}): {cmd}")
    got = json.loads(marks_file.read_text())
    m = got["marks"]
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "wall": t1 - t0, "cpu": cpu,
        "before_wall": m["pass_start"][0] - t0, "before_cpu": m["pass_start"][1],
        "pass_wall": m["pass_end"][0] - m["pass_start"][0],
        "pass_cpu": m["pass_end"][1] - m["pass_start"][1],
        "after_wall": t1 - m["pass_end"][0], "after_cpu": cpu - m["pass_end"][1],
        "startup_wall": m["start"][0] - t0, "startup_cpu": m["start"][1],
        "exit_wall": t1 - m["exit"][0], "exit_cpu": cpu - m["exit"][1],
        "import_thread_cpu": m.get("import_thread_cpu", float("nan")),
        "stages": {name: (b[0] - a[0], b[1] - a[1]) for name, a, b in got["stages"]},
        "sklearn": "sklearn" in m["modules"],
    }


def same_results(a: Path, b: Path) -> bool:
    import pandas as pd

    fa, fb = pd.read_parquet(a / "frames.parquet"), pd.read_parquet(b / "frames.parquet")
    ta, tb = pd.read_csv(a / "trials.csv"), pd.read_csv(b / "trials.csv")
    return fa.equals(fb) and ta.equals(tb) and list(fa.columns) == list(fb.columns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=9000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--imports", action="store_true",
                    help="print what importing run's libraries costs, and stop")
    ap.add_argument("--src", action="append", default=None,
                    help="a src folder to run (repeat for A/B); default: this checkout's")
    args = ap.parse_args()
    if args.imports:
        import_costs(args.reps)
        return
    from bench_run import make_video, tables

    srcs = args.src or [str(Path(__file__).resolve().parents[1] / "src")]
    video = make_video(args.frames)
    work = Path(tempfile.mkdtemp(prefix="mouseface-fixed-cost-"))
    sessions, events = tables(work / "tables", video, args.frames)
    load = [os.getloadavg()[0]]
    runs: dict[str, list[dict]] = {s: [] for s in srcs}
    try:
        for s in srcs:  # warm-up: Numba's cache, the page cache
            run_once(s, sessions, events, work / "warm")
        for rep in range(args.reps):
            for k, s in enumerate(srcs):
                runs[s].append(run_once(s, sessions, events, work / f"out{k}_{rep}"))
                load.append(os.getloadavg()[0])
        print(f"{args.frames} frames, {args.reps} reps (medians), load {min(load):.1f}-"
              f"{max(load):.1f}; seconds, wall / CPU (user+sys, all threads)")
        for k, s in enumerate(srcs):
            rs = runs[s]

            def med(key, rs=rs):
                return statistics.median(r[key] for r in rs)

            same = "" if k == 0 else (
                ", results " + ("equal" if all(same_results(work / f"out0_{i}",
                                                            work / f"out{k}_{i}")
                                               for i in range(args.reps)) else "DIFFER"))
            print(f"\n[{s}]{same}; scikit-learn imported: {rs[0]['sklearn']}")
            for key in ("startup", "before", "pass", "after", "exit"):
                print(f"  {key:<28} {med(key + '_wall'):7.2f} / {med(key + '_cpu'):6.2f}")
            print(f"  {'outside the pass':<28} "
                  f"{statistics.median(r['before_wall'] + r['after_wall'] for r in rs):7.2f} / "
                  f"{statistics.median(r['before_cpu'] + r['after_cpu'] for r in rs):6.2f}")
            print(f"  {'whole process':<28} {med('wall'):7.2f} / {med('cpu'):6.2f}")
            print(f"  {'imports (thread)':<28} {'':7} / {med('import_thread_cpu'):6.2f}")
            for name in rs[0]["stages"]:
                w = statistics.median(r["stages"][name][0] for r in rs)
                c = statistics.median(r["stages"][name][1] for r in rs)
                print(f"  stage {name:<22} {w:7.2f} / {c:6.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
