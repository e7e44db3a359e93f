"""Peak memory of ``mouseface run`` (whole process, defaults) against video length.

Run::

    python benchmarks/bench_memory.py [--lengths 3000,9000,18000,108000] [--command run]

The videos are 640x480 H.264 at 30 fps: a 3000-frame clip of the benchmark texture (see
``bench_throughput.py``) is written once into the cache folder and repeated by remuxing its
packets (no re-encoding) to each length; nothing is committed. Each length gets one session
with the 400x400 face ROI and one 2-s event every 10 s (3 conditions), and
``mouseface run sessions.csv events.csv --out DIR --no-report -q`` runs as its own process
(``--command fit``: ``mouseface fit ... --out MODEL -q``; ``--command score``: a model fitted
on the same tables first, then ``mouseface score MODEL sessions.csv events.csv --out DIR
--no-report -q`` measured);
its peak resident memory comes from the kernel's accounting of that process
(``os.wait4``'s ``ru_maxrss``). A first run loads (or compiles and caches) the Numba kernels,
so that no measured one compiles them.

Targets: flat (the 60-minute peak within 10 % of the 10-minute one) and at most 600 MiB.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import CACHE, FACE, concat_video, make_video  # noqa: E402

CLIP = 3000


def tables(folder: Path, video: Path, n_frames: int, fps: float = 30.0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    x, y, w, h = FACE
    pd.DataFrame({"session": ["s1"], "video": [str(video)], "animal": ["m1"],
                  "roi": [f"{x},{y},{w},{h}"]}).to_csv(folder / "sessions.csv", index=False)
    onsets = np.arange(4.0, n_frames / fps - 6.0, 10.0)
    pd.DataFrame({"session": "s1", "onset": onsets, "duration": 2.0,
                  "trial_type": [["sucrose", "quinine", "tail_shock"][i % 3]
                                 for i in range(len(onsets))]}).to_csv(folder / "events.csv",
                                                                       index=False)
    return [str(folder / "sessions.csv"), str(folder / "events.csv")]


def run(args: list[str], command: str = "run") -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one ``mouseface`` process."""
    exe = shutil.which("mouseface") or "mouseface"
    extra = [] if command == "fit" else ["--no-report"]
    t0 = time.perf_counter()
    p = subprocess.Popen([exe, command, *args, *extra, "-q"], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    if status:
        raise SystemExit(f"mouseface {command} failed (status {status})")
    return wall, usage.ru_maxrss * 1024  # KiB on Linux


def measure(command: str, t: list[str], out: Path) -> tuple[float, int]:
    """One measured process of ``command`` on the tables ``t`` (a model fitted first for
    ``score``)."""
    if command == "score":
        run([*t, "--out", str(out / "model")], "fit")
        return run([str(out / "model"), *t, "--out", str(out / "scored")], "score")
    return run([*t, "--out", str(out / command)], command)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="3000,9000,18000,108000",
                    help=f"frame counts, multiples of {CLIP} (10 min = 18000, 60 min = 108000)")
    ap.add_argument("--command", default="run", choices=["run", "fit", "score"])
    ap.add_argument("--config", help="a TOML settings file given to every command")
    args = ap.parse_args()

    clip = make_video(CLIP, seed=1)
    work = Path(tempfile.mkdtemp(prefix="mouseface-mem-"))
    peaks = {}
    try:
        warm = tables(work / "warm", clip, CLIP) + (["--config", args.config]
                                                     if args.config else [])
        measure(args.command, warm, work / "warm_out")  # kernels compiled and cached
        for n in (int(x) for x in args.lengths.split(",")):
            if n % CLIP:
                raise SystemExit(f"--lengths: {n} is not a multiple of {CLIP}")
            video = concat_video(clip, CACHE / f"texture_640x480_{n}f_1.mp4", n // CLIP)
            t = tables(work / f"t{n}", video, n) + (["--config", args.config]
                                                     if args.config else [])
            wall, rss = measure(args.command, t, work / f"out{n}")
            peaks[n] = rss
            print(f"{args.command} {n:6d} frames ({n / 30 / 60:5.1f} min): "
                  f"peak RSS {rss / 2**20:6.0f} MiB  "
                  f"{n / wall:4.0f} frames/s  (wall {wall:.0f} s, load "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
            shutil.rmtree(work / f"out{n}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if 18000 in peaks and 108000 in peaks:
        print(f"60 min / 10 min peak RSS: {peaks[108000] / peaks[18000]:.3f} (target <= 1.10)")
    print(f"largest peak: {max(peaks.values()) / 2**20:.0f} MiB (target <= 600 MiB); "
          f"cpus {os.cpu_count()}")


if __name__ == "__main__":
    main()
