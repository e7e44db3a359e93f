"""The command users run, timed as a whole process: ``mouseface run`` with its defaults.

Run::

    python benchmarks/bench_run.py [--frames 9000] [--reps 2] [--paper-frames 1200]

On one generated file (640x480 H.264, crf 18, 30 fps: a textured scene with sensor noise that
drifts slowly by up to a few pixels, as a head-fixed face does, and changes locally during the
30 stimulus windows, as a face expresses; written once into a cache folder) with one session
(a 400x400 face ROI) and those 30 events, in one run, the passes interleaved so that machine
load hits them alike, each a fresh process timed from start to exit:

- **decode, 1 process**: PyAV decoding every frame's luma plane, FFmpeg choosing its threads;
- **decode, 2 processes**: the same, each process decoding one half (from a seek);
- **paper**: the paper's approach, PyAV gray frames and ``skimage.feature.hog`` frame by frame
  in 2 processes, then Pearson similarity to the prototypes; on the first ``--paper-frames``
  frames (it is slow), its rate extrapolated;
- **mouseface run**: ``mouseface run sessions.csv events.csv --out DIR --no-report -q`` with the
  default settings (baseline pre-read, registration with drift correction, quality, HOG,
  prototypes, scores, frames.parquet), a fresh results folder each time;
- the same with ``[registration] drift = false`` and with ``[quality] enabled = false``.

Then, when ``strace`` is installed, one more default ``run`` under ``strace -f`` (the calls
:data:`strace_opens.TRACE` lists) gives the opens of the video and the bytes read from it
(:mod:`strace_opens`).

Prints frames/s of each (the median over repetitions) and the ratios of each ``run`` to the
best decode (the better of 1 and 2 processes) and to the paper, each the median of the ratios
taken within one repetition.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import CACHE, FACE, HOG  # noqa: E402

FPS = 30.0

DECODE = """
import sys, av, numpy as np
path, part, parts = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with av.open(path) as c:
    s = c.streams.video[0]
    n = s.frames
    lo, hi = n * part // parts, n * (part + 1) // parts
    if parts > 1:
        s.codec_context.thread_count = 1
        s.thread_type = "NONE"
    else:
        s.thread_type = "AUTO"
    if lo:
        c.seek(int(lo / float(s.average_rate) / s.time_base), stream=s, backward=True)
    k = 0
    for f in c.decode(s):
        i = round(float(f.pts * s.time_base) * float(s.average_rate))
        if i < lo:
            continue
        if i >= hi:
            break
        np.frombuffer(f.planes[0], np.uint8)
        k += 1
print(k)
"""

PAPER = """
import sys, av, numpy as np
from multiprocessing import Pool
from skimage.feature import hog
HOG = {hog!r}
x, y, w, h = {face!r}

def one(frame):
    return hog(frame, channel_axis=None, **HOG).astype(np.float32)

def frames(path, n):
    with av.open(path) as c:
        for k, f in enumerate(c.decode(video=0)):
            if k >= n:
                return
            yield f.to_ndarray(format="gray")[y:y + h, x:x + w]

