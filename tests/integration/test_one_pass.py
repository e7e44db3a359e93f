"""One pass over each video: what a default ``run`` opens, reads and decodes, counted at the
file and the decoder."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage

import mouseface.io.video as video_module
from mouseface.io.video import write_video
from mouseface.settings import load_settings
from mouseface.workflows import pipeline

N_FRAMES, GOP = 480, 60


@pytest.fixture(scope="module")
def face_video(tmp_path_factory):
    """A 240x320 H.264 texture drifting slowly (20 fps, keyframe every 60 frames), with two
    sessions of different ROIs in it, and 8 events."""
    folder = tmp_path_factory.mktemp("onepass")
    rng = np.random.default_rng(0)
    big = ndimage.gaussian_filter(rng.random((300, 380)), 1.5)
    big = (30 + 190 * (big - big.min()) / (big.max() - big.min())).astype(np.float32)

    def frames():
        for i in range(N_FRAMES):
            dy, dx = 20 + 3 * np.sin(i / 40), 20 + 3 * np.cos(i / 55)
            f = ndimage.shift(big, (dy - 20, dx - 20), order=1)[20:260, 20:340]
            yield np.clip(f + rng.normal(0, 2, f.shape), 0, 255).astype(np.uint8)

    video = write_video(folder / "face.mp4", frames(), 20.0, keyframe_interval=GOP)
    pd.DataFrame({"session": ["a", "b"], "video": [str(video)] * 2, "animal": ["m1", "m2"],
                  "roi": ["40,30,128,96", "150,100,128,96"]}).to_csv(folder / "s.csv",
                                                                     index=False)
    onsets = np.arange(8) * 2.8 + 2.5
    pd.DataFrame({"session": np.repeat(["a", "b"], 8)[:16],
                  "onset": np.r_[onsets, onsets], "duration": 1.0,
                  "trial_type": ["x", "y"] * 8}).to_csv(folder / "e.csv", index=False)
    return folder


#: Where the audit hook below records the files Python opens (None: not recording). An audit
#: hook stays for the life of the process, so it is installed once and switched by this.
_OPENED: list[list[str] | None] = [None]


def _audit(event: str, args: tuple) -> None:
    sink = _OPENED[0]
    if sink is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        sink.append(os.path.realpath(os.fsdecode(args[0])))


@pytest.fixture
def counted(monkeypatch):
    """Count every open of a file (Python's ``open`` and ``os.open``, by an audit hook;
    FFmpeg's own, by name at ``av.open``) and every frame out of a decoder."""
    import av

    opens, decoded = [], [0]
    real_open = av.open
    real_counted = video_module._AVSource._counted

    def counting_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opens.append(os.path.realpath(file))
        return real_open(file, *args, **kwargs)

    def counting_frames(self, frames):
        for frame in real_counted(self, frames):
            decoded[0] += 1
            yield frame

    if not getattr(_audit, "installed", False):
        sys.addaudithook(_audit)
        _audit.installed = True
    monkeypatch.setattr(av, "open", counting_open)
    monkeypatch.setattr(video_module._AVSource, "_counted", counting_frames)
    _OPENED[0] = opens
    try:
        yield opens, decoded
    finally:
        _OPENED[0] = None


@pytest.mark.parametrize("threads", [1, 2])
def test_a_default_run_decodes_each_frame_once(face_video, tmp_path, counted, threads):
    """The baseline pre-read opens the video once and decodes only baseline frames; its
    container then decodes the pass's first range (one decoder) and a second range opens the
    video once more: at most two opens. Every frame is decoded once by the pass, plus the
    lead-in from a keyframe where a range starts; the report decodes nothing."""
    opens, decoded = counted
    settings = load_settings(prototypes={"baseline": 1.0}, hog={"pixels_per_cell": 16},
                             compute={"chunk_size": 64, "threads": threads})
    pipeline.run(face_video / "s.csv", face_video / "e.csv", tmp_path / "out",
                 settings=settings, quiet=True, report=True)
    video = os.path.realpath(face_video / "face.mp4")
    n_opens = sum(p == video for p in opens)
    print(f"threads {threads}: {n_opens} opens, {decoded[0]} frames decoded of {N_FRAMES}")
    assert n_opens == threads, opens  # the pre-read's, and one per range after the first
    # pre-read: 8 baseline windows of 20 frames (+ 2 frames each side), each reached from the
    # keyframe before it or read through the gap, whichever decodes less; then every frame
    # once, and the second range's lead-in
    pre_read = decoded[0] - N_FRAMES - (threads - 1) * GOP
    assert 0 < pre_read <= 8 * (24 + GOP // 2 + 1), decoded[0]
    assert (tmp_path / "out" / "report.html").is_file()


RUN = """
import sys
from mouseface.settings import load_settings
from mouseface.workflows import pipeline
settings = load_settings(prototypes={"baseline": 1.0}, hog={"pixels_per_cell": 16},
                         compute={"chunk_size": 64, "threads": 2})
pipeline.run(sys.argv[1], sys.argv[2], sys.argv[3], settings=settings, quiet=True,
             report=False)
"""


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed: the "
                    "opens and bytes of another process are counted from its system calls")
def test_a_run_opens_each_video_twice_and_reads_it_about_once(face_video, tmp_path):
    """Counted by the kernel's view (strace) of a whole ``run`` in its own process with two
    range decoders: the video is opened at most twice and read at most 1.25x its size (the
    fingerprint's first and last MiB are read once and served to the decoder from memory)."""
    spec = importlib.util.spec_from_file_location(
        "strace_opens", Path(__file__).parents[2] / "benchmarks" / "strace_opens.py")
    strace_opens = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(strace_opens)
    log = tmp_path / "strace.txt"
    done = subprocess.run(["strace", "-f", "-e", f"trace={strace_opens.TRACE}", "-o", str(log),
                           sys.executable, "-c", RUN, str(face_video / "s.csv"),
                           str(face_video / "e.csv"), str(tmp_path / "out")],
                          capture_output=True, text=True)
    if done.returncode and "ptrace" in done.stderr:
        pytest.skip(f"strace cannot trace here: {done.stderr.strip().splitlines()[-1]}")
    assert done.returncode == 0, done.stderr[-2000:]
    video = face_video / "face.mp4"
    n_opens, n_bytes = strace_opens.count(str(video.resolve()), str(log))
    size = video.stat().st_size
    print(f"{n_opens} opens, {n_bytes} bytes read = {n_bytes / size:.2f} x {size}")
    assert 1 <= n_opens <= 2
    assert size <= n_bytes <= 1.25 * size
