"""How long the demo's synthetic experiment takes to render: before and after the fear session.

Runs ``simulate_experiment`` with the demo's arguments in fresh processes, alternating the two
versions (``--before``: a ``src`` folder of the older code, run with the old demo's arguments;
the code this script belongs to runs the current demo's), and prints wall and CPU seconds and
their ratios. Each run uses the demo's two rendering processes; CPU is the children's user +
system time, which the machine's load changes less than the wall time.

    python benchmarks/synth_render.py --before ../main/src --reps 2

``--demo`` runs the current demo's simulation with both trees (the same videos), to time a
change to the rendering itself:

    python benchmarks/synth_render.py --before /tmp/base/src --demo --reps 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "src"

OLD = """
from mouseface import synth
e = synth.simulate_experiment(OUT, n_animals=4, n_trials=6, seed=0)
print(len(e.truth))
"""
NEW = """
from mouseface import synth
from mouseface.workflows import demo as d
e = synth.simulate_experiment(OUT, n_animals=4, n_trials=4, seed=0,
                              conditions=d.DEMO_CONDITIONS, needs=d.DEMO_NEEDS, fear=True,
                              fear_shocks=4, fear_items=d.DEMO_FEAR_ITEMS, size=d.DEMO_SIZE,
                              preset="ultrafast", crf=21, keypoints=True)
print(len(e.truth))
"""


def run(src: Path, code: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "PYTHONPATH": str(src)}
        before = os.times()
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code.replace("OUT", repr(tmp))], env=env,
                             check=True, capture_output=True, text=True)
        wall = time.perf_counter() - t
        after = os.times()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*.mp4"))
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    return {"wall_s": wall, "cpu_s": cpu, "frames": int(out.stdout.split()[-1]),
            "video_mb": size / 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--before", type=Path, required=True, help="src folder of the older code")
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--demo", action="store_true",
                   help="run the current demo's simulation in both trees (the same output)")
    a = p.parse_args()
    rows = {"before": [], "after": []}
    load = os.getloadavg()[0]
    for _ in range(a.reps):
        rows["before"].append(run(a.before.resolve(), NEW if a.demo else OLD))
        rows["after"].append(run(HERE, NEW))
    print(f"load average at the start: {load:.1f}, at the end: {os.getloadavg()[0]:.1f}; "
          f"{a.reps} alternating repetitions")
    print("| | frames | video MB | wall s | CPU s | CPU ms per frame |")
    print("|---|---|---|---|---|---|")
    med = {}
    for name, rs in rows.items():
        wall = sorted(r["wall_s"] for r in rs)[len(rs) // 2]
        cpu = sorted(r["cpu_s"] for r in rs)[len(rs) // 2]
        med[name] = (wall, cpu)
        print(f"| {name} | {rs[0]['frames']} | {rs[0]['video_mb']:.0f} | {wall:.1f} | {cpu:.1f} "
              f"| {1000 * cpu / rs[0]['frames']:.2f} |")
    print(f"after / before: wall {med['after'][0] / med['before'][0]:.2f}, "
          f"CPU {med['after'][1] / med['before'][1]:.2f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
