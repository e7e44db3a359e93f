"""The renderer's Numba kernels compile once per experiment: ``simulate_experiment`` compiles
them (or loads them from the cache) before it forks its rendering workers, which inherit them
instead of each compiling the same kernels at the same time.

Compiles are counted with Numba's ``numba:compile`` event (fired only when a kernel is
compiled, not when it is loaded from the cache), by process, in a fresh cache folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

SCRIPT = r"""
import json, os, sys
from numba.core import event
from mouseface.synth import simulate_experiment

log = sys.argv[2]

class Count(event.Listener):
    def on_start(self, ev):
        with open(log, "a") as f:  # the forked workers write here too
            f.write(json.dumps([os.getpid(), ev.data["dispatcher"].py_func.__qualname__]) + "\n")
    def on_end(self, ev):
        pass

event.register("numba:compile", Count())
simulate_experiment(sys.argv[1], n_animals=1, conditions=("pleasure",), n_trials=1,
                    baseline_s=1.0, stimulus_s=1.0, iti_s=1.0, size=(48, 48), fear=True,
                    fear_shocks=1, fear_items={"grooming": 1}, workers=2)
print(os.getpid())
"""


def test_workers_compile_nothing(tmp_path):
    log = tmp_path / "compiled.jsonl"
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    parent = int(subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "exp"), str(log)],
                                env=env, check=True, capture_output=True, text=True
                                ).stdout.split()[-1])
    compiled = [json.loads(line) for line in log.read_text().splitlines()]
    assert {"_composite", "_finish", "_place"} <= {name for _, name in compiled}
    assert {pid for pid, _ in compiled} == {parent}  # the two workers compiled nothing
    assert len(list((tmp_path / "exp" / "videos").glob("*.mp4"))) == 2  # both rendered
