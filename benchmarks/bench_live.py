"""`mouseface live`: sustained rate and latency for a 400x400 and a 640x480 face.

Run::

    python benchmarks/bench_live.py [--reps 3] [--fps 200] [--seconds 6]

For each face size a synthetic experiment (two animals, one pain trial each, ``--fps`` frames/s,
the face filling the frame) is simulated and a model fitted on it with the default settings
(registration and drift correction, quality, HOG with the paper's 32-px cells), once, into
``$TMPDIR/mouseface-bench/live/``. Then, in one run, repetitions interleaved so that machine load
hits every pass alike, the command users run (``mouseface live MODEL --source VIDEO -q``, a
fresh process each time, LSL streaming in machine scope with no inlet connected) reads one
session out:

- **fast**: the file as fast as possible (``--calibrate 1``): the sustained rate, frames/s over
  the streamed part; its latency is the loop's own time per frame (arrival = when the loop takes
  the frame);
- **real time**: the same file delivered at its own rate (``--replay``, a camera at ``--fps``
  frames/s), calibrated from the fast run's ``calibration.npz`` (``--reference``, as a rig's
  later session would be): frames streamed and skipped, latency from the frame's arrival to its
  sample pushed, p50 and p99.

Every figure comes from the session's own record (``run.json``, ``live`` entry). A last table
splits one frame's CPU time (in-process, 300 frames, one core held for the loop as
``mouseface live`` holds it): the one-pass engine's per-frame call (``FacePass.push``: fill,
drift, warp, HOG, quality measures), the model's similarity and the expression-axis grades.
The drift columns time the drift estimate alone (``estimate_shifts`` against the session's
reference face) given one frame per call, as live gives it, and eight: the difference is what
preparing the reference (binning, window, spectrum) costs on every call.
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

import numpy as np

SIZES = {"400x400": (400, 400), "640x480": (480, 640)}  # face width x height -> (h, w)
LSL_CFG = ("[ports]\nIPv6 = disable\n[multicast]\nResolveScope = machine\n"
           "[lab]\nKnownPeers = {127.0.0.1}\n")


def cache_root() -> Path:
    return Path(os.environ.get("TMPDIR", tempfile.gettempdir())) / "mouseface-bench" / "live"


def make(size: tuple[int, int], fps: float, seconds: float) -> tuple[Path, Path]:
    """Simulated sessions and a model fitted on them (cached); returns (model, video)."""
    from mouseface.synth import simulate_experiment
    from mouseface.workflows import pipeline

    root = cache_root() / f"{size[1]}x{size[0]}-{fps:g}fps-{seconds:g}s"
    model, video = root / "model", root / "data" / "videos" / "m02_pain.mp4"
    if (model / "model" / "model.json").is_file() and video.is_file():
        return model, video
    shutil.rmtree(root, ignore_errors=True)
    e = simulate_experiment(root / "data", n_animals=2, conditions=("pain",), n_trials=1,
                            fps=fps, seed=5, size=size, baseline_s=2.0, stimulus_s=2.0,
                            iti_s=max(seconds - 4.0, 1.0))
    pipeline.fit(e.sessions_path, e.events_path, model, quiet=True)
    return model, video


def live(model: Path, video: Path, out: Path, env: dict, *extra: str) -> dict:
    exe = shutil.which("mouseface") or "mouseface"
    cmd = [exe, "live", str(model), "--source", str(video), "--record", str(out), "-q",
           "--name", f"bench-{out.name}", *extra]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env)
    return json.loads((out / "run.json").read_text())["live"]


def breakdown(model: Path, video: Path, n: int = 300) -> dict[str, float]:
    """CPU ms per frame of the one-pass engine's call and of the similarity, in-process."""
    from mouseface.io.video import open_video
    from mouseface.live import LiveReadout, one_core

    with open_video(video) as r:
        c = next(r.iter_chunks(chunk_size=200 + n))
    frames, times = c.frames, c.time
    readout = LiveReadout(model).calibrate(frames[:200], times[:200])
    push, sim, grade, whole, one, eight = [], [], [], [], [], []
    from mouseface.features.drift import estimate_shifts
    from mouseface.features.facepass import _drift_bin

    a = readout.pass_.spec.alignment
    regions = np.concatenate([readout.region(f) for f in frames[200:208]])
    b = _drift_bin(regions.shape[1:])
    with one_core():
        for _ in range(50):  # drift alone: one frame per call, or eight (the reference once)
            t0 = time.process_time()
            estimate_shifts(regions[:1], a.reference, bin=b)
            t1 = time.process_time()
            estimate_shifts(regions, a.reference, bin=b)
            one.append(t1 - t0)
            eight.append((time.process_time() - t1) / len(regions))
    with one_core():  # held for the loop, as `mouseface live` holds it
        for i in range(200, len(frames)):
            region = readout.region(frames[i])
            t0 = time.process_time()
            f = readout.pass_.push(region, np.array([i]), np.array([times[i]]))
            t1 = time.process_time()
            readout._similarity(readout._kept(f.hog))
            t2 = time.process_time()
            readout._grades(readout._kept(f.hog))
            t3 = time.process_time()
            readout.update(frames[i], times[i])
            push.append(t1 - t0)
            sim.append(t2 - t1)
            grade.append(t3 - t2)
            whole.append(time.process_time() - t3)
    return {"FacePass.push": 1e3 * statistics.median(push),
            "similarity": 1e3 * statistics.median(sim),
            "grades": 1e3 * statistics.median(grade),
            "update (all)": 1e3 * statistics.median(whole),
            "drift, 1 frame a call": 1e3 * statistics.median(one),
            "drift, 8 frames a call": 1e3 * statistics.median(eight)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--fps", type=float, default=200.0, help="the source's frame rate")
    ap.add_argument("--seconds", type=float, default=6.0, help="session length")
    args = ap.parse_args()

    made = {name: make(size, args.fps, args.seconds) for name, size in SIZES.items()}
    work = Path(tempfile.mkdtemp(prefix="mouseface-bench-live-"))
    cfg = work / "lsl_api.cfg"
    cfg.write_text(LSL_CFG)
    env = {**os.environ, "LSLAPICFG": str(cfg)}
    rows: dict[str, list[dict]] = {name: [] for name in SIZES}
    loads = [os.getloadavg()[0]]
    try:
        for rep in range(args.reps):
            for name, (model, video) in made.items():
                fast = live(model, video, work / f"fast_{name}_{rep}", env, "--calibrate", "1")
                ref = work / f"fast_{name}_{rep}" / "calibration.npz"
                real = live(model, video, work / f"real_{name}_{rep}", env, "--replay",
                            "--reference", str(ref))
                import pandas as pd

                f = pd.read_parquet(work / f"fast_{name}_{rep}" / "frames.parquet")
                f = f[f["window"] == ""]
                rows[name].append({"fast": fast, "real": real,
                                   "occlusion_share": float(f["occlusion"].notna().mean())})
                print(f"rep {rep} {name}: fast {fast['rate']:.0f} fps (loop p50 "
                      f"{fast['latency_ms']['p50']:.2f} ms); real time {real['processed']}/"
                      f"{real['received']} streamed, p50 {real['latency_ms']['p50']:.2f} ms, "
                      f"p99 {real['latency_ms']['p99']:.2f} ms", flush=True)
            loads.append(os.getloadavg()[0])
        parts = {name: breakdown(model, video) for name, (model, video) in made.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def med(name, kind, get):
        return statistics.median(get(r[kind]) for r in rows[name])

    print(f"\ncpus {os.cpu_count()}, load average {min(loads):.1f}-{max(loads):.1f} during the "
          f"run; median of {args.reps} reps; source {args.fps:g} frames/s, "
          f"{args.seconds:g} s sessions")
    print("| face | fast: frames/s | fast: loop ms p50 / p99 | real time: streamed "
          f"(of {args.fps:g}/s) | real time: latency p50 / p99 ms |")
    print("|---|---:|---:|---:|---:|")
    for name in SIZES:
        rate = med(name, "fast", lambda x: x["rate"])
        f50 = med(name, "fast", lambda x: x["latency_ms"]["p50"])
        f99 = med(name, "fast", lambda x: x["latency_ms"]["p99"])
        share = med(name, "real", lambda x: x["processed"] / x["received"])
        r50 = med(name, "real", lambda x: x["latency_ms"]["p50"])
        r99 = med(name, "real", lambda x: x["latency_ms"]["p99"])
        print(f"| {name} | {rate:.0f} | {f50:.2f} / {f99:.2f} | {100 * share:.1f} % | "
              f"{r50:.2f} / {r99:.2f} |")
    print("\n| face | CPU ms per frame: FacePass.push | similarity | grades | whole update | "
          "of the push, drift: 1 frame a call | drift: 8 frames a call |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, p in parts.items():
        print(f"| {name} | {p['FacePass.push']:.2f} | {p['similarity']:.3f} | "
              f"{p['grades']:.3f} | {p['update (all)']:.2f} | "
              f"{p['drift, 1 frame a call']:.2f} | {p['drift, 8 frames a call']:.2f} |")
    occ = {name: statistics.median(r["occlusion_share"] for r in rows[name]) for name in SIZES}
    print("\nocclusion test ran on (fast runs, streamed frames): "
          + ", ".join(f"{name} {100 * v:.0f} %" for name, v in occ.items()))


if __name__ == "__main__":
    sys.exit(main())
