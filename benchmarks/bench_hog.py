"""Piecewise: the HOG kernel against scikit-image frame by frame, on one core.

Run::

    python benchmarks/bench_hog.py [--batch 64] [--reps 7] [--sk-frames 16] [--append FILE]

Frames are 400x400 uint8: crops (rows 100-500, columns 300-700) of the real MouseFlow sample
video in ``../shared/data/real/mouseflow_sample`` when it is there, and a smooth random texture
with sensor noise (a synthetic stand-in for a face) in any case. Parameters are the paper's:
8 orientations, 32x32-pixel cells, 1x1 blocks, ``transform_sqrt=True``, L2-Hys.

Numba runs on one thread (``numba.set_num_threads(1)``); scikit-image is single-threaded. In each
repetition, :func:`mouseface.hog` takes one batch of ``--batch`` frames and
``skimage.feature.hog`` takes ``--sk-frames`` of them one by one, back to back, so that machine
load hits both alike. Printed: frames/s of each (best repetition), and the ratio
ours / scikit-image as the median over repetitions of the ratio within one repetition, in wall
time and in CPU time of this process (the fairer figure on a shared machine). Also printed: the
max abs difference between the two on the timed frames.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from pathlib import Path

import numba
import numpy as np
from skimage.feature import hog as sk_hog

from mouseface.features.hog import hog

PARAMS = dict(orientations=8, pixels_per_cell=(32, 32), cells_per_block=(1, 1),
              block_norm="L2-Hys", transform_sqrt=True)
REAL = (Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "real" /
        "mouseflow_sample" / "sample_body1_20190213_145358892_trim.mp4")


def real_frames(n: int) -> np.ndarray | None:
    """``n`` 400x400 uint8 crops of the real sample video (repeated if short), or None."""
    if not REAL.exists():
        return None
    import av

    frames = []
    with av.open(str(REAL)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="gray")[100:500, 300:700])
            if len(frames) == n:
                break
    reps = -(-n // len(frames))
    return np.ascontiguousarray(np.concatenate([np.stack(frames)] * reps)[:n])


def texture_frames(n: int, seed: int = 0) -> np.ndarray:
    """``n`` uint8 frames: a smooth random texture drifting a pixel a frame, plus noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    big = gaussian_filter(rng.random((400, 400 + n)), 4)
    big = 30 + 190 * (big - big.min()) / (big.max() - big.min())
    out = np.empty((n, 400, 400), dtype=np.uint8)
    for i in range(n):
        noisy = big[:, i:i + 400] + rng.normal(0, 2.0, (400, 400))
        out[i] = np.clip(noisy, 0, 255).astype(np.uint8)
    return out


def bench(frames: np.ndarray, reps: int, sk_frames: int) -> dict:
    hog(frames[:2], **PARAMS)  # compile (or load the cache) outside the timing
    sk_hog(frames[0], **PARAMS)
    ours_wall, ours_cpu, sk_wall, sk_cpu = [], [], [], []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        ours = hog(frames, **PARAMS)
        ours_cpu.append((time.process_time() - c) / len(frames))
        ours_wall.append((time.perf_counter() - w) / len(frames))
        w, c = time.perf_counter(), time.process_time()
        ref = [sk_hog(f, **PARAMS) for f in frames[:sk_frames]]
        sk_cpu.append((time.process_time() - c) / sk_frames)
        sk_wall.append((time.perf_counter() - w) / sk_frames)
    diff = float(np.abs(ours[:sk_frames] - np.stack(ref)).max())
    return {
        "ours_fps": 1 / min(ours_wall), "sk_fps": 1 / min(sk_wall),
        "ratio_wall": statistics.median(s / o for s, o in zip(sk_wall, ours_wall, strict=True)),
        "ratio_cpu": statistics.median(s / o for s, o in zip(sk_cpu, ours_cpu, strict=True)),
        "max_abs_diff": diff,
    }


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--sk-frames", type=int, default=16)
    parser.add_argument("--append", type=Path, help="append a Markdown section to this file")
    args = parser.parse_args(argv)
    numba.set_num_threads(1)

    sets = {"synthetic texture": texture_frames(args.batch)}
    real = real_frames(args.batch)
    if real is not None:
        sets["real (MouseFlow sample)"] = real
    load = os.getloadavg()[0]
    lines = [
        f"{platform.node()} ({os.cpu_count()} CPUs, load average {load:.1f} at the start), "
        f"numba threads {numba.get_num_threads()}, batch {args.batch}, "
        f"{args.reps} repetitions, scikit-image on {args.sk_frames} frames each",
        "",
        "| frames (400x400 uint8) | mouseface frames/s | scikit-image frames/s | "
        "ratio (wall) | ratio (CPU) | max abs diff |",
        "|---|---|---|---|---|---|",
    ]
    for name, frames in sets.items():
        r = bench(frames, args.reps, args.sk_frames)
        lines.append(f"| {name} | {r['ours_fps']:.0f} | {r['sk_fps']:.0f} | "
                     f"{r['ratio_wall']:.1f}x | {r['ratio_cpu']:.1f}x | "
                     f"{r['max_abs_diff']:.1e} |")
    text = "\n".join(lines)
    print(text)
    if args.append is not None:
        command = "python benchmarks/bench_hog.py " + " ".join(argv or [])
        with open(args.append, "a") as fh:
            fh.write(f"\n## HOG kernel vs scikit-image, one core: {datetime.date.today()}\n\n"
                     f"`{command.strip()}` on {text}\n\nTarget: ratio >= 40x.\n")
    return text


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
