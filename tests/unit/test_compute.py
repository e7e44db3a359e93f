"""Extraction and its planning: one decode for many ROIs, resuming, ranges, stats, bad endings."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.fixtures.videos import GOP, N_FRAMES

from mouseface._progress import Reporter
from mouseface.features.extract import (
    Target,
    _runs,
    extract_features,
    extract_range,
    extract_video,
    prepare_stores,
)
from mouseface.features.hog import hog
from mouseface.io.store import FeatureStore
from mouseface.io.video import open_video
from mouseface.settings import load_settings
from mouseface.workflows.execute import _pending_chunks, _ranges, extract_sessions, video_jobs

HOG = dict(orientations=8, pixels_per_cell=(16, 16), cells_per_block=(1, 1),
           block_norm="L2-Hys", transform_sqrt=True)
ROIS = [(0, 0, 128, 96), (16, 8, 64, 48), (40, 30, 64, 48)]


def _reference(video: Path, roi) -> tuple[np.ndarray, np.ndarray]:
    """HOG and times straight from the reader, one chunk at a time, no pipeline."""
    with open_video(video, roi=roi) as r:
        chunks = list(r.iter_chunks(chunk_size=7))
    hogs = np.concatenate([hog(c.frames, **HOG) for c in chunks])
    return hogs, np.concatenate([c.time for c in chunks])


class Stop(Exception):
    pass


def _stop_after(n_calls: int):
    calls = []

    def on_frames(n):
        calls.append(n)
        if len(calls) == n_calls:
            raise Stop

    return on_frames


# --------------------------------------------------------------------------- reader


def test_iter_crops_equals_one_pass_per_roi(moving_video):
    with open_video(moving_video) as r:
        crops = list(r.iter_crops(ROIS + [None], chunk_size=10, start=20))
        assert r.frames_out == N_FRAMES - GOP  # seek to the keyframe at 16, decode on
    for k, roi in enumerate(ROIS + [None]):
        with open_video(moving_video, roi=roi) as r:
            ref = list(r.iter_chunks(chunk_size=10, start=20))
        for a, b in zip(crops, ref, strict=True):
            np.testing.assert_array_equal(a.frames[k], b.frames)
            np.testing.assert_array_equal(a.index, b.index)
            np.testing.assert_array_equal(a.time, b.time)


def test_iter_crops_first_chunk_sets_where_the_chunks_end(moving_video):
    with open_video(moving_video) as r:
        whole = list(r.iter_crops(ROIS[:1], chunk_size=64, start=3))
    with open_video(moving_video) as r:
        cut = list(r.iter_crops(ROIS[:1], chunk_size=8, start=3, first=6))
    assert [len(c.index) for c in cut[:3]] == [6, 8, 8]  # ends at frames 8, 16, 24
    assert [int(c.index[-1]) % 8 for c in cut[:-1]] == [0] * (len(cut) - 1)
    np.testing.assert_array_equal(np.concatenate([c.frames[0] for c in cut]),
                                  np.concatenate([c.frames[0] for c in whole]))
    with open_video(moving_video) as r, pytest.raises(ValueError, match="first"):
        next(r.iter_crops(ROIS[:1], chunk_size=8, first=9))


def test_decoder_batches_end_on_the_drift_anchors(moving_video):
    """The pass's decoder thread cuts each run into batches that end on multiples of the
    drift step (from the frame before the run on), but for the run's last."""
    import queue

    from mouseface.features.extract import _DONE, _produce, _RunEnd

    q: queue.Queue = queue.Queue()
    with open_video(moving_video) as r:
        _produce(r, ROIS[:1], [(1, 3)], 16, 8, q, threading.Event(), before=1, after=1,
                 step=4)
    items = list(iter(q.get_nowait, _DONE))
    batches, end = items[:-1], items[-1]
    assert isinstance(end, _RunEnd) and not end.ended
    index = np.concatenate([b.index for b in batches])
    np.testing.assert_array_equal(index, np.arange(15, 49))
    assert [int(b.index[-1]) for b in batches] == [20, 28, 36, 44, 48]


