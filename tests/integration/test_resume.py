"""Interrupted extractions resume where they stopped: in process, and ``mouseface run`` killed
from outside (issue 2's acceptance)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.fixtures.videos import moving_texture
from tests.integration.test_dask import assert_same_results, write_dataset
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.features.extract import extract_features
from mouseface.features.hog import hog
from mouseface.io.store import FeatureStore
from mouseface.io.video import open_video, write_video

pytestmark = pytest.mark.slow

HOG = dict(orientations=8, pixels_per_cell=(16, 16), cells_per_block=(1, 1),
           block_norm="L2-Hys", transform_sqrt=True)
CONFIG = ("[hog]\npixels_per_cell = 16\n[prototypes]\nbaseline = 0.5\nn_frames = 3\n"
          "[compute]\nchunk_size = 16\n")


class Interrupt(Exception):
    pass


def test_interrupted_long_extraction_decodes_only_the_remaining_chunks(tmp_path):
    n, chunk, gop = 900, 32, 50  # chunk starts fall between keyframes: a short lead-in
    video = write_video(tmp_path / "long.mp4", moving_texture(n, 64, 96, seed=5), 30.0,
                        keyframe_interval=gop, preset="ultrafast")
    whole = extract_features(video, tmp_path / "whole.zarr", hog_params=HOG, chunk_size=chunk)

    calls = []

    def stop_after_ten_chunks(frames: int) -> None:
        calls.append(frames)
        if sum(calls) >= 10 * chunk:
            raise Interrupt

    path = tmp_path / "resumed.zarr"
    with pytest.raises(Interrupt):
        extract_features(video, path, hog_params=HOG, chunk_size=chunk,
                         on_frames=stop_after_ten_chunks)
    left = FeatureStore(path).pending_chunks()
    assert left == list(range(10, -(-n // chunk)))  # chunks 0-9 done, nothing half-written

    st = extract_features(video, path, hog_params=HOG, chunk_size=chunk)
    stats = st.extraction
    remaining = n - 10 * chunk
    lead_in = 10 * chunk - (10 * chunk // gop) * gop  # from the keyframe before frame 320
    assert stats["runs"][0][0] == 10 * chunk
    assert stats["frames_decoded"] == remaining + lead_in  # 580 + 20, not 900
    assert stats["chunks_written"] == len(left)
    assert st.complete and st.n_frames == n
    np.testing.assert_array_equal(st.read(), whole.read())
    np.testing.assert_array_equal(st.time, whole.time)
    with open_video(video) as r:  # and both equal HOG straight from the reader
        ref = np.concatenate([hog(c.frames, **HOG) for c in r.iter_chunks(300)])
    np.testing.assert_array_equal(st.read(), ref)


# --------------------------------------------------------------------------- the CLI


def _complete(store: Path) -> bool:
    try:
        meta = json.loads((store / "zarr.json").read_text())
    except (OSError, ValueError):
        return False
    return bool(meta.get("attributes", {}).get("complete"))


def _mtimes(folder: Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): p.stat().st_mtime_ns
            for p in folder.rglob("*") if p.is_file()}


#: ``mouseface`` that SIGKILLs itself as it is about to write chunk ARGV[2] of store ARGV[1]
#: (the rest of the arguments are the command's).
KILL_AT_CHUNK = """
import os, signal, sys
from mouseface.io.store import FeatureStore
store, chunk = sys.argv[1], int(sys.argv[2])
write = FeatureStore.write_chunk
def write_chunk(self, i, *args, **kwargs):
    if self.path.name == store and i == chunk:
        os.kill(os.getpid(), signal.SIGKILL)
    return write(self, i, *args, **kwargs)
FeatureStore.write_chunk = write_chunk
sys.argv = ["mouseface", *sys.argv[3:]]
from mouseface.cli import main
main()
"""


def _run(*args) -> None:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output


def test_mouseface_run_killed_during_extraction_resumes(tmp_path):
    sessions, events = write_dataset(tmp_path / "in", n_frames=480, n_videos=3)
    config = tmp_path / "in" / "c.toml"
    # one decoder at a time, so the videos are extracted in order and the kill can land in the
    # second one; the clean run compared with at the end uses every core
    config.write_text(CONFIG + "threads = 1\n")
    clean_config = tmp_path / "in" / "clean.toml"
    clean_config.write_text(CONFIG)
    out = tmp_path / "out"
    feats = out / "features"
    first = [feats / "v0_roi0.zarr", feats / "v0_roi1.zarr"]  # one video, two sessions
    second = feats / "v1_roi0.zarr"

    # the run kills itself (SIGKILL, as `kill -9` would) when it is about to write chunk 2 of
    # the second video's store: the same point on any machine, where polling for it from here
    # would race the run
    proc = subprocess.run(
        [sys.executable, "-c", KILL_AT_CHUNK, second.name, "2", "run", str(sessions),
         str(events), "--out", str(out), "--config", str(config), "-q"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stdout + proc.stderr
    assert not (out / "frames.parquet").exists()
    assert not _complete(second)
    done_before = FeatureStore(second).done_mask()
    assert np.flatnonzero(done_before).tolist() == [0, 1]  # killed where it was told
    assert all(_complete(s) for s in first)
    kept = {s.name: _mtimes(s) for s in first}
    chunks_before = {k: v for k, v in _mtimes(second / "hog").items()
                     if k.startswith("c") and int(Path(k).parts[1]) in np.flatnonzero(done_before)}
    assert len(chunks_before) == done_before.sum()

    _run("run", sessions, events, "--out", out, "--config", config, "-q")

    for s in first:  # finished sessions reused untouched
        assert _mtimes(s) == kept[s.name]
    after = _mtimes(second / "hog")
    assert {k: after[k] for k in chunks_before} == chunks_before  # finished chunks kept
    assert all(_complete(p) for p in feats.glob("*.zarr"))

    _run("run", sessions, events, "--out", tmp_path / "whole", "--config", clean_config, "-q")
    assert_same_results(tmp_path / "whole", out)
