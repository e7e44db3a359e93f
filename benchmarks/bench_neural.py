"""Speed of the circular-shift null: FFT cross-correlation against a loop of matrix products.

Run::

    python benchmarks/bench_neural.py [--neurons 1000] [--expressions 6] [--shifts 1000]
                                      [--minutes 30] [--fs 30] [--subset 50] [--reps 2]
                                      [--append benchmarks/RESULTS.md]

The problem of issue 5: 1 000 neurons × 6 expressions × 1 000 circular shifts on 30 minutes of
30 Hz imaging (54 000 frames), float32 traces, autocorrelated like ΔF/F. In one run:

- **full**: :func:`mouseface.neural.encoding.encode` on the whole problem (observed r, the null
  by FFT, p, Benjamini–Hochberg, preference, selectivity) with the circular null and
  ``--shifts`` shifts; target < 60 s on 2 cores.
- **default**: the same call with the default null (60-s high-pass, then the linear shift by
  every lag up to a quarter of the session: 27 000 lags here), in the same run.
- **subset**: the same call on the first ``--subset`` neurons, and on the same neurons the naive
  null: for each shift one matrix product of the z-scored traces with the rolled expressions
  (``X @ roll(Y, s).T / T``), counting exceedances the same way. The two must give identical
  p-values; the ratio naive / FFT is taken on that subset, passes interleaved.

Prints wall seconds, the subset ratio and the naive time extrapolated to all neurons (it scales
linearly in neurons). With ``--append`` the result goes to the end of the given Markdown file
with the command and date.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import signal


def make_problem(n_neurons: int, n_expr: int, n_frames: int, fs: float, seed: int = 0):
    """Autocorrelated float32 traces (AR(1), tau 1 s) and slow expression traces."""
    rng = np.random.default_rng(seed)
    a = np.exp(-1.0 / fs)
    x = signal.lfilter([1.0], [1.0, -a], rng.standard_normal((n_neurons, n_frames),
                                                             dtype=np.float32), axis=1)
    b = np.exp(-1.0 / (3 * fs))
    y = signal.lfilter([1.0], [1.0, -b], rng.standard_normal((n_expr, n_frames)), axis=1)
    return x.astype(np.float32), y


def naive_null_p(x: np.ndarray, y: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """p-values from a loop of one matrix product per shift (the approach the FFT replaces)."""
    n = x.shape[1]
    xz = (x - x.mean(1, keepdims=True)) / x.std(1, keepdims=True)
    yz = (y - y.mean(1, keepdims=True)) / y.std(1, keepdims=True)
    r = xz @ yz.T / n
    counts = np.zeros(r.shape, np.int64)
    for s in shifts:
        null = xz @ np.roll(yz, s, axis=1).T / n  # == corr(roll(x, -s), y)
        counts += np.abs(null) >= np.abs(r) - 1e-7
    return (1.0 + counts) / (1.0 + shifts.size)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--neurons", type=int, default=1000)
    p.add_argument("--expressions", type=int, default=6)
    p.add_argument("--shifts", type=int, default=1000)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--fs", type=float, default=30.0)
    p.add_argument("--subset", type=int, default=50)
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--append", type=Path, default=None)
    args = p.parse_args(argv)

    from mouseface.neural.encoding import encode

    warnings.simplefilter("ignore", UserWarning)  # p-floor advice
    n_frames = int(round(args.minutes * 60 * args.fs))
    x, y = make_problem(args.neurons, args.expressions, n_frames, args.fs)
    kw = dict(fs=args.fs, null="circular", n_shifts=args.shifts, min_shift=10.0, seed=0)
    print(f"{args.neurons} neurons x {args.expressions} expressions x {args.shifts} shifts, "
          f"{n_frames} frames ({args.minutes:g} min at {args.fs:g} Hz), "
          f"{os.cpu_count()} CPUs", flush=True)

    full, sub_fft, sub_naive, default = [], [], [], []
    for rep in range(args.reps):
        t0 = time.perf_counter()
        enc = encode(x, y, **kw)
        full.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        lin = encode(x, y, fs=args.fs)
        default.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        enc_sub = encode(x[: args.subset], y, **kw)
        sub_fft.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        p_naive = naive_null_p(x[: args.subset].astype(np.float64), y, enc_sub.shifts)
        sub_naive.append(time.perf_counter() - t0)
        same = np.array_equal(p_naive, enc_sub.p) or np.abs(p_naive - enc_sub.p).max() <= (
            1.0 / (1 + args.shifts))  # a tie at float32 precision may move one count
        print(f"rep {rep + 1}: full {full[-1]:.2f} s, default null {default[-1]:.2f} s "
              f"({lin.params['n_shifts']} lags) | subset of {args.subset}: FFT "
              f"{sub_fft[-1]:.2f} s, naive loop {sub_naive[-1]:.2f} s, same p: {same}",
              flush=True)
        if not same:
            sys.exit("FFT and naive p-values differ")
    ratios = [n / f for n, f in zip(sub_naive, sub_fft, strict=True)]
    res = {
        "full_s": statistics.median(full),
        "default_s": statistics.median(default),
        "subset_fft_s": statistics.median(sub_fft),
        "subset_naive_s": statistics.median(sub_naive),
        "ratio": statistics.median(ratios),
        "naive_full_extrapolated_s": statistics.median(sub_naive) * args.neurons / args.subset,
        "significant_pairs": int(enc.significant.sum()),
    }
    print(f"default null (linear, every lag): {res['default_s']:.2f} s")
    print(f"full problem: {res['full_s']:.2f} s (target < 60 s); naive loop / FFT on "
          f"{args.subset} neurons: {res['ratio']:.1f}x; naive loop extrapolated to "
          f"{args.neurons} neurons: {res['naive_full_extrapolated_s']:.0f} s")
    if args.append:
        cmd = "python benchmarks/bench_neural.py " + " ".join(argv if argv is not None
                                                              else sys.argv[1:])
        text = (
            f"\n## Shift nulls, speed (issues 5 and 15): {dt.date.today().isoformat()}\n\n"
            f"`{cmd.strip()}` on {platform.node() or 'this machine'} "
            f"({os.cpu_count()} CPUs, shared; load average {os.getloadavg()[0]:.1f} at the "
            f"end), median of {args.reps}:\n\n"
            f"| problem | FFT (mouseface) | naive loop of matrix products | ratio |\n"
            f"|---|---|---|---|\n"
            f"| {args.neurons} neurons × {args.expressions} expressions × {args.shifts} "
            f"shifts, {n_frames} frames | {res['full_s']:.1f} s | "
            f"≈ {res['naive_full_extrapolated_s']:.0f} s (extrapolated) | — |\n"
            f"| same, first {args.subset} neurons | {res['subset_fft_s']:.2f} s | "
            f"{res['subset_naive_s']:.2f} s | {res['ratio']:.1f}× |\n"
            f"| same problem, default null (60-s high-pass, linear shift by every lag) | "
            f"{res['default_s']:.1f} s | — | — |\n\n"
            f"Target: full problem < 60 s on 2 cores. Identical p-values from both methods on "
            f"the subset. The full time includes observed r, p, Benjamini–Hochberg, "
            f"preference and selectivity.\n")
        with open(args.append, "a", encoding="utf-8") as fh:
            fh.write(text)
    return res


if __name__ == "__main__":
    main()
