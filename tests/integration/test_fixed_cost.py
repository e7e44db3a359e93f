"""What ``mouseface run`` does outside its pass: the libraries it loads and how it exits
(issue 22's fixed costs), counted in the process, not timed."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
from tests.integration.test_dask import write_dataset

#: The command line as the console script runs it, with two witnesses: an exit handler that
#: prints which of the estimators' libraries were loaded, and an object whose ``__del__`` runs
#: only in the interpreter's teardown.
SCRIPT = """
import atexit, sys, threading

class Teardown:
    def __del__(self):
        print("teardown", flush=True)

witness = Teardown()
atexit.register(lambda: print("loaded:", *sorted({"sklearn", "scipy.stats", "scipy.spatial"}
                                                 & set(sys.modules)), flush=True))
if sys.argv[1] == "--with-thread":  # a thread still running when the command returns
    sys.argv.pop(1)
    threading.Thread(target=lambda: (threading.Event().wait(0.5),
                                     print("thread done", flush=True))).start()
sys.argv = ["mouseface", *sys.argv[1:]]
from mouseface.cli import main
main()
"""

CONFIG = ("[hog]\npixels_per_cell = 16\n[prototypes]\nbaseline = 0.5\nn_frames = 3\n"
          "[compute]\nchunk_size = 16\n")


def _mouseface(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, *map(str, args)],
                          capture_output=True, text=True, timeout=300)


def test_run_scores_without_scikit_learn_and_skips_the_teardown(tmp_path):
    sessions, events = write_dataset(tmp_path / "in", n_frames=96, n_videos=1)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    out = tmp_path / "out"
    p = _mouseface("run", sessions, events, "--out", out, "--config", config, "--no-report",
                   "-q")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    # the exit handlers ran; none of these libraries was imported (scikit-image's transforms,
    # which load SciPy's spatial module, are not needed without an alignment onto a template)
    assert lines[-1] == "loaded:"
    assert "teardown" not in lines
    frames = pd.read_parquet(out / "frames.parquet")
    assert {"sim_neutral", "sim_a", "sim_b", "grade_a", "grade_b"} <= set(frames.columns)
    assert frames["sim_a"].notna().any()
    assert pd.read_csv(out / "trials.csv")[["score_a", "grade_b"]].notna().any().all()


def test_fit_still_fits_the_estimators(tmp_path):
    sessions, events = write_dataset(tmp_path / "in", n_frames=96, n_videos=1)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    p = _mouseface("fit", sessions, events, "--out", tmp_path / "model", "--config", config,
                   "-q")
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines()[-1] == "loaded: scipy.spatial scipy.stats sklearn"


def test_a_running_thread_keeps_the_usual_exit(tmp_path):
    p = _mouseface("--with-thread", "--version")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("mouseface ")
    # the usual exit: waits for the thread, runs the exit handlers, then tears down
    assert lines[1:] == ["thread done", "loaded:", "teardown"]


def test_what_c_code_printed_reaches_the_output(tmp_path):
    # C's stdout is fully buffered into a pipe (unless PYTHONUNBUFFERED), and os._exit drops
    # that buffer: the console script flushes it first
    script = ("import ctypes, sys; ctypes.CDLL(None).printf(b'from C\\n'); "
              "sys.argv = ['mouseface', '--version']; from mouseface.cli import main; main()")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    p = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                       timeout=120, env=env)
    assert p.returncode == 0, p.stderr
    assert sorted(p.stdout.splitlines()) == ["from C", f"mouseface {_version()}"]


def _version() -> str:
    from mouseface import __version__

    return __version__


def test_run_reads_each_stores_frame_times_once(tmp_path, monkeypatch):
    # the checks, labels, quality, windows and scoring share one read of each store's times
    from mouseface import run
    from mouseface.io.store import FeatureStore

    sessions, events = write_dataset(tmp_path / "in", n_frames=96, n_videos=1)
    config = tmp_path / "c.toml"
    config.write_text(CONFIG)
    reads: list[str] = []
    read_time = FeatureStore.time.fget

    def counted(store):
        reads.append(store.path.name)
        return read_time(store)

    monkeypatch.setattr(FeatureStore, "time", property(counted))
    results = run(sessions, events, tmp_path / "out", config, quiet=True, report=False)
    stores = sorted(p.name for p in (tmp_path / "out" / "features").iterdir())
    assert len(stores) == 2  # one video, two sessions
    assert sorted(reads) == stores
    assert results.frames["time"].notna().all()
