"""Live sources: the latest-frame hand-off, replay at the video's own rate, cameras, streams that
end or stall."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.io.video import open_video, write_video
from mouseface.live.sources import (
    Frame,
    Grabber,
    LatestFrame,
    SourceEnded,
    SourceStalled,
    capture_time,
    open_source,
)


def _frame(i: int) -> Frame:
    return Frame(i, i / 10, float(i), float(i), np.zeros((2, 2), np.uint8))


def test_latest_frame_keeps_only_the_newest_and_counts_the_rest():
    slot = LatestFrame()
    for i in range(5):
        assert slot.put(_frame(i))
    item, skipped = slot.take(timeout=0.1)
    assert (item.index, skipped) == (4, 4)
    slot.put(_frame(5))
    item, skipped = slot.take(timeout=0.1)
    assert (item.index, skipped) == (5, 0)


def test_latest_frame_raises_stalled_then_the_end_once_empty():
    slot = LatestFrame()
    t0 = time.monotonic()
    with pytest.raises(SourceStalled):
        slot.take(timeout=0.2)
    assert time.monotonic() - t0 >= 0.2  # not before its timeout (a busy machine: later)
    slot.put(_frame(0))
    slot.end(SourceEnded("end of file"))
    assert slot.take(timeout=0.1)[0].index == 0  # the last frame is still delivered
    with pytest.raises(SourceEnded, match="end of file"):
        slot.take(timeout=0.1)


def test_a_waiting_slot_blocks_the_producer_and_loses_nothing():
    slot = LatestFrame(wait=True)
    got = []

    def produce():
        for i in range(50):
            slot.put(_frame(i))
        slot.end(SourceEnded("end of file"))

    t = threading.Thread(target=produce)
    t.start()
    with pytest.raises(SourceEnded):
        while True:
            item, skipped = slot.take(timeout=60.0)  # a hang guard, not a pace
            assert skipped == 0
            got.append(item.index)
            time.sleep(0.001)
    t.join()
    assert got == list(range(50))


def test_closing_the_slot_releases_a_waiting_producer():
    slot = LatestFrame(wait=True)
    slot.put(_frame(0))
    done = threading.Event()
    t = threading.Thread(target=lambda: (slot.put(_frame(1)), done.set()))
    t.start()
    time.sleep(0.1)
    assert not done.is_set()
    assert slot.close() == 1  # one frame left untaken
    t.join(60.0)
    assert done.is_set()


def test_capture_time_uses_the_device_clock_when_it_matches_one():
    assert capture_time(99.5, arrival=100.0, wall=5e8) == 99.5
    assert capture_time(5e8 - 0.02, arrival=100.0, wall=5e8) == pytest.approx(99.98)
    assert capture_time(3.0, arrival=100.0, wall=5e8) == 100.0  # stream-relative: arrival
    assert capture_time(None, arrival=100.0, wall=5e8) == 100.0


def test_no_camera_at_the_path_is_one_line_naming_it():
    with pytest.raises(InputError, match=r"^/dev/video77: no camera at this path") as e:
        open_source("/dev/video77")
    assert "\n" not in str(e.value)


def test_a_device_that_is_not_a_camera_is_one_line():
    with pytest.raises(InputError, match=r"^/dev/null: cannot open the camera \(") as e:
        open_source("/dev/null")
    assert "\n" not in str(e.value)


def test_a_missing_file_is_one_line(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        open_source(tmp_path / "nope.mp4")


def _drain(source, clock=time.monotonic):
    slot = LatestFrame(wait=source.wait)
    g = Grabber(source, slot, clock)
    g.start()
    out = []
    try:
        while True:
            out.append(slot.take(timeout=60.0))  # a hang guard, not a pace
    except SourceEnded as end:
        return out, end.reason
    finally:
        g.stop()


def test_fast_replay_gives_every_frame_as_the_offline_reader(moving_video):
    frames, reason = _drain(open_source(moving_video))
    assert reason == "end of file"
    with open_video(moving_video) as r:
        c = next(r.iter_chunks(chunk_size=1000))
    assert [f.index for f, _ in frames] == list(range(len(c.index)))
    assert sum(s for _, s in frames) == 0
    np.testing.assert_array_equal(np.stack([f.image for f, _ in frames]), c.frames)
    np.testing.assert_array_equal([f.time for f, _ in frames], c.time)
    # capture times: the first arrival plus each frame's own time
    cap = np.array([f.capture for f, _ in frames])
    np.testing.assert_allclose(cap - cap[0], c.time, atol=1e-9)


def test_replay_delivers_frames_at_the_video_rate(tmp_path, moving_frames):
    video = write_video(tmp_path / "fast.mp4", moving_frames[:40], 100.0)
    t0 = time.monotonic()
    frames, _ = _drain(open_source(video, replay=True))
    wall = time.monotonic() - t0
    # every frame handed over or counted (a stalled test process may miss some at 100/s)
    assert len(frames) + sum(s for _, s in frames) == 40
    assert frames[-1][0].index == 39
    arrival = np.array([f.arrival for f, _ in frames])
    due = np.array([f.time for f, _ in frames])
    # 39 intervals of 10 ms at least (a busy machine may deliver later, never sooner)
    assert arrival[-1] - arrival[0] >= 0.39 - 2e-3
    assert wall >= 0.35
    # never early: each frame arrives at or after its due time
    assert np.all(arrival - arrival[0] >= due - due[0] - 2e-3)


def _y4m_writer(path, n_frames, *, hold: threading.Event | None = None, size=(48, 64)):
    """Write a gray y4m stream into a named pipe; with ``hold``, keep the pipe open (a stalled
    stream) until it is set."""
    h, w = size

    def run():
        with open(path, "wb") as f:
            f.write(f"YUV4MPEG2 W{w} H{h} F20:1 Ip A1:1 Cmono\n".encode())
            for i in range(n_frames):
                f.write(b"FRAME\n" + bytes([(7 * i) % 256]) * (w * h))
                f.flush()
            if hold is not None:
                hold.wait(10)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_a_stream_from_a_named_pipe_ends_with_its_last_frame(tmp_path):
    fifo = tmp_path / "camera.y4m"
    os.mkfifo(fifo)
    writer = _y4m_writer(fifo, 12)
    src = open_source(fifo, format="yuv4mpegpipe")
    assert src.kind == "stream" and src.frame_shape == (48, 64)
    frames, reason = _drain(src)
    writer.join(5)
    assert reason == "the stream ended"
    got = [f for f, _ in frames]
    assert len(got) + sum(s for _, s in frames) == 12  # delivered or counted as skipped
    assert all(int(f.image[0, 0]) == (7 * f.index) % 256 for f in got)


def test_a_stalled_stream_is_detected_and_the_reader_released(tmp_path):
    fifo = tmp_path / "camera.y4m"
    os.mkfifo(fifo)
    hold = threading.Event()
    writer = _y4m_writer(fifo, 5, hold=hold)
    src = open_source(fifo, format="yuv4mpegpipe")
    slot = LatestFrame()
    g = Grabber(src, slot, time.monotonic)
    g.start()
    seen = 0
    with pytest.raises(SourceStalled):
        while True:
            slot.take(timeout=0.5)
            seen += 1
    assert seen >= 1
    hold.set()  # the writer closes the pipe: the blocked read returns, the grabber ends
    g.stop(timeout=5.0)
    writer.join(5)
    assert not g._thread.is_alive()
