"""Video reading: chunks, times, ROI, seeking, luma, memory, and every kind of bad input."""

from __future__ import annotations

import tracemalloc
import warnings
from fractions import Fraction

import numpy as np
import pytest
from tests.fixtures.videos import FPS, GOP, N_FRAMES, moving_texture

from mouseface._errors import InputError
from mouseface.io.video import Chunk, VideoReader, open_video, write_video


def _write_h264(path, frames, pts, time_base: Fraction, gop_size: int | None = None,
                options: dict | None = None):
    """128x96 gray frames as H.264 at the timestamps ``pts`` (in ``time_base``)."""
    import av

    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        s.codec_context.time_base = time_base
        if gop_size is not None:
            s.codec_context.gop_size = gop_size
        if options is not None:
            s.options = options
        for img, t in zip(frames, pts, strict=True):
            buf = np.full((144, 128), 128, np.uint8)
            buf[:96] = img
            frame = av.VideoFrame.from_ndarray(buf, format="yuv420p")
            frame.pts, frame.time_base = int(t), time_base
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def _all(reader: VideoReader, **kw) -> Chunk:
    chunks = list(reader.iter_chunks(**kw))
    return Chunk(np.concatenate([c.index for c in chunks]),
                 np.concatenate([c.time for c in chunks]),
                 np.concatenate([c.frames for c in chunks]))


@pytest.fixture(scope="module")
def full_pass(moving_video) -> Chunk:
    with open_video(moving_video) as reader:
        return _all(reader, chunk_size=256)


# --------------------------------------------------------------------------- good files


def test_reader_describes_the_file(moving_video):
    with open_video(moving_video) as r:
        assert r.n_frames == N_FRAMES
        assert r.fps == FPS
        assert r.frame_shape == (96, 128) and r.crop_shape == (96, 128)
        assert r.roi == (0, 0, 128, 96)
        assert r.pixel_format == "yuv420p"
        assert "moving.mp4" in repr(r)


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 256])
def test_chunks_cover_all_frames_once(moving_video, chunk_size):
    with open_video(moving_video) as r:
        chunks = list(r.iter_chunks(chunk_size=chunk_size))
        assert [len(c.index) for c in chunks[:-1]] == [chunk_size] * (len(chunks) - 1)
        index = np.concatenate([c.index for c in chunks])
        np.testing.assert_array_equal(index, np.arange(N_FRAMES))
        for c in chunks:
            assert c.index.dtype == np.int64 and c.time.dtype == np.float64
            assert c.frames.dtype == np.uint8 and c.frames.shape[1:] == (96, 128)
            assert c.frames.flags.c_contiguous
        assert r.decoded_frames == N_FRAMES and not r.truncated


def test_times_are_index_over_fps_for_a_constant_rate_file(full_pass):
    # exact: pts * time_base relative to the first frame, for a CFR file
    np.testing.assert_array_equal(full_pass.time, np.arange(N_FRAMES) / FPS)
    assert np.all(np.diff(full_pass.time) > 0)


def test_frames_are_what_was_written(full_pass, moving_frames):
    err = np.abs(full_pass.frames.astype(int) - moving_frames)
    assert err.mean() < 1.5 and np.percentile(err, 99) <= 6  # H.264 at crf 18


def test_roi_crop_equals_crop_of_full_frame(moving_video, full_pass):
    roi = (10, 20, 50, 40)  # x, y, w, h
    with open_video(moving_video, roi=roi) as r:
        assert r.roi == roi and r.crop_shape == (40, 50)
        cropped = _all(r, chunk_size=20)
    np.testing.assert_array_equal(cropped.frames, full_pass.frames[:, 20:60, 10:60])
    np.testing.assert_array_equal(cropped.time, full_pass.time)


@pytest.mark.parametrize("start", [1, GOP - 1, GOP, GOP + 1, 40, N_FRAMES - 1])
def test_range_from_start_equals_the_full_pass(moving_video, full_pass, start):
    # seeks to the keyframe before `start` and decodes forward
    with open_video(moving_video) as r:
        part = _all(r, chunk_size=5, start=start)
        assert int(part.index[0]) == start and len(part.index[:5]) == min(5, N_FRAMES - start)
    np.testing.assert_array_equal(part.index, full_pass.index[start:])
    np.testing.assert_array_equal(part.time, full_pass.time[start:])
    np.testing.assert_array_equal(part.frames, full_pass.frames[start:])


