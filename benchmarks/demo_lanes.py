"""How much of ``mouseface demo`` runs on one core, and its wall time on two idle cores.

Runs ``mouseface demo --out OUT -q`` and samples its process tree (the demo, its rendering
workers, its second process) every 0.1 s from ``/proc``: how many of its threads are runnable
(state R) and the CPU seconds it has used. CPU used while one thread was runnable is *serial*,
while two or more were, *parallel*; on two idle cores the demo would take about
``serial + parallel / 2`` seconds (start-up and waits for the disk aside). A busy machine slows
every thread but keeps which of them want a core, so the split holds under load better than
the wall time does (it is still an estimate: contention inflates CPU a little).

    python benchmarks/demo_lanes.py /tmp/demo_lanes            # run and sample
    python benchmarks/demo_lanes.py --samples samples.json       # the split of saved samples

The samples (``[time, runnable, cpu]`` rows) are written to ``OUT/lanes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _tree(root: int) -> set[int]:
    parents = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                stat = Path(f"/proc/{p}/stat").read_text()
                parents[int(p)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError):
                pass
    pids, grew = {root}, True
    while grew:
        grew = False
        for p, pp in parents.items():
            if pp in pids and p not in pids:
                pids.add(p)
                grew = True
    return pids


def sample(root: int) -> tuple[int, float]:
    """Runnable threads of ``root``'s tree and its CPU seconds (``root``'s reaped children
    included)."""
    runnable, ticks = 0, 0
    for p in _tree(root):
        try:
            f = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            ticks += int(f[11]) + int(f[12]) + (int(f[13]) + int(f[14]) if p == root else 0)
            for t in os.listdir(f"/proc/{p}/task"):
                if Path(f"/proc/{p}/task/{t}/stat").read_text().rsplit(")", 1)[1].split()[0] \
                        == "R":
                    runnable += 1
        except (OSError, ValueError, IndexError):
            pass
    return runnable, ticks / TICK


def split(rows: list) -> tuple[float, float]:
    """(serial, parallel) CPU seconds of ``[time, runnable, cpu]`` samples."""
    serial = parallel = 0.0
    for (_, r0, c0), (_, _, c1) in zip(rows, rows[1:], strict=False):
        d = max(c1 - c0, 0.0)  # a child's CPU leaves the sum until it is reaped
        if r0 <= 1:
            serial += d
        else:
            parallel += d
    return serial, parallel


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out", type=Path, nargs="?", help="the demo's folder (--out)")
    p.add_argument("--samples", type=Path, help="only print the split of saved samples")
    args = p.parse_args()
    if args.samples:
        rows = json.loads(args.samples.read_text())
    else:
        if args.out is None:
            p.error("give OUT, or --samples")
        with open("/proc/loadavg") as fh:
            load = fh.read().split()[0]
        proc = subprocess.Popen(["mouseface", "demo", "--out", str(args.out), "-q"],
                                stdout=subprocess.DEVNULL)
        rows, t0 = [], time.perf_counter()
        while proc.poll() is None:
            rows.append([round(time.perf_counter() - t0, 2), *sample(proc.pid)])
            time.sleep(0.1)
        if proc.returncode:
            sys.exit(f"the demo failed (exit {proc.returncode})")
        (args.out / "lanes.json").write_text(json.dumps(rows))
        print(f"wall {time.perf_counter() - t0:.1f} s at load {load}")
    serial, parallel = split(rows)
    print(f"cpu {serial + parallel:.1f} s: serial {serial:.1f} s, parallel {parallel:.1f} s; "
          f"on two idle cores about {serial + parallel / 2:.1f} s")


if __name__ == "__main__":
    main()
