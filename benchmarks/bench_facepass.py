"""Piecewise: the one pass's per-frame kernels (``FacePass``) on decoded frames, CPU per stage.

Run::

    python benchmarks/bench_facepass.py [--frames 1200] [--batch 23] [--reps 3]
    python benchmarks/bench_facepass.py --ab OLD_SRC [--reps 5]    # against another tree

On :mod:`bench_run`'s generated 3000-frame file (640x480 H.264, crf 18; the 400x400 face ROI
read with ``run``'s default 12-px margin), decoded once into memory; the session set up as
``mouseface run`` does by default (drift every 8th frame, quality measures, its calibration on
the first 60 frames), in batches of 23 frames (what ``run`` hands the pass for this ROI), one
Numba thread and one BLAS thread (``run``'s two ranges side by side on 2 cores). Printed per
repetition: the pass's CPU time (this thread's) per frame, split by stage (each stage function
timed by wrapping it), and a digest of every output (HOG, shifts, measures, registered crops)
for bit-identity checks.

With ``--ab OLD_SRC`` (an older ``src`` folder, e.g. from ``git archive``), this tree and
``OLD_SRC`` run in turns in fresh processes, so that machine load hits both alike; printed are
the medians and whether the digests agree.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = (("drift", "mouseface.features.drift", "ShiftEstimator.__call__"),
          ("warp", "mouseface.features.facepass", "warp_frames"),
          ("HOG", "mouseface.features.facepass", "hog"),
          ("quality", "mouseface.features.facepass", "FacePass._measures"),
          ("mask fill", "mouseface.features.facepass", "FacePass._filled"))


def region_frames(n: int) -> np.ndarray:
    """The first ``n`` frames of the 3000-frame bench file at the face region (cached .npy)."""
    from bench_run import make_video
    from bench_throughput import CACHE, FACE

    from mouseface.features.warp import expand_roi
    from mouseface.io.video import open_video

    path = CACHE / f"facepass_regions_{n}.npy"
    if path.is_file():
        return np.load(path)
    video = make_video(3000)
    roi = expand_roi(FACE, 12, (480, 640))
    with open_video(video, roi) as r:
        frames = np.concatenate([c.frames for c in r.iter_chunks(256, 0, n)])[:n]
    np.save(path, frames)
    return frames


def _wrap(timers: dict, name: str, module: str, attr: str) -> None:
    import importlib

    mod = importlib.import_module(module)
    owner, _, fn = attr.rpartition(".")
    holder = getattr(mod, owner) if owner else mod
    inner = getattr(holder, fn)

    def timed(*a, **k):
        t0 = time.thread_time()
        try:
            return inner(*a, **k)
        finally:
            timers[name] += time.thread_time() - t0

    setattr(holder, fn, timed)


def one(n: int, batch: int) -> dict:
    """One timed pass over ``n`` frames; what a child process prints (JSON)."""
    import numba
    from threadpoolctl import threadpool_limits

    from mouseface.features.drift import reference_face
    from mouseface.features.face_setup import FaceSetup
    from mouseface.features.facepass import FacePass
    from mouseface.settings import Settings

    numba.set_num_threads(1)
    threadpool_limits(limits=1, user_api="blas")  # as run's ranges side by side, and live
    frames = region_frames(n)
    setup = FaceSetup.from_settings(Settings(), scope="animal")
    setup.load_kernels()
    roi = (400, 400)
    base = frames[:60]
    alignment = setup.alignment(reference_face(base), None, None)
    spec = setup.spec(roi, alignment, setup.calibrate(base, roi, alignment))
    timers = dict.fromkeys([s[0] for s in STAGES], 0.0)
    for name, module, attr in STAGES:
        _wrap(timers, name, module, attr)
    digest = hashlib.blake2b(digest_size=12)
    p = FacePass(spec)
    t0 = time.thread_time()
    outs = []
    for s in range(0, n, batch):
        idx = np.arange(s, min(s + batch, n))
        outs.append(p.push(frames[s:s + batch], idx, idx / 100.0))
    outs.append(p.flush())
    cpu = time.thread_time() - t0
    for o in outs:
        if o is not None:
            for a in (o.index, o.hog, o.shift, o.measures, o.crops):
                digest.update(np.ascontiguousarray(a).tobytes())
    ms = {k: v * 1000 / n for k, v in timers.items()}
    ms["other"] = cpu * 1000 / n - sum(ms.values())
    ms["pass"] = cpu * 1000 / n
    return {"ms": ms, "digest": digest.hexdigest()}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=23)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ab", type=Path, help="an older src folder to run in turns with this one")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(one(args.frames, args.batch)))
        return
    region_frames(args.frames)  # decode once, before any timing
    here = Path(__file__).resolve().parents[1] / "src"
    trees = {"new": here} if args.ab is None else {"old": args.ab.resolve(), "new": here}
    got: dict[str, list] = {k: [] for k in trees}
    print(f"load average {os.getloadavg()[0]:.1f} at the start; {args.frames} frames, batch "
          f"{args.batch}, 1 Numba thread, CPU ms per frame (this thread)")
    for rep in range(args.reps):
        for name, src in trees.items():
            env = {**os.environ, "PYTHONPATH": str(src)}
            out = subprocess.run([sys.executable, __file__, "--child", "--frames",
                                  str(args.frames), "--batch", str(args.batch)], env=env,
                                 check=True, capture_output=True, text=True).stdout
            r = json.loads(out.strip().splitlines()[-1])
            got[name].append(r)
            print(f"rep {rep} {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in r["ms"].items())
                  + f"; digest {r['digest']}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    for name, rs in got.items():
        med = {k: statistics.median(r["ms"][k] for r in rs) for k in rs[0]["ms"]}
        print(f"median {name}: " + ", ".join(f"{k} {v:.3f}" for k, v in med.items()))
    if args.ab is not None:
        same = {r["digest"] for rs in got.values() for r in rs}
        print("outputs bit-identical" if len(same) == 1 else f"OUTPUTS DIFFER: {same}")


if __name__ == "__main__":
    main()
