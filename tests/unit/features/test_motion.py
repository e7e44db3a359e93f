"""Movement energy of regions: numpy parity, chunk continuity, one decoding pass, speed tables."""

from __future__ import annotations

import numpy as np
import pytest

from mouseface.features.motion import region_motion, speed_on_frames, video_motion
from mouseface.io.video import open_video


def _reference(frames: np.ndarray, previous: np.ndarray | None = None) -> np.ndarray:
    x = frames.astype(np.float64)
    before = np.concatenate([x[:1] if previous is None else previous[None].astype(float),
                             x[:-1]])
    out = np.abs(x - before).mean(axis=(1, 2))
    if previous is None:
        out[0] = np.nan
    return out


@pytest.mark.parametrize("shape", [(7, 5, 9), (3, 1, 1), (20, 32, 17)])
def test_region_motion_equals_numpy(shape):
    rng = np.random.default_rng(sum(shape))
    f = rng.integers(0, 256, shape, dtype=np.uint8)
    got = region_motion(f)
    assert got.dtype == np.float32 and got.shape == (shape[0],)
    np.testing.assert_allclose(got, _reference(f), rtol=1e-6, equal_nan=True)
    prev = rng.integers(0, 256, shape[1:], dtype=np.uint8)
    np.testing.assert_allclose(region_motion(f, prev), _reference(f, prev), rtol=1e-6)


def test_region_motion_continues_across_chunks():
    rng = np.random.default_rng(1)
    f = rng.integers(0, 256, (50, 12, 10), dtype=np.uint8)
    whole = region_motion(f)
    parts = [region_motion(f[:17]), region_motion(f[17:33], f[16]), region_motion(f[33:], f[32])]
    np.testing.assert_array_equal(np.concatenate(parts), whole)


def test_region_motion_of_a_still_region_is_zero_and_a_step_is_its_size():
    f = np.full((4, 6, 6), 100, np.uint8)
    f[3] = 110
    np.testing.assert_array_equal(region_motion(f)[1:], [0.0, 0.0, 10.0])


def test_region_motion_rejects_bad_input():
    with pytest.raises(ValueError, match="uint8"):
        region_motion(np.zeros((3, 4, 4), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        region_motion(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="previous"):
        region_motion(np.zeros((3, 4, 4), np.uint8), np.zeros((4, 5), np.uint8))


def test_video_motion_measures_every_region_in_one_pass(moving_video):
    rois = {"motion_energy": None, "motion_left": (0, 0, 40, 96), "motion_band": (10, 50, 100, 8)}
    shapes = []
    got = video_motion(moving_video, rois, chunk_size=10, check=shapes.append)
    with open_video(moving_video) as r:
        frames = np.concatenate([c.frames for c in r.iter_chunks(64)])
        n_frames = r.n_frames
    assert shapes == [(96, 128)]
    assert list(got.columns) == ["frame", "time", *rois]
    assert len(got) == n_frames and got["frame"].tolist() == list(range(n_frames))
    for name, roi in rois.items():
        x, y, w, h = roi or (0, 0, 128, 96)
        np.testing.assert_allclose(got[name], _reference(frames[:, y:y + h, x:x + w]),
                                   rtol=1e-5, equal_nan=True)
    # the texture drifts right: everything moves
    assert (got["motion_left"].iloc[1:] > 1).all()


def test_video_motion_check_stops_before_decoding(moving_video):
    def refuse(shape):
        raise RuntimeError(f"frame {shape}")

    with pytest.raises(RuntimeError, match=r"frame \(96, 128\)"):
        video_motion(moving_video, {"motion_energy": None}, check=refuse)


def test_speed_on_frames_averages_fast_encoders_and_interpolates_slow_ones():
    frame_time = np.arange(0, 10, 0.05)                       # 20 fps
    fast_t = np.arange(0, 10, 0.001)                           # a 1 kHz encoder
    fast_v = -np.sin(fast_t)                                   # running backwards: sign ignored
    got = speed_on_frames(frame_time, fast_t, fast_v)
    np.testing.assert_allclose(got, np.abs(np.sin(frame_time)), atol=0.03)
    slow_t = np.arange(0, 10, 0.5)                             # a 2 Hz log
    got = speed_on_frames(frame_time, slow_t, 2 * slow_t)
    inside = frame_time <= slow_t[-1]
    np.testing.assert_allclose(got[inside], 2 * frame_time[inside], atol=0.051)
    assert np.isnan(got[frame_time > slow_t[-1] + 0.025]).all()


def test_region_motion_is_the_quality_pass_motion_energy():
    """One definition: the face's ``motion_energy`` of the quality measures and a region's
    ``motion_<region>`` are the same number for the same pixels."""
    from mouseface.features.quality import frame_metrics

    rng = np.random.default_rng(7)
    f = rng.integers(0, 256, (12, 9, 14), dtype=np.uint8)
    prev = rng.integers(0, 256, (9, 14), dtype=np.uint8)
    np.testing.assert_allclose(region_motion(f), frame_metrics(f)["motion_energy"],
                               rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(region_motion(f, prev), frame_metrics(f, prev)["motion_energy"],
                               rtol=1e-6)
