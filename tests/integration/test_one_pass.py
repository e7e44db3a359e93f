"""One pass over each video: what a default ``run`` opens and decodes, counted at the decoder."""

from __future__ import annotations

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


@pytest.fixture
def counted(monkeypatch):
    """Count every reader opened on a video and every frame out of a decoder."""
    opens, decoded = [], [0]
    real_init = video_module.VideoReader.__init__
    real_decode = video_module._AVSource._decode

    def counting_init(self, source, roi=None):
        opens.append(str(source.path))
        real_init(self, source, roi)

    def counting_decode(self, container, stream):
        for frame in real_decode(self, container, stream):
            decoded[0] += 1
            yield frame

    monkeypatch.setattr(video_module.VideoReader, "__init__", counting_init)
    monkeypatch.setattr(video_module._AVSource, "_decode", counting_decode)
    return opens, decoded


@pytest.mark.parametrize("threads", [1, 2])
def test_a_default_run_decodes_each_frame_once(face_video, tmp_path, counted, threads):
    """The baseline pre-read opens the video once and decodes only baseline frames; the pass
    opens it once per decoder (``[compute] threads``) and decodes every frame once, plus the
    lead-in from a keyframe where a range starts; the report decodes nothing."""
    opens, decoded = counted
    settings = load_settings(prototypes={"baseline": 1.0}, hog={"pixels_per_cell": 16},
                             compute={"chunk_size": 64, "threads": threads})
    pipeline.run(face_video / "s.csv", face_video / "e.csv", tmp_path / "out",
                 settings=settings, quiet=True, report=True)
    video = str(face_video / "face.mp4")
    n_opens = sum(p == video for p in opens)
    assert n_opens == 1 + threads, opens  # the pre-read, then one decoder per range
    # pre-read: 8 baseline windows of 20 frames (+ 2 frames each side), each reached from the
    # keyframe before it or read through the gap, whichever decodes less; then every frame
    # once, and the second range's lead-in
    pre_read = decoded[0] - N_FRAMES - (threads - 1) * GOP
    print(f"threads {threads}: {n_opens} readers, {decoded[0]} frames decoded of {N_FRAMES}")
    assert 0 < pre_read <= 8 * (24 + GOP // 2 + 1), decoded[0]
    assert (tmp_path / "out" / "report.html").is_file()