def test_range_with_stop_and_ranges_that_tile(moving_video, full_pass):
    with open_video(moving_video) as r:
        pieces = [_all(r, chunk_size=8, start=a, stop=b) for a, b in [(0, 20), (20, 37), (37, 64)]]
        assert list(r.iter_chunks(start=10, stop=10)) == []
        assert list(r.iter_chunks(start=N_FRAMES + 5)) == []
    np.testing.assert_array_equal(np.concatenate([p.frames for p in pieces]), full_pass.frames)
    np.testing.assert_array_equal(np.concatenate([p.index for p in pieces]), np.arange(N_FRAMES))


def test_fps_argument_overrides_the_container(moving_video):
    with open_video(moving_video, fps=50) as r:
        assert r.fps == 50
        np.testing.assert_array_equal(_all(r, start=3).time, np.arange(3, N_FRAMES) / 50)


@pytest.mark.parametrize("suffix", [".mkv", ".avi", ".mov"])
def test_other_containers(tmp_path, moving_frames, suffix):
    path = write_video(tmp_path / f"m{suffix}", moving_frames[:40], FPS, keyframe_interval=10)
    with open_video(path) as r:
        full = _all(r, chunk_size=16)
        part = _all(r, start=23)
        assert r.n_frames == 40
    np.testing.assert_array_equal(full.index, np.arange(40))
    np.testing.assert_allclose(full.time, np.arange(40) / FPS, atol=1e-9)
    np.testing.assert_array_equal(part.frames, full.frames[23:])
    np.testing.assert_array_equal(part.time, full.time[23:])


@pytest.mark.parametrize(("codec", "suffix", "crf"), [("ffv1", ".mkv", 18), ("libx264", ".mp4", 0)])
def test_lossless_codecs_give_back_every_frame_exactly(tmp_path, codec, suffix, crf):
    """write_video refills one frame for every image: through a lossless encoder each image
    comes back exactly (none replaced by the next, none shifted by the planes' row padding)."""
    frames = np.random.default_rng(3).integers(0, 256, (30, 48, 66), dtype=np.uint8)
    path = write_video(tmp_path / f"lossless{suffix}", frames, FPS, codec=codec, crf=crf)
    with open_video(path) as r:
        np.testing.assert_array_equal(_all(r).frames, frames)


def test_count_tolerance_of_an_estimated_count(tmp_path, moving_frames):
    """Matroska gives no frame count: it is estimated from the duration and may be off by
    count_tolerance, until a pass reaches the end (exact: 0); MP4 counts exactly."""
    mkv = write_video(tmp_path / "m.mkv", moving_frames[:40], FPS, keyframe_interval=10)
    mp4 = write_video(tmp_path / "m.mp4", moving_frames[:40], FPS, keyframe_interval=10)
    with open_video(mkv) as r:
        assert r.n_frames == 40 and r.count_tolerance >= 2
        _all(r)
        assert r.n_frames == 40 and r.count_tolerance == 0
    with open_video(mp4) as r:
        assert r.n_frames == 40 and r.count_tolerance == 0


def test_variable_frame_rate_times_come_from_the_container(tmp_path, moving_frames):
    # every 5th interval is 90 ms, the others 40 ms; millisecond time base
    times = np.cumsum(np.r_[0, np.where(np.arange(47) % 5 == 0, 0.09, 0.04)])
    path = _write_h264(tmp_path / "vfr.mp4", moving_frames[:48], np.round(times * 1000),
                       Fraction(1, 1000), gop_size=8)
    with open_video(path) as r:
        full = _all(r, chunk_size=10)
        np.testing.assert_allclose(full.time, times, atol=1e-9)
        for start in (9, 20, 47):  # seek targets found by timestamp, not index / fps
            part = _all(r, start=start)
            np.testing.assert_array_equal(part.time, full.time[start:])
            np.testing.assert_array_equal(part.frames, full.frames[start:])


def test_open_gop_ranges_equal_the_full_pass(tmp_path, moving_frames):
    """An open GOP (frames after a keyframe in decoding order shown before it) breaks the
    container index's frame numbering: the seek notices and plans from the packet table."""
    path = _write_h264(tmp_path / "open_gop.mp4", moving_frames, np.arange(N_FRAMES),
                       Fraction(1, 25), options={
                           "x264-params": "open-gop=1:keyint=20:min-keyint=20:scenecut=0:"
                                          "bframes=3"})
    with open_video(path) as r:
        full = _all(r, chunk_size=16)
        assert len(full.index) == N_FRAMES
        for start in (3, 21, 25, 41, 60):
            part = _all(r, start=start)
            np.testing.assert_array_equal(part.index, np.arange(start, N_FRAMES))
            np.testing.assert_array_equal(part.frames, full.frames[start:])
            np.testing.assert_array_equal(part.time, full.time[start:])
        assert r._source._index is None  # found out, and given up for the table


