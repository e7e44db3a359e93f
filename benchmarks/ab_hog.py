"""Piecewise: this HOG kernel against an older copy of it, interleaved in one process, one core.

Run::

    git show REV:src/mouseface/features/hog.py > /tmp/hog_old.py
    python benchmarks/ab_hog.py /tmp/hog_old.py [--reps 9] [--batch 64]

Both modules take the frames of ``bench_hog.py`` (the synthetic texture and the real MouseFlow
crops, 400x400 uint8, the paper's parameters) in turns, two calls each, so that machine load
hits both alike, each first in every other repetition. Printed per set: CPU time per frame
of each (median over repetitions), the ratio old / new as the median of the ratios within one
repetition, and whether the two give equal features to the bit. CPU time (user + sys of this
process) is the fairer figure on a shared machine; the load average is printed before and
after. Two copies of one module give 0.91-1.01x: smaller differences are noise.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hog import PARAMS, real_frames, texture_frames  # noqa: E402

from mouseface.features import hog as new  # noqa: E402


def _load(path: Path):
    spec = importlib.util.spec_from_file_location("hog_old", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # Numba's cache finds the module by name
    spec.loader.exec_module(module)
    return module


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path, help="an older copy of src/mouseface/features/hog.py")
    parser.add_argument("--reps", type=int, default=9)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args(argv)
    numba.set_num_threads(1)
    old = _load(args.old)
    sets = {"synthetic texture": texture_frames(args.batch)}
    real = real_frames(args.batch)
    if real is not None:
        sets["real (MouseFlow sample)"] = real
    print(f"load average {os.getloadavg()[0]:.1f} at the start, numba threads 1, batch "
          f"{args.batch}, {args.reps} repetitions")
    for name, frames in sets.items():
        equal = np.array_equal(old.hog(frames, **PARAMS), new.hog(frames, **PARAMS))
        times = {old: [], new: []}
        for rep in range(args.reps):
            # each goes first in every other repetition: in a fixed order the module run first
            # measured 8-10 % faster than an identical copy run second
            for module in (old, new) if rep % 2 == 0 else (new, old):
                start = time.process_time()
                module.hog(frames, **PARAMS)
                module.hog(frames, **PARAMS)
                times[module].append((time.process_time() - start) / (2 * len(frames)))
        ratio = statistics.median(a / b for a, b in zip(times[old], times[new], strict=True))
        print(f"{name}: old {1e3 * statistics.median(times[old]):.3f} ms/frame, new "
              f"{1e3 * statistics.median(times[new]):.3f} ms/frame CPU; old / new {ratio:.2f}x; "
              f"bit-identical: {equal}")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main(sys.argv[1:])
