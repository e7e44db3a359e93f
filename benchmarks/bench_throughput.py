"""Piecewise: extraction (in-process) against decoding alone and the paper's approach.

Not the headline figure: users run the whole command, which ``bench_run.py`` times. This one
isolates extraction to find bottlenecks; its texture video sways by tens of pixels, far more
than a head-fixed face, and is the ``--video`` default of nothing else.

Run::

    python benchmarks/bench_throughput.py [--frames 1800] [--reps 3] [--paper-frames 480]

On one generated file (640x480 H.264 at 30 fps, a moving texture with sensor noise, written by
``mouseface.io.video.write_video`` into a cache folder, never committed), in one run, with the
passes interleaved so that machine load hits them alike:

- **decode**: PyAV alone (FFmpeg frame threading, as the reader uses it), the luma plane of every
  frame wrapped without a copy: the ceiling.
- **end-to-end**: :func:`mouseface.features.extract.extract_features` into a fresh Zarr store
  (decode, 400x400 face crop, HOG with the paper's parameters, store) and then the similarity of
  every frame to 3 prototypes read back from the store, as ``mouseface run`` does.
- **registered**: end-to-end with drift correction (``[registration] drift = true``, the
  default of ``mouseface run``): the ROI read with a 12-px margin, every frame's shift against
  the reference face (mean of the first 64 frames) by phase correlation, one warp, then HOG.
- **paper**: the same decoding and crop (the reader), ``skimage.feature.hog`` frame by frame in a
  2-process ``multiprocessing.Pool`` (the pool started beforehand), then the same similarity;
  on the first ``--paper-frames`` frames (it is slow).

``--video`` measures another file instead (e.g. the real MouseFlow sample in
``../shared/data/real``).

Prints frames/s of each and the ratios end-to-end / decode (target >= 0.85) and end-to-end /
paper (target >= 5), each the median over the repetitions of ratios taken within one
repetition, and the CPU milliseconds each pass spends per frame (all threads of this process;
the paper's workers are other processes, so its figure is left out). When other work keeps every
core busy, the wall ratio end-to-end / decode tends to the CPU ratio decode / end-to-end; on idle
cores the pipeline can hide HOG behind decoding only as far as decoding leaves a core free.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

HOG = dict(orientations=8, pixels_per_cell=(32, 32), cells_per_block=(1, 1),
           block_norm="L2-Hys", transform_sqrt=True)
FACE = (120, 40, 400, 400)  # x, y, w, h of the "face" in a 640x480 frame
CACHE = Path(os.environ.get("MOUSEFACE_BENCH_CACHE", Path(tempfile.gettempdir()) /
                            "mouseface-bench"))


# ---------------------------------------------------------------------------- the video


def texture_frames(n: int, height: int = 480, width: int = 640, seed: int = 0):
    """``n`` uint8 frames: a smooth random texture drifting and swaying, plus sensor noise."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    big = gaussian_filter(rng.random((height + 64, width + 96)), 3)
    big = (30 + 190 * (big - big.min()) / (big.max() - big.min())).astype(np.float32)
    noise = rng.normal(0, 2.0, (17, height, width)).astype(np.float32)
    for i in range(n):
        dy = int(32 + 24 * np.sin(i / 15))
        dx = int(48 + 40 * np.cos(i / 23))
        frame = big[dy:dy + height, dx:dx + width] + noise[i % len(noise)]
        yield np.clip(frame, 0, 255).astype(np.uint8)


def make_video(n_frames: int, *, fps: float = 30.0, seed: int = 0) -> Path:
    """The cached benchmark video of ``n_frames`` 640x480 frames (written on first use)."""
    from mouseface.io.video import write_video

    path = CACHE / f"texture_640x480_{n_frames}f_{seed}.mp4"
    if not path.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        write_video(path, texture_frames(n_frames, seed=seed), fps)
        print(f"# wrote {path} ({n_frames} frames) in {time.perf_counter() - t0:.0f} s")
    return path


def concat_video(src: Path, dst: Path, times: int) -> Path:
    """``src`` repeated ``times`` times into ``dst`` by remuxing its packets (no re-encoding)."""
    import av

    if dst.is_file():
        return dst
    tmp = dst.with_name(dst.name + ".part.mp4")
    with av.open(str(src)) as inp:
        ist = inp.streams.video[0]
        packets = [p for p in inp.demux(ist) if p.size]
        step = next(p.duration for p in packets if p.duration)
        span = max(p.pts for p in packets) - min(p.pts for p in packets) + step
        with av.open(str(tmp), "w", options={"movflags": "+faststart"}) as out:
            ost = out.add_stream_from_template(ist)
            for k in range(times):
                for p in packets:
                    q = av.Packet(bytes(p))
                    q.pts, q.dts, q.duration = p.pts + k * span, p.dts + k * span, p.duration
                    q.is_keyframe = p.is_keyframe
                    q.time_base = ist.time_base
                    q.stream = ost
                    out.mux(q)
    tmp.rename(dst)
    return dst