if __name__ == "__main__":
    path, n = sys.argv[1], int(sys.argv[2])
    with Pool(2) as pool:
        feats = np.stack(list(pool.imap(one, frames(path, n), chunksize=8)))
    protos = feats[::max(1, n // 3)][:3]
    a = feats - feats.mean(1, keepdims=True)
    p = protos - protos.mean(1, keepdims=True)
    r = (a @ p.T) / np.outer(np.linalg.norm(a, axis=1), np.linalg.norm(p, axis=1))
    print(len(r))
"""


def onsets(n_frames: int, fps: float = FPS) -> np.ndarray:
    """30 evenly spaced stimulus onsets (seconds)."""
    return np.linspace(4.0, n_frames / fps - 6.0, 30).round(3)


def face_frames(n: int, seed: int = 0):
    """``n`` 640x480 uint8 frames: a textured scene with fresh sensor noise in every frame,
    drifting by a slow random walk (at most ~3 px), whose 'face' region changes for 2 s after
    each onset (a patch of the texture brightens and blurs, one of three per condition)."""
    from scipy.ndimage import gaussian_filter, shift

    rng = np.random.default_rng(seed)
    big = gaussian_filter(rng.random((480 + 16, 640 + 16)), 1.5)
    big = (30 + 190 * (big - big.min()) / (big.max() - big.min())).astype(np.float32)
    walk = np.cumsum(rng.normal(0, 0.05, (n, 2)), axis=0)
    walk = 3 * np.tanh(walk / 3)
    yy, xx = np.mgrid[:480 + 16, :640 + 16]
    x0, y0, w, h = FACE
    patches = [np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 40.0 ** 2)).astype(np.float32)
               for cy, cx in ((y0 + 120, x0 + 130), (y0 + 260, x0 + 280), (y0 + 300, x0 + 100))]
    starts = (onsets(n) * FPS).astype(int)
    for i in range(n):
        img = big
        k = np.searchsorted(starts, i, side="right") - 1
        if k >= 0 and i < starts[k] + 2 * FPS:
            ramp = min(1.0, (i - starts[k]) / 10.0)
            img = big + ramp * 40 * patches[k % 3]
        img = shift(img, walk[i], order=1, mode="nearest")[8:488, 8:648]
        yield np.clip(img + rng.normal(0, 2.0, img.shape), 0, 255).astype(np.uint8)


def make_video(n_frames: int, seed: int = 0) -> Path:
    """The cached benchmark video of ``n_frames`` frames (written on first use)."""
    from mouseface.io.video import write_video

    path = CACHE / f"face_640x480_{n_frames}f_{seed}.mp4"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_video(path, face_frames(n_frames, seed), FPS)
        print(f"# wrote {path} ({n_frames} frames) in {time.perf_counter() - t0:.0f} s")
    return path


def tables(folder: Path, video: Path, n_frames: int) -> tuple[Path, Path]:
    """One session with the 400x400 face ROI and the 30 2-s events, 3 conditions."""
    folder.mkdir(parents=True, exist_ok=True)
    x, y, w, h = FACE
    pd.DataFrame({"session": ["s1"], "video": [str(video)], "animal": ["m1"],
                  "roi": [f"{x},{y},{w},{h}"]}).to_csv(folder / "sessions.csv", index=False)
    pd.DataFrame({"session": "s1", "onset": onsets(n_frames), "duration": 2.0,
                  "trial_type": [["sucrose", "quinine", "tail_shock"][i % 3]
                                 for i in range(30)]}).to_csv(folder / "events.csv",
                                                              index=False)
    return folder / "sessions.csv", folder / "events.csv"


def timed(cmd: list[str], **kw) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
    return time.perf_counter() - t0


def decode(video: Path, parts: int) -> float:
    t0 = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", DECODE, str(video), str(k), str(parts)],
                              stdout=subprocess.PIPE, text=True) for k in range(parts)]
    n = sum(int(p.communicate()[0]) for p in procs)
    wall = time.perf_counter() - t0
    return n / wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=9000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--paper-frames", type=int, default=1200)
    args = ap.parse_args()

    video = make_video(args.frames)
    work = Path(tempfile.mkdtemp(prefix="mouseface-bench-run-"))
    sessions, events = tables(work / "tables", video, args.frames)
    configs = {"run": None,
               "drift off": "[registration]\ndrift = false\n",
               "quality off": "[quality]\nenabled = false\n"}
    paths = {}
    for name, text in configs.items():
        if text is not None:
            p = work / f"{name.replace(' ', '_')}.toml"
            p.write_text(text)
            paths[name] = p
    paper_script = work / "paper.py"
    paper_script.write_text(PAPER.format(hog=HOG, face=FACE))
    exe = shutil.which("mouseface") or "mouseface"
    rows = []
    try:
        for rep in range(args.reps):
            row = {"decode 1 process": decode(video, 1), "decode 2 processes": decode(video, 2)}
            row["paper"] = args.paper_frames / timed([sys.executable, str(paper_script),
                                                      str(video), str(args.paper_frames)])
            for name in configs:
                out = work / f"out_{rep}_{name.replace(' ', '_')}"
                cmd = [exe, "run", str(sessions), str(events), "--out", str(out),
                       "--no-report", "-q"]
                if name in paths:
                    cmd += ["--config", str(paths[name])]
                row[name] = args.frames / timed(cmd)
                shutil.rmtree(out, ignore_errors=True)
            row["load"] = os.getloadavg()[0]
            rows.append(row)
            print(f"rep {rep}: " + "  ".join(f"{k} {v:.0f}" + ("" if k == "load" else " fps")
                                             for k, v in row.items()), flush=True)
        opens = _opens(exe, sessions, events, work, video)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nfile: {video.name} ({args.frames} frames 640x480, crf 18, 30 fps), face ROI "
          f"{FACE[2]}x{FACE[3]}, 30 events; cpus {os.cpu_count()}, load "
          f"{statistics.median(r['load'] for r in rows):.1f}; median of {len(rows)} reps")
    print("| pass | frames/s | / best decode | / paper |")
    print("|---|---:|---:|---:|")
    for name in ("decode 1 process", "decode 2 processes", "paper", *configs):
        fps = statistics.median(r[name] for r in rows)
        dec = statistics.median(r[name] / max(r["decode 1 process"], r["decode 2 processes"])
                                for r in rows)
        pap = statistics.median(r[name] / r["paper"] for r in rows)
        label = f"`mouseface run` ({name})" if name in configs else name
        print(f"| {label} | {fps:.0f} | {dec:.2f} | {pap:.1f} |")
    if opens is not None:
        size = video.stat().st_size
        print(f"\nvideo opened {opens[0]} times, {opens[1]} bytes read = {opens[1] / size:.2f} x "
              f"its size ({size} bytes), by `mouseface run` with defaults (strace)")


def _opens(exe: str, sessions: Path, events: Path, work: Path, video: Path):
    """(opens, bytes read) of the video by one default ``run`` under strace; None without
    strace."""
    from strace_opens import TRACE, count

    strace = shutil.which("strace")
    if strace is None:
        return None
    log = work / "strace.txt"
    subprocess.run([strace, "-f", "-e", f"trace={TRACE}", "-o", str(log), exe, "run",
                    str(sessions), str(events), "--out", str(work / "out_strace"),
                    "--no-report", "-q"], check=True, stdout=subprocess.DEVNULL)
    return count(str(video), str(log))


if __name__ == "__main__":
    main()
