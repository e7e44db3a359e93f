"""Extraction on a real Dask cluster (2 worker processes) equals the local executor bit for bit,
and survives a worker killed in the middle of it."""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.fixtures.videos import moving_texture

from mouseface.io.store import FeatureStore
from mouseface.io.video import write_video
from mouseface.settings import load_settings
from mouseface.workflows import pipeline

pytestmark = pytest.mark.slow

CONFIG = dict(hog={"pixels_per_cell": 16}, prototypes={"baseline": 0.5, "n_frames": 3},
              compute={"chunk_size": 16})
ROI_A, ROI_B = "0,0,96,64", "32,32,96,64"


def write_dataset(folder: Path, n_frames: int = 96, n_videos: int = 2, *, height: int = 96,
                  width: int = 128, fps: float = 20.0, gop: int = 16) -> tuple[Path, Path]:
    """Videos with two sessions each (two ROIs of one size, two animals), events, tables.

    Every session gets four events of conditions ``a`` and ``b`` (``intensity`` carried).
    """
    folder.mkdir(parents=True, exist_ok=True)
    sessions, events = [], []
    duration = n_frames / fps
    for v in range(n_videos):
        video = write_video(folder / f"video{v}.mp4", moving_texture(n_frames, height, width,
                                                                     seed=v),
                            fps, keyframe_interval=gop, preset="ultrafast")
        for k, roi in enumerate((ROI_A, ROI_B)):
            s = f"v{v}_roi{k}"
            sessions.append({"session": s, "video": video.name, "animal": f"m{k}", "roi": roi})
            for j, t in enumerate(np.linspace(0.15, 0.8, 4) * duration):
                events.append({"session": s, "onset": round(float(t), 3), "duration": 0.5,
                               "trial_type": "ab"[j % 2], "intensity": j})
    pd.DataFrame(sessions).to_csv(folder / "sessions.csv", index=False)
    pd.DataFrame(events).to_csv(folder / "events.csv", index=False)
    return folder / "sessions.csv", folder / "events.csv"


def assert_same_results(a: Path, b: Path) -> None:
    """Features, frames and trials of two results folders are identical."""
    stores = sorted(p.name for p in (a / "features").glob("*.zarr"))
    assert stores == sorted(p.name for p in (b / "features").glob("*.zarr")) and stores
    for name in stores:
        x, y = FeatureStore(a / "features" / name), FeatureStore(b / "features" / name)
        assert x.complete and y.complete and x.n_frames == y.n_frames
        np.testing.assert_array_equal(x.read(), y.read())
        np.testing.assert_array_equal(x.time, y.time)
    pd.testing.assert_frame_equal(pd.read_parquet(a / "frames.parquet"),
                                  pd.read_parquet(b / "frames.parquet"), check_exact=True)
    assert (a / "trials.csv").read_bytes() == (b / "trials.csv").read_bytes()


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, scheduler_kwargs={"dashboard_address": ":0"},
                      silence_logs=logging.ERROR) as c:
        yield c


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Inputs and the local executor's results."""
    folder = tmp_path_factory.mktemp("dask")
    sessions, events = write_dataset(folder / "in")
    local = pipeline.run(sessions, events, folder / "local", settings=load_settings(**CONFIG),
                         quiet=True)
    return sessions, events, local


def _on_cluster(address: str):
    return load_settings(**{**CONFIG, "compute": {**CONFIG["compute"], "scheduler": address}})


def test_cluster_results_equal_the_local_executor_bit_for_bit(tmp_path, cluster, dataset):
    from distributed import Client, get_task_stream

    sessions, events, local = dataset
    with Client(cluster) as client, get_task_stream(client) as stream:
        out = pipeline.run(sessions, events, tmp_path / "dask",
                           settings=_on_cluster(cluster.scheduler_address), quiet=True)
    assert_same_results(local, out)
    tasks = [t for t in stream.data if str(t["key"]).startswith("mouseface-extract")]
    assert len(tasks) >= 4  # 6 chunks per video in ranges of 4 chunks: 2 tasks per video
    assert len({t["worker"] for t in tasks}) == 2  # both workers wrote


class _KillOnce:
    """Worker plugin: kills its worker 50 ms into the first extraction task still running then.

    Only once per cluster (a marker file, created atomically, says which task it was).
    """

    def __init__(self, marker: str):
        self.marker = marker

    def setup(self, worker):
        self.worker = worker

    def teardown(self, worker):
        pass

    def transition(self, key, start, finish, **kwargs):
        if finish == "executing" and str(key).startswith("mouseface-extract"):
            threading.Timer(0.05, self._kill_if_running, args=(key,)).start()

    def _kill_if_running(self, key):
        if not any(ts.key == key for ts in list(self.worker.state.executing)):
            return  # finished already: try the next task
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(key).encode())
        os.close(fd)
        os._exit(1)


def test_a_worker_killed_mid_extraction_does_not_spoil_the_run(tmp_path, cluster, dataset):
    from distributed import Client, WorkerPlugin

    sessions, events, local = dataset
    marker = tmp_path / "killed"
    plugin = type("KillOnce", (_KillOnce, WorkerPlugin), {})(str(marker))
    with Client(cluster) as client:
        client.register_plugin(plugin, name="kill-once")
        try:
            out = pipeline.run(sessions, events, tmp_path / "dask",
                               settings=_on_cluster(cluster.scheduler_address), quiet=True)
        finally:
            client.unregister_worker_plugin("kill-once")
    assert marker.read_text().startswith("mouseface-extract")  # a worker did die
    assert_same_results(local, out)


def test_workers_option_starts_a_local_cluster(tmp_path, dataset):
    """``mouseface run --workers 2``: a LocalCluster of 2 processes, the same results."""
    from typer.testing import CliRunner

    from mouseface.cli import app

    sessions, events, local = dataset
    config = tmp_path / "c.toml"
    config.write_text("[hog]\npixels_per_cell = 16\n[prototypes]\nbaseline = 0.5\n"
                      "n_frames = 3\n[compute]\nchunk_size = 16\n")
    out = tmp_path / "two"
    result = CliRunner().invoke(app, ["run", str(sessions), str(events), "--out", str(out),
                                      "--config", str(config), "--workers", "2", "-q"])
    assert result.exit_code == 0, result.output
    assert_same_results(local, out)
    assert json.loads((out / "run.json").read_text())["settings"]["compute"]["workers"] == 2