# ---------------------------------------------------------------------------- the passes


def _timed(fn):
    """frames/s and CPU milliseconds per frame (this process, all its threads)."""
    c0, t0 = time.process_time(), time.perf_counter()
    n = fn()
    wall = time.perf_counter() - t0
    return n / wall, 1000 * (time.process_time() - c0) / n


def decode_only(path: Path) -> int:
    import av

    n = 0
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            np.frombuffer(frame.planes[0], np.uint8)
            n += 1
    return n


def end_to_end(path: Path, store: Path, prototypes: np.ndarray, alignment=None) -> int:
    from mouseface.expressions.similarity import similarity
    from mouseface.features.extract import extract_features

    shutil.rmtree(store, ignore_errors=True)
    st = extract_features(path, store, hog_params=HOG, roi=FACE, chunk_size=256,
                          alignment=alignment)
    n = 0
    for _, x in st.iter_blocks():
        n += len(similarity(x, prototypes))
    return n


def _skimage_hog(frame: np.ndarray) -> np.ndarray:
    from skimage.feature import hog

    return hog(frame, channel_axis=None, **HOG).astype(np.float32)


def paper(path: Path, pool, n_frames: int, prototypes: np.ndarray) -> int:
    from mouseface.expressions.similarity import similarity
    from mouseface.io.video import open_video

    def frames():
        with open_video(path, roi=FACE) as reader:
            for chunk in reader.iter_chunks(64, stop=n_frames):
                yield from chunk.frames

    feats = np.stack(list(pool.imap(_skimage_hog, frames(), chunksize=8)))
    return len(similarity(feats, prototypes))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=1800)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--paper-frames", type=int, default=480)
    ap.add_argument("--video", type=Path, help="measure this file instead of the generated one "
                    "(at least 520x440 pixels for the 400x400 face ROI)")
    args = ap.parse_args()

    from mouseface.features.hog import hog
    from mouseface.io.video import open_video

    path = args.video or make_video(args.frames)
    with open_video(path, roi=FACE) as r:
        first = next(r.iter_chunks(64)).frames
    prototypes = hog(first[::20], **HOG)[:3]  # three frames' HOGs as "prototypes"
    hog(first[:2], **HOG)  # compile outside the timings
    from mouseface.features.alignment import Alignment, reference_faces

    ref, = reference_faces(path, [FACE], [None], margin=12, max_frames=64)
    drift = Alignment(12, None, ref)
    drift.apply(np.zeros((2, *ref.shape), np.uint8), (FACE[3], FACE[2]))  # compile
    work = Path(tempfile.mkdtemp(prefix="mouseface-bench-"))
    ctx = mp.get_context("spawn")
    rows, cpu = [], []
    try:
        with ctx.Pool(2) as pool:
            pool.map(_skimage_hog, list(first[:4]))  # start and import outside the timings
            for rep in range(args.reps):
                dec, dec_cpu = _timed(lambda: decode_only(path))
                e2e, e2e_cpu = _timed(lambda: end_to_end(path, work / "s.zarr", prototypes))
                reg, reg_cpu = _timed(lambda: end_to_end(path, work / "r.zarr", prototypes,
                                                         drift))
                pap, pap_cpu = _timed(lambda: paper(path, pool, args.paper_frames, prototypes))
                rows.append((dec, e2e, pap, reg))
                print(f"rep {rep}: decode {dec:5.0f} fps ({dec_cpu:.2f} cpu-ms/frame)  "
                      f"end-to-end {e2e:5.0f} fps ({e2e_cpu:.2f})  paper {pap:4.0f} fps  "
                      f"registered {reg:5.0f} fps ({reg_cpu:.2f})  "
                      f"e2e/decode {e2e / dec:.2f}  e2e/paper {e2e / pap:.1f}  "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)
                cpu.append((dec_cpu, e2e_cpu))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r_dec = statistics.median(e / d for d, e, _, _ in rows)
    r_pap = statistics.median(e / p for _, e, p, _ in rows)
    r_reg = statistics.median(g / d for d, _, _, g in rows)
    with open_video(path) as r:
        what = f"{r.n_frames} frames {r.frame_shape[1]}x{r.frame_shape[0]} {r.pixel_format}"
    print(f"file: {path.name}, {what}, face ROI {FACE[2]}x{FACE[3]}, cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"end-to-end / decode-only: {r_dec:.2f} (target >= 0.85)")
    print(f"end-to-end / paper (skimage, 2-process pool): {r_pap:.1f} (target >= 5)")
    print(f"registered (drift-corrected) end-to-end / decode-only: {r_reg:.2f}")
    d, e = (statistics.median(c[i] for c in cpu) for i in (0, 1))
    print(f"CPU per frame: decode {d:.2f} ms, end-to-end {e:.2f} ms (ratio {d / e:.2f}: the "
          "wall ratio when every core is contended)")


if __name__ == "__main__":
    main()
