"""Numba compiles once: ``FaceSetup.load_kernels`` compiles (or loads from the on-disk cache)
every kernel the pass uses, a second process compiles nothing, and after it a pass over real
sizes compiles nothing either (so a run's "compile" stage holds all of it).

Compiles are counted with Numba's own ``numba:compile`` event, which fires only when a kernel
is compiled, not when it is loaded from the cache.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = r"""
import json, sys
import numpy as np
from numba.core import event
from mouseface.settings import Settings
from mouseface.features.face_setup import FaceSetup
from mouseface.features.facepass import FacePass

compiled = []

class Count(event.Listener):
    def on_start(self, ev):
        compiled.append(str(ev.data["dispatcher"].py_func.__qualname__))
    def on_end(self, ev):
        pass

scope = sys.argv[1]
setup = FaceSetup.from_settings(Settings(), scope=scope)
with event.install_listener("numba:compile", Count()):
    setup.load_kernels()
    in_load = list(compiled)
    # a pass at a real face size after it: nothing left to compile
    rng = np.random.default_rng(1)
    roi = (200, 240)
    frames = rng.integers(0, 256, (12, *setup.region_shape(roi)), dtype=np.uint8)
    template = np.roll(frames[0], 2, axis=0) if setup.align != "none" else None
    a = setup.alignment(frames[0], template, None)
    p = FacePass(setup.spec(roi, a, setup.calibrate(frames[:6], roi, a)))
    p.push(frames, np.arange(12), np.arange(12) / 30)
    p.flush()
print(json.dumps({"load": in_load, "after": compiled[len(in_load):]}))
"""


def _run(scope: str, cache: Path) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, scope], env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("scope", ["animal", "all"])  # drift only; drift and alignment
def test_second_process_loads_every_kernel_from_the_cache(tmp_path, scope):
    first = _run(scope, tmp_path)
    assert first["load"], "a fresh cache folder must compile"
    assert "_cell_sums" in first["load"]  # the HOG kernel, among others
    assert "_occlusion_areas" in first["load"]  # runs only on frames far from neutral
    assert first["after"] == []  # load_kernels left nothing for the pass
    assert list(tmp_path.rglob("*.nbi")) and list(tmp_path.rglob("*.nbc"))
    second = _run(scope, tmp_path)
    assert second == {"load": [], "after": []}