@pytest.fixture
def file_opens(monkeypatch):
    """Paths opened from here on: by Python (``open``, ``os.open``) or by FFmpeg (by name at
    ``av.open``), all counted, none changed."""
    import builtins
    import os

    import av

    opened = []
    real = {"open": builtins.open, "os": os.open, "av": av.open}

    def py_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened.append(os.path.realpath(file))
        return real["open"](file, *args, **kwargs)

    def os_open(path, *args, **kwargs):
        opened.append(os.path.realpath(path))
        return real["os"](path, *args, **kwargs)

    def av_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)):
            opened.append(os.path.realpath(file))
        return real["av"](file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", py_open)
    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(av, "open", av_open)
    return opened


def test_a_reader_opens_its_file_once(tmp_path, moving_frames, full_pass, file_opens):
    """Probe, fingerprint, a pass from the start, ranges from seeks (keyframes from the MP4
    index, no packet table) and a rewind: all from one open of the file."""
    import os

    path = write_video(tmp_path / "once.mp4", moving_frames, FPS, keyframe_interval=GOP)
    file_opens.clear()
    with open_video(path) as r:
        fingerprint = r.fingerprint()
        head = _all(r, chunk_size=16, stop=30)
        middle = _all(r, start=2 * GOP + 3, stop=2 * GOP + 20)
        again = _all(r, chunk_size=64)
        assert r.lead_in(2 * GOP + 3) == 3
    assert file_opens.count(os.path.realpath(path)) == 1, file_opens
    np.testing.assert_array_equal(head.frames, full_pass.frames[:30])
    np.testing.assert_array_equal(middle.frames, full_pass.frames[2 * GOP + 3:2 * GOP + 20])
    np.testing.assert_array_equal(again.frames, full_pass.frames)
    np.testing.assert_array_equal(again.time, full_pass.time)
    from mouseface.io.video import _file_fingerprint

    assert fingerprint == _file_fingerprint(path)  # the same bytes hashed as by name


def test_a_second_pass_while_one_runs_opens_its_own(moving_video, full_pass, file_opens):
    """Two passes of one reader at once cannot share a container: the second opens the file
    again, and both give the frames of the full pass."""
    import os

    with open_video(moving_video) as r:
        first = r.iter_chunks(chunk_size=8)
        a = [next(first)]
        b = _all(r, start=5)
        a += list(first)
    assert file_opens.count(os.path.realpath(moving_video)) == 2
    np.testing.assert_array_equal(np.concatenate([c.frames for c in a]), full_pass.frames)
    np.testing.assert_array_equal(b.frames, full_pass.frames[5:])


def test_rgb_video_goes_through_gray_conversion(tmp_path, moving_frames):
    import av

    path = tmp_path / "rgb.mov"
    rgb = np.repeat(moving_frames[:5, :, :, None], 3, axis=3)
    with av.open(str(path), "w") as c:
        s = c.add_stream("png", rate=20)
        s.width, s.height, s.pix_fmt = 128, 96, "rgb24"
        for img in rgb:
            for p in s.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    with open_video(path) as r:
        assert r.pixel_format == "rgb24"
        got = _all(r).frames
    assert np.abs(got.astype(int) - moving_frames[:5]).max() <= 1


def test_fingerprint_is_stable_and_content_based(moving_video, tmp_path, moving_frames):
    with open_video(moving_video) as r:
        fp = r.fingerprint()
    with open_video(moving_video) as r:
        assert r.fingerprint() == fp
    other = write_video(tmp_path / "other.mp4", moving_frames[::-1], FPS)
    with open_video(other) as r:
        assert r.fingerprint() != fp
    assert fp.startswith(f"{moving_video.stat().st_size}:")


def test_from_numpy_takes_the_same_path(moving_frames):
    r = VideoReader.from_numpy(moving_frames, fps=10, roi=(0, 0, 64, 32))
    got = _all(r, chunk_size=10, start=5)
    np.testing.assert_array_equal(got.frames, moving_frames[5:, :32, :64])
    np.testing.assert_array_equal(got.time, np.arange(5, N_FRAMES) / 10)
    with pytest.raises(InputError, match=r"<array>: ROI .* outside the 128x96 frame"):
        VideoReader.from_numpy(moving_frames, fps=10, roi=(100, 0, 64, 32))


def test_write_video_rejects_odd_sizes(tmp_path):
    with pytest.raises(ValueError, match=r"127x96 .* must be even"):
        write_video(tmp_path / "odd.mp4", np.zeros((2, 96, 127), np.uint8), 10)
    assert not list(tmp_path.iterdir())  # nothing half-written left behind


# --------------------------------------------------------------------------- image folders


def test_image_folder_in_natural_order(image_folder):
    with open_video(image_folder, fps=4) as r:
        assert r.n_frames == 12 and r.frame_shape == (48, 64)
        got = _all(r, chunk_size=5)
        # frame k is grey 10 k: natural order frame1, frame2, ..., frame10 (not frame1, frame10)
        np.testing.assert_array_equal(got.frames[:, 0, 0], 10 * np.arange(1, 13))
        np.testing.assert_array_equal(got.time, np.arange(12) / 4)
        np.testing.assert_array_equal(_all(r, start=9).frames[:, 0, 0], [100, 110, 120])
        fp = r.fingerprint()
    with open_video(image_folder, fps=4, roi=(1, 2, 10, 20)) as r:
        assert r.fingerprint() == fp and _all(r).frames.shape == (12, 20, 10)


def test_image_folder_needs_fps(image_folder):
    with pytest.raises(InputError, match=r"frames.*: a folder of image frames needs fps"):
        open_video(image_folder)


def test_empty_folder(empty_folder):
    with pytest.raises(InputError, match=r"no_frames: folder has no JPEG, PNG or TIFF frames"):
        open_video(empty_folder, fps=10)


# --------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.mp4: file not found"):
        open_video(tmp_path / "nowhere.mp4")


def test_zero_byte_file(zero_byte_video):
    with pytest.raises(InputError, match=r"empty\.mp4: empty file \(0 bytes\)"):
        open_video(zero_byte_video)


def test_text_file_named_mp4(text_video):
    with pytest.raises(InputError, match=r"notes\.mp4: not a readable video") as e:
        open_video(text_video)
    assert "\n" not in str(e.value)


def test_file_without_video_stream(tmp_path):
    import av

    path = tmp_path / "sound.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode():
            c.mux(p)
    with pytest.raises(InputError, match=r"sound\.mkv: no video stream in this file \(only audio"):
        open_video(path)


def test_roi_outside_the_frame(moving_video):
    with pytest.raises(InputError,
                       match=r"moving\.mp4: ROI \(x, y, w, h\) = \(100, 0, 64, 32\) lies "
                             r"outside the 128x96 frame"):
        open_video(moving_video, roi=(100, 0, 64, 32))
    with pytest.raises(InputError, match=r"moving\.mp4: bad ROI .*width and height"):
        open_video(moving_video, roi=(0, 0, 0, 10))


def test_truncated_video_gives_what_decodes_and_warns(truncated_video, full_pass):
    with open_video(truncated_video) as r:
        assert r.n_frames == N_FRAMES  # the index at the front still promises all frames
        with pytest.warns(UserWarning,
                          match=rf"truncated\.mp4: video ends early: decoded (\d+) of "
                                rf"{N_FRAMES} frames") as record:
            got = _all(r, chunk_size=16)
        n = len(got.index)
        assert 10 < n < N_FRAMES
        assert f"decoded {n} of {N_FRAMES}" in str(record[0].message)
        assert r.truncated and r.decoded_frames == n and r.n_frames == n
        np.testing.assert_array_equal(got.frames, full_pass.frames[:n])
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # warned once per reader
            assert len(_all(r, start=5).index) == n - 5


# --------------------------------------------------------------------------- memory


def _peak_bytes(path, chunk_size) -> int:
    with open_video(path) as r:
        tracemalloc.start()
        try:
            for chunk in r.iter_chunks(chunk_size=chunk_size):
                del chunk
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_memory_stays_flat_however_long_the_video(tmp_path):
    frames = moving_texture(32, 64, 64, seed=1)
    short = write_video(tmp_path / "short.mp4", frames, 25, preset="ultrafast")
    long = write_video(tmp_path / "long.mp4", (frames[i % 32] for i in range(640)), 25,
                       preset="ultrafast")
    chunk_bytes = 16 * 64 * 64
    peak_short, peak_long = _peak_bytes(short, 16), _peak_bytes(long, 16)
    # 20x the frames, same peak: a couple of chunks plus bookkeeping, never the whole video
    assert peak_long < 1.5 * peak_short + 64_000, (peak_short, peak_long)
    assert peak_long < 6 * chunk_bytes + 200_000, peak_long
    assert 5 * peak_long < 640 * 64 * 64


# --------------------------------------------------------------------------- real data


@pytest.mark.realdata
def test_luma_is_ffmpeg_gray_without_range_conversion(mouseflow_video):
    """The luma plane is the gray image: equal to FFmpeg's gray conversion at full range.

    FFmpeg's default ``to_ndarray(format="gray")`` takes yuv420p as limited range (16-235) and
    stretches it to 0-255; this camera file fills 0-255, so the stretch clips. Our luma is the
    unstretched value: the default conversion equals the stretched luma to within one level.
    """
    import av

    with open_video(mouseflow_video) as r:
        assert r.pixel_format == "yuv420p" and r.frame_shape == (582, 782)
        ours = next(r.iter_chunks(chunk_size=8)).frames
    with av.open(str(mouseflow_video)) as c:
        frames = [f for _, f in zip(range(8), c.decode(video=0), strict=False)]
    full_range = np.stack([f.reformat(format="gray", src_color_range=2, dst_color_range=2)
                           .to_ndarray() for f in frames])
    np.testing.assert_array_equal(ours, full_range)
    default = np.stack([f.to_ndarray(format="gray") for f in frames]).astype(int)
    stretched = np.clip(np.round((ours.astype(float) - 16) * 255 / 219), 0, 255)
    assert np.abs(default - stretched).max() <= 1
    assert ours.min() < 16 or ours.max() > 235  # why the stretch would lose information


@pytest.mark.realdata
def test_real_video_seek_and_roi(mouseflow_video):
    roi = (540, 150, 230, 180)  # the face, per the data's README
    with open_video(mouseflow_video) as r:
        assert r.n_frames == 502 and r.fps == 75
        head = _all(r, chunk_size=64, stop=260)
        part = _all(r, chunk_size=64, start=250, stop=260)
    np.testing.assert_array_equal(part.frames, head.frames[250:])
    np.testing.assert_allclose(head.time, np.arange(260) / 75, atol=1e-9)
    with open_video(mouseflow_video, roi=roi) as r:
        face = _all(r, start=250, stop=260).frames
    np.testing.assert_array_equal(face, head.frames[250:, 150:330, 540:770])


@pytest.mark.parametrize("keep", [0.5, 0.85])  # in the frames; in the index
def test_mp4_cut_before_its_index(tmp_path, moving_frames, keep):
    import av

    path = tmp_path / "plain.mp4"  # FFmpeg's default layout: the index (moov) at the end
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=20)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        for img in moving_frames[:20]:
            buf = np.full((144, 128), 128, np.uint8)
            buf[:96] = img
            for p in s.encode(av.VideoFrame.from_ndarray(buf, format="yuv420p")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(InputError, match=r"plain\.mp4: not a readable video"):
        open_video(path)


def _pid_to(conn) -> None:
    import os

    conn.send(os.getpid())


def test_a_reader_left_in_a_cycle_is_freed_before_a_fork(moving_video):
    """A reader nobody closed, in a reference cycle, is freed in this process before a fork:
    freed in a forked worker, where FFmpeg's decoder threads do not exist, it would wait on
    them for ever (a process pool hung so in the suite)."""
    import gc
    import multiprocessing
    import weakref

    gc.disable()  # only the fork may collect it
    try:
        reader = open_video(moving_video, threads=2)
        next(iter(reader.iter_chunks(8)))  # the decoder's threads are running
        reader._cycle = reader
        source = weakref.ref(reader._source)
        del reader
        assert source() is not None
        ctx = multiprocessing.get_context("fork")
        here, there = ctx.Pipe()
        child = ctx.Process(target=_pid_to, args=(there,))
        child.start()
        assert source() is None  # collected before the fork, in this process
        assert here.recv() == child.pid
        child.join()
        assert child.exitcode == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("shape", [(96, 128), (336, 568), (2, 2), (50, 6)])
def test_colour_frames_become_full_range_bt601_with_2x2_mean_chroma(shape):
    # the JPEG equations in float32, each chroma sample the mean of its 2x2 block as numpy
    # computes it: the encoder is handed these bits (an overlay re-encoded is the same file)
    from mouseface.io.video import _rgb_to_yuv420p

    h, w = shape
    rgb = np.random.default_rng(h * w).integers(0, 256, (h, w, 3), dtype=np.uint8)
    buf = np.zeros((h * 3 // 2, w), np.uint8)
    _rgb_to_yuv420p(rgb, buf)
    x = rgb.astype(np.float32)
    y = 0.299 * x[..., 0] + 0.587 * x[..., 1] + 0.114 * x[..., 2]
    expected = [np.clip(np.rint(y), 0, 255).ravel()]
    for c in ((x[..., 2] - y) * 0.564 + 128.0, (x[..., 0] - y) * 0.713 + 128.0):
        expected.append(np.clip(np.rint(c.reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3))),
                                0, 255).ravel())
    np.testing.assert_array_equal(buf.reshape(-1), np.concatenate(expected).astype(np.uint8))
