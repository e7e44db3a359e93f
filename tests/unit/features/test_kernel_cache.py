"""Numba compiles once: ``FaceSetup.load_kernels`` compiles (or loads from the on-disk cache)
every kernel the pass uses, a second process compiles nothing, and after it a pass over real
sizes compiles nothing either (so a run's "compile" stage holds all of it); its two parts,
compiled in two processes (as the demo does), leave nothing for a third.

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
kernels = []  # ours, with their signatures

class Count(event.Listener):
    def on_start(self, ev):
        func = ev.data["dispatcher"].py_func
        compiled.append(str(func.__qualname__))
        if func.__module__.startswith("mouseface"):
            kernels.append(f"{func.__qualname__}{tuple(map(str, ev.data['args']))}")
    def on_end(self, ev):
        pass

scope, part = sys.argv[1], sys.argv[2]
setup = FaceSetup.from_settings(Settings(), scope=scope)
roi = (200, 240)
from mouseface.features import face_setup
helpers = []  # whether load_kernels(beside=True) started a process
compile_beside = face_setup.compile_beside
def counted():
    helper = compile_beside()
    helpers.append(helper is not None)
    return helper
face_setup.compile_beside = counted
with event.install_listener("numba:compile", Count()):
    if part == "default":
        setup.load_kernels()
    elif part == "beside":
        setup.load_kernels([roi], beside=True)
        part = "all"
    else:
        setup.load_kernels([roi], part=part)
    in_load = list(compiled)
    if part not in ("default", "all"):
        print(json.dumps({"load": in_load, "after": [], "kernels": kernels, "helpers": helpers}))
        sys.exit()
    # a pass at a real face size after it: nothing left to compile
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (12, *setup.region_shape(roi)), dtype=np.uint8)
    template = np.roll(frames[0], 2, axis=0) if setup.align != "none" else None
    a = setup.alignment(frames[0], template, None)
    p = FacePass(setup.spec(roi, a, setup.calibrate(frames[:6], roi, a)))
    p.push(frames, np.arange(12), np.arange(12) / 30)
    p.flush()
print(json.dumps({"load": in_load, "after": compiled[len(in_load):], "kernels": kernels,
                  "helpers": helpers}))
"""


def _run(scope: str, cache: Path, part: str = "default") -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", SCRIPT, scope, part], env=env, check=True,
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
    assert second["load"] == second["after"] == []


def test_two_parts_leave_nothing_to_compile(tmp_path):
    # the kernels after the pass first, as the demo's second process compiles them beside
    # the first: the pass then finds the occlusion test's kernel in the cache
    other = _run("animal", tmp_path, "other")
    assert {"_occlusion_areas", "_add_pending", "_bilinear_translate"} <= set(other["load"])
    assert "_cell_sums" not in other["load"]
    passed = _run("animal", tmp_path, "pass")
    assert "_cell_sums" in passed["load"]
    assert not set(passed["kernels"]) & set(other["kernels"])  # each compiled once
    third = _run("animal", tmp_path, "all")
    assert third["load"] == third["after"] == []


def test_a_first_run_compiles_the_kernels_after_the_pass_in_a_second_process(tmp_path):
    # the run's compile stage (load_kernels(beside=True)): on a cold cache a second process
    # compiles the kernels after the pass while this one compiles the pass's; this one then
    # finds them in the cache. A second run starts no process and compiles nothing.
    first = _run("animal", tmp_path, "beside")
    assert first["helpers"] == [True]
    assert "_cell_sums" in first["load"]
    assert not {"_occlusion_areas", "_add_pending", "_mean_abs_diff"} & set(first["load"])
    assert first["after"] == []
    second = _run("animal", tmp_path, "beside")
    assert second["helpers"] == [False]
    assert second["load"] == second["after"] == []


class _Stop(Exception):
    pass


def test_the_occlusion_kernel_loads_on_a_small_reference(monkeypatch):
    # its compile depends on the arrays' types only; a 400-px crop's reference would cost
    # about a second of min/max filtering in every run's "compile" stage
    from mouseface.features import face_setup
    from mouseface.settings import Settings

    seen = []

    def record(frames, **kwargs):
        seen.append(frames.shape)
        raise _Stop

    monkeypatch.setattr(face_setup, "occlusion_reference", record)
    setup = face_setup.FaceSetup.from_settings(Settings(), scope="animal")
    with pytest.raises(_Stop):
        setup.load_kernels([(400, 400)], part="other")
    assert len(seen) == 1 and max(seen[0][1:]) <= 64


def test_a_failed_compile_leaves_no_process_behind(monkeypatch):
    import subprocess as sp

    from mouseface.features import face_setup
    from mouseface.settings import Settings

    helper = sp.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    monkeypatch.setattr(face_setup, "compile_beside", lambda: helper)

    def fail(spec):
        raise _Stop

    monkeypatch.setattr(face_setup, "FacePass", fail)
    setup = face_setup.FaceSetup.from_settings(Settings(), scope="animal")
    try:
        with pytest.raises(_Stop):
            setup.load_kernels([(64, 64)], beside=True)
        assert helper.poll() is not None  # killed and reaped, not left compiling
    finally:
        if helper.poll() is None:
            helper.kill()
            helper.wait()