def test_kept_faces_keep_the_least_neutral_frames_and_sum_the_baseline():
    """Batch by batch (runs and scattered frames, NaN distances, two ranges merged), the kept
    crops are the n frames of lowest ``(r, frame)`` and the baseline sum is float64's."""
    from mouseface.features.extract import KeptFaces
    from mouseface.features.facepass import MEASURES, FaceFrames

    rng = np.random.default_rng(3)
    n_frames, names = 400, np.array(["", "neutral", "a", "b"])
    labels = names[rng.integers(0, 4, n_frames)]
    labels[100:160] = "neutral"  # a run of baseline frames
    crops = rng.integers(0, 256, (n_frames, 6, 5), dtype=np.uint8)
    crops[:50] = 255
    r = rng.random(n_frames).astype(np.float32).round(2)  # ties in r, told apart by frame
    r[rng.random(n_frames) < 0.1] = np.nan
    measures = np.zeros((n_frames, len(MEASURES)), np.float32)
    measures[:, MEASURES.index("hog_distance")] = 1 - r
    ranges = [KeptFaces(7), KeptFaces(7)]
    for a in range(0, n_frames, 23):
        b = min(a + 23, n_frames)
        faces = FaceFrames(np.arange(a, b), np.zeros(b - a), np.zeros((b - a, 1)), None,
                           measures[a:b], crops[a:b])
        ranges[a >= 200].add(faces, labels[a:b], "neutral")
    kept = KeptFaces(7)
    for k in ranges:
        kept.merge(k)
    base = labels == "neutral"
    np.testing.assert_array_equal(kept.neutral_sum, crops[base].sum(axis=0, dtype=np.float64))
    assert kept.neutral_count == base.sum() and kept.neutral_sum.dtype == np.float64
    for name in ("a", "b"):
        want = sorted((float(1 - measures[i, -1]), i) for i in np.flatnonzero(labels == name)
                      if np.isfinite(r[i]))[:7]
        got = kept.candidates[name]
        assert [(v, i) for v, i, _ in got] == want
        for _, i, c in got:
            np.testing.assert_array_equal(c, crops[i])


def test_frames_out_counts_what_the_decoder_did(moving_video):
    with open_video(moving_video) as r:
        assert len(list(r.iter_chunks(chunk_size=8, start=2 * GOP + 3))) == 4  # 35..63
        assert r.frames_out == N_FRAMES - 2 * GOP  # from the keyframe at 32
        list(r.iter_chunks(chunk_size=8, stop=5))
        assert r.frames_out == N_FRAMES - 2 * GOP + 5


# --------------------------------------------------------------------------- extraction


def test_extract_features_equals_the_reference(tmp_path, moving_video):
    st = extract_features(moving_video, tmp_path / "s.zarr", hog_params=HOG, roi=ROIS[1],
                          chunk_size=16)
    ref, t = _reference(moving_video, ROIS[1])
    assert st.complete and st.n_frames == N_FRAMES
    np.testing.assert_array_equal(st.read(), ref)
    np.testing.assert_array_equal(st.time, t)
    assert st.extraction["frames_decoded"] == N_FRAMES
    assert st.extraction["chunks_written"] == N_FRAMES // 16
    again = extract_features(moving_video, tmp_path / "s.zarr", hog_params=HOG, roi=ROIS[1],
                             chunk_size=16)
    assert again.extraction["frames_decoded"] == 0  # complete: reused, nothing decoded


def test_sessions_of_one_video_decode_it_once(tmp_path, moving_video):
    targets = [Target(tmp_path / f"{k}.zarr", roi) for k, roi in enumerate(ROIS)]
    stores, stats = extract_video(moving_video, targets, hog_params=HOG, chunk_size=24)
    assert stats.frames_decoded == N_FRAMES  # once for all three ROIs
    assert stats.chunks_written == 3 * 3  # 24 + 24 + 16 frames each
    for st, roi in zip(stores, ROIS, strict=True):
        np.testing.assert_array_equal(st.read(), _reference(moving_video, roi)[0])


def test_interrupted_extraction_resumes_from_the_first_pending_chunk(tmp_path, moving_video):
    path = tmp_path / "s.zarr"
    with pytest.raises(Stop):
        extract_features(moving_video, path, hog_params=HOG, roi=ROIS[2], chunk_size=16,
                         on_frames=_stop_after(2))
    st = FeatureStore(path)
    assert not st.complete and st.pending_chunks() == [2, 3]  # 2 chunks of 16 written
    assert threading.active_count() == 1 or all(
        t.name != "mouseface-decode" for t in threading.enumerate())  # decoder stopped
    st = extract_features(moving_video, path, hog_params=HOG, roi=ROIS[2], chunk_size=16)
    # chunk 2 starts on a keyframe (GOP 16): exactly the remaining frames are decoded
    assert st.extraction["frames_decoded"] == N_FRAMES - 32
    assert st.extraction["runs"] == [[32, None]] or st.extraction["runs"] == [(32, None)]
    np.testing.assert_array_equal(st.read(), _reference(moving_video, ROIS[2])[0])


def test_ranges_write_only_their_chunks_and_finalize_joins_them(tmp_path, moving_video):
    targets = [Target(tmp_path / "a.zarr", ROIS[1]), Target(tmp_path / "b.zarr", ROIS[2])]
    prepare_stores(moving_video, targets, hog_params=HOG, chunk_size=16)
    mid = extract_range(moving_video, targets, hog_params=HOG, chunk_size=16,
                        start_chunk=1, stop_chunk=3)
    assert mid.runs == [(16, 48)] and mid.end is None and mid.frames_decoded == 32
    assert FeatureStore(targets[0].store_path).pending_chunks() == [0, 3]
    from mouseface.features.extract import finalize_stores

    with pytest.raises(RuntimeError, match=r"chunks \[0, 3\]"):
        finalize_stores(targets, [mid])
    last = extract_range(moving_video, targets, hog_params=HOG, chunk_size=16, start_chunk=3)
    first = extract_range(moving_video, targets, hog_params=HOG, chunk_size=16,
                          start_chunk=0, stop_chunk=1)
    assert last.end == N_FRAMES and first.end is None
    stores = finalize_stores(targets, [mid, last, first])
    for st, t in zip(stores, targets, strict=True):
        assert st.complete
        np.testing.assert_array_equal(st.read(), _reference(moving_video, t.roi)[0])


