"""Peak memory of extraction against video length: 20 000 frames, 10 minutes, 60 minutes.

Run::

    python benchmarks/bench_memory.py [--lengths 18000,20000,108000] [--roi full|face]

The videos are 640x480 H.264 at 30 fps: a 2000-frame clip of the benchmark texture (see
``bench_throughput.py``) is written once into the cache folder and repeated by remuxing its
packets (no re-encoding) to each length; nothing is committed. Each length runs in a fresh
subprocess that extracts the features of the whole frame (or the 400x400 face) into a new Zarr
store, then computes every frame's similarity to 3 prototypes from the store and keeps them, as
``mouseface run`` does; the subprocess reports its own peak RSS
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``), the same after its imports (the part of the
peak that extraction adds is the difference) and frames/s. A first subprocess loads the HOG
kernels once, so that none of the measured ones compiles them (compiling costs ~80 MiB).

Targets: flat (the 60-minute peak within 10 % of the 10-minute one), under 1 GiB, and the
20 000-frame case under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_throughput import CACHE, FACE, HOG, concat_video, make_video  # noqa: E402

CLIP = 2000


def child(video: str, store: str, roi: str) -> None:
    import numpy as np

    from mouseface.expressions.similarity import similarity
    from mouseface.features.extract import extract_features
    from mouseface.features.hog import hog

    hog(np.zeros((2, 64, 64), np.uint8), **HOG)  # compiled kernels loaded
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    st = extract_features(video, store, hog_params=HOG, roi=FACE if roi == "face" else None,
                          chunk_size=256)
    t1 = time.perf_counter()
    first = st.read(slice(0, 64))
    prototypes = first[::20][:3]
    sims = np.concatenate([similarity(x, prototypes) for _, x in st.iter_blocks()])
    t2 = time.perf_counter()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    size = sum(p.stat().st_size for p in Path(store).rglob("*") if p.is_file())
    print(json.dumps({"frames": int(st.n_frames), "sims": int(len(sims)), "peak_rss": rss,
                      "base_rss": base,
                      "extract_fps": st.n_frames / (t1 - t0), "store_bytes": size,
                      "similarity_s": t2 - t1}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lengths", default="18000,20000,108000",
                    help="frame counts, multiples of 2000 (10 min = 18000, 60 min = 108000)")
    ap.add_argument("--roi", choices=["full", "face"], default="full")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return

    clip = make_video(CLIP, seed=1)
    # Load (or compile and cache) the HOG kernels once, so that no measured child compiles.
    subprocess.run([sys.executable, "-c", "import numpy as np; from mouseface.features.hog "
                    "import hog; hog(np.zeros((2, 64, 64), np.uint8))"], check=True)
    work = Path(tempfile.mkdtemp(prefix="mouseface-mem-"))
    results = {}
    try:
        for n in (int(x) for x in args.lengths.split(",")):
            if n % CLIP:
                raise SystemExit(f"--lengths: {n} is not a multiple of {CLIP}")
            video = concat_video(clip, CACHE / f"texture_640x480_{n}f_1.mp4", n // CLIP)
            store = work / f"{n}.zarr"
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--child", str(video), str(store),
                                  args.roi], capture_output=True, text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[n] = r
            print(f"{n:6d} frames ({n / 30 / 60:5.1f} min): peak RSS "
                  f"{r['peak_rss'] / 2**20:6.0f} MiB (after imports "
                  f"{r['base_rss'] / 2**20:.0f})  extraction {r['extract_fps']:4.0f} fps  "
                  f"store {r['store_bytes'] / 2**20:5.0f} MiB  "
                  f"(wall {time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})",
                  flush=True)
            shutil.rmtree(store, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    peaks = {n: r["peak_rss"] for n, r in results.items()}
    if 18000 in peaks and 108000 in peaks:
        print(f"60 min / 10 min peak RSS: {peaks[108000] / peaks[18000]:.3f} (target <= 1.10)")
    print(f"largest peak: {max(peaks.values()) / 2**20:.0f} MiB (target < 1024 MiB)")
    if 20000 in peaks:
        print(f"20 000 frames: {peaks[20000] / 1e6:.0f} MB (target < 500 MB)")
    print(f"roi: {args.roi}; cpus {os.cpu_count()}; self peak (parent) "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
