"""Piecewise: feature extraction of 8 short videos: local executor, 1 and 2 Dask workers.

Run::

    python benchmarks/bench_dask.py [--frames 600] [--videos 8] [--reps 2]

One 640x480 H.264 clip of the benchmark texture (see ``bench_throughput.py``; 30 fps, written
into the cache folder, never committed) is copied to ``--videos`` files, one session each with
the 400x400 face ROI. Two ``LocalCluster`` s (1 and 2 worker processes of one thread each) are
started before any timing; then, per repetition, the three executors each extract every
session into a fresh features folder (``mouseface.workflows.execute.extract_sessions``, as
``mouseface run`` does). Prints frames/s of each and the speed-up of 2 workers over 1 (median of the
per-repetition ratios).
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import FACE, make_video  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=600)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--reps", type=int, default=2)
    args = ap.parse_args()

    from distributed import LocalCluster

    from mouseface._progress import Reporter
    from mouseface.settings import load_settings
    from mouseface.workflows.execute import extract_sessions

    clip = make_video(args.frames, seed=2)
    work = Path(tempfile.mkdtemp(prefix="mouseface-dask-"))
    videos = []
    for k in range(args.videos):
        videos.append(work / f"video{k}.mp4")
        shutil.copyfile(clip, videos[-1])
    sessions = pd.DataFrame({"session": [f"s{k}" for k in range(args.videos)],
                             "video": [str(v) for v in videos], "animal": "m",
                             "roi": [FACE] * args.videos})
    total = args.frames * args.videos
    kw = dict(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
              scheduler_kwargs={"dashboard_address": ":0"}, silence_logs=logging.ERROR)
    rows = []
    with LocalCluster(**kw) as one, LocalCluster(**{**kw, "n_workers": 2}) as two:
        executors = {"local": {}, "dask 1 worker": {"scheduler": one.scheduler_address},
                     "dask 2 workers": {"scheduler": two.scheduler_address}}
        try:
            for rep in range(args.reps):
                fps = {}
                for name, compute in executors.items():
                    out = work / f"features-{rep}-{name.replace(' ', '-')}"
                    settings = load_settings(compute=compute)
                    t0 = time.perf_counter()
                    extract_sessions(sessions, out, settings, Reporter(quiet=True))
                    fps[name] = total / (time.perf_counter() - t0)
                    shutil.rmtree(out)
                rows.append(fps)
                print(f"rep {rep}: " + "  ".join(f"{k} {v:5.0f} fps" for k, v in fps.items())
                      + f"  2/1 workers {fps['dask 2 workers'] / fps['dask 1 worker']:.2f}"
                      f"  load {os.getloadavg()[0]:.1f}", flush=True)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    ratio = statistics.median(r["dask 2 workers"] / r["dask 1 worker"] for r in rows)
    local = statistics.median(r["dask 2 workers"] / r["local"] for r in rows)
    print(f"{args.videos} videos x {args.frames} frames 640x480, face {FACE[2]}x{FACE[3]}, "
          f"cpus {os.cpu_count()}")
    print(f"speed-up 2 workers / 1 worker: {ratio:.2f}; 2 workers / local executor: {local:.2f}")


if __name__ == "__main__":
    main()