def test_runs_cover_pending_chunks_and_look_at_the_last():
    done = [np.array([1, 1, 0, 0, 1, 0, 1], bool), np.array([1, 0, 0, 1, 1, 1, 1], bool)]
    assert _runs(done, 0, None) == [(1, 4), (5, None)]  # last chunk read to see the end
    assert _runs(done, 0, 5) == [(1, 4)]
    assert _runs([np.ones(3, bool)], 0, 2) == []
    assert _runs([np.ones(3, bool)], 0, None) == [(2, None)]


def test_container_that_under_reports_its_length(tmp_path, moving_video):
    """Frames past the announced count grow the store; a shorter stream shrinks it."""
    targets = [Target(tmp_path / "a.zarr", ROIS[1])]
    stores = prepare_stores(moving_video, targets, hog_params=HOG, chunk_size=16)
    st = stores[0]
    st.finalize(n_frames=40)  # pretend the container said 40 frames
    st._group.attrs["complete"] = False
    from mouseface.features.extract import finalize_stores

    stats = extract_range(moving_video, targets, hog_params=HOG, chunk_size=16)
    assert stats.end == N_FRAMES
    (st,) = finalize_stores(targets, [stats])
    assert st.n_frames == N_FRAMES
    np.testing.assert_array_equal(st.read(), _reference(moving_video, ROIS[1])[0])


def test_truncated_video_keeps_what_decodes(tmp_path, truncated_video, moving_video):
    with pytest.warns(UserWarning, match="video ends early"):
        st = extract_features(truncated_video, tmp_path / "t.zarr", hog_params=HOG,
                              chunk_size=16)
    assert st.complete and st.attrs["truncated"] and 10 < st.n_frames < N_FRAMES
    np.testing.assert_array_equal(st.read(), _reference(moving_video, None)[0][:st.n_frames])


def test_error_in_the_decoder_reaches_the_caller(tmp_path, moving_video):
    with pytest.raises(Exception, match="outside the 128x96 frame"):
        extract_video(moving_video, [Target(tmp_path / "x.zarr", (100, 0, 64, 32))],
                      hog_params=HOG)


# --------------------------------------------------------------------------- planning


def test_video_jobs_group_sessions_by_file_and_rate(tmp_path, moving_video):
    other = tmp_path / "other.mp4"
    other.write_bytes(moving_video.read_bytes())
    sessions = pd.DataFrame({
        "session": ["a", "b", "c", "d"], "animal": "m",
        "video": [str(moving_video), str(other), str(moving_video), str(moving_video)],
        "roi": [ROIS[0], None, ROIS[1], ROIS[2]], "fps": [np.nan, np.nan, np.nan, 10.0]})
    jobs = video_jobs(sessions, tmp_path / "features")
    assert [j.sessions for j in jobs] == [["a", "c"], ["b"], ["d"]]
    assert jobs[0].targets[1] == Target((tmp_path / "features" / "c.zarr").resolve(), ROIS[1])
    assert jobs[2].fps == 10.0 and jobs[1].targets[0].roi is None
    assert jobs[0].label.endswith("(2 sessions)") and jobs[1].label == "features b"


def test_ranges_split_pending_chunks_and_leave_the_last_open():
    assert _ranges([0, 1, 2, 3, 4, 9], 4) == [(0, 4, 4), (4, None, 2)]
    assert _ranges([7], 4) == [(7, None, 1)]
    assert _ranges([], 4) == []


def test_pending_chunks_include_the_last(tmp_path, moving_video):
    targets = [Target(tmp_path / "a.zarr", ROIS[1])]
    (st,) = prepare_stores(moving_video, targets, hog_params=HOG, chunk_size=16)
    for i in range(4):
        st.write_chunk(i, np.zeros((16, st.n_features)), np.zeros(16))
    assert _pending_chunks([st]) == [3]
    assert _pending_chunks([]) == []


def test_extract_sessions_local_reuses_complete_stores(tmp_path, moving_video):
    sessions = pd.DataFrame({"session": ["a", "b"], "animal": "m",
                             "video": [str(moving_video)] * 2, "roi": [ROIS[1], ROIS[2]]})
    settings = load_settings(hog={"pixels_per_cell": 16}, compute={"chunk_size": 16})
    stores = extract_sessions(sessions, tmp_path / "f", settings, Reporter(quiet=True))
    assert list(stores) == ["a", "b"]
    assert stores["a"].extraction["frames_decoded"] == N_FRAMES
    np.testing.assert_array_equal(stores["b"].read(), _reference(moving_video, ROIS[2])[0])
    again = extract_sessions(sessions, tmp_path / "f", settings, Reporter(quiet=True))
    assert again["a"].extraction["frames_decoded"] == 0

