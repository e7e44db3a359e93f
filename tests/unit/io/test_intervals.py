"""Intervals and the time -> frame questions every room asks of them, against plain loops."""

import numpy as np
import pytest

from mouseface.io.intervals import Intervals, align_to_events, frame_at, frames_in


def _frames(seed=0, n=200, fps=30.0):
    rng = np.random.default_rng(seed)
    # a rounded, slightly jittered video clock, as containers give it
    return np.round(np.arange(n) / fps + rng.uniform(0, 1e-4, n), 6)


def _reference_mean(time, values, start, stop):
    """The mean over ``start <= time < stop`` of the finite values, by masks."""
    inside = (time >= start) & (time < stop)
    v = values[..., inside]
    ok = np.isfinite(v)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, v, 0.0).sum(-1) / ok.sum(-1)


def _windows(time):
    """Windows touching both ends of the video, beyond them, empty and between frames,
    overlapping, in no particular order."""
    t0, t1 = time[0], time[-1]
    return np.array([
        [t0, t0 + 0.5],            # starts on the first frame
        [t0 - 2.0, t0 + 0.2],      # starts before the video
        [t1 - 0.3, t1],            # stops on the last frame (which is left out)
        [t1 - 0.3, t1 + 5.0],      # runs past the end
        [t1 + 1.0, t1 + 2.0],      # after the video: empty
        [t0 - 3.0, t0 - 1.0],      # before the video: empty
        [2.0, 2.0],                # zero length: empty
        [time[10] + 1e-4, time[11] - 1e-4],  # between two frames: empty
        [3.0, 4.0], [1.0, 3.5],    # overlapping, later one first
        [0.0, 100.0],              # everything
    ])


@pytest.mark.parametrize("seed", [0, 1])
def test_mean_equals_the_masked_mean_in_every_window(seed):
    time = _frames(seed)
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(3, len(time)))
    values[0, 5:40] = np.nan  # a gap inside some windows
    values[2, :] = np.nan  # a row without any finite value
    w = _windows(time)
    got = Intervals(w[:, 0], w[:, 1]).mean(time, values)
    want = np.column_stack([_reference_mean(time, values, a, b) for a, b in w])
    assert got.shape == (3, len(w))
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, equal_nan=True)
    assert np.isnan(got[:, 4:8]).all()  # the empty windows
    assert np.isnan(got[2]).all()


def test_mean_of_one_series_and_of_one_row_agree():
    time = _frames()
    v = np.sin(time)
    iv = Intervals(np.array([0.5, 2.0]), np.array([1.5, 2.0]))
    one = iv.mean(time, v)
    assert one.shape == (2,)
    np.testing.assert_array_equal(one, iv.mean(time, v[None, :])[0])
    assert one[0] == pytest.approx(v[(time >= 0.5) & (time < 1.5)].mean())
    assert np.isnan(one[1])


def test_count_and_restrict_agree_with_comparisons():
    time = _frames(2)
    w = _windows(time)
    iv = Intervals(w[:, 0], w[:, 1])
    masks = [(time >= a) & (time < b) for a, b in w]
    assert iv.count(time).tolist() == [int(m.sum()) for m in masks]
    np.testing.assert_array_equal(iv.restrict(time), np.any(masks, axis=0))
    # frames in no order: the same frames, found by comparison
    order = np.random.default_rng(0).permutation(len(time))
    np.testing.assert_array_equal(iv.restrict(time[order]), np.any(masks, axis=0)[order])
    assert frames_in(time, *w[0]).tolist() == np.flatnonzero(masks[0]).tolist()


def test_no_intervals_and_no_frames():
    none = Intervals(np.empty(0), np.empty(0))
    time = _frames()
    assert none.mean(time, np.ones(len(time))).shape == (0,)
    assert not none.restrict(time).any()
    iv = Intervals(np.array([0.0]), np.array([1.0]))
    assert np.isnan(iv.mean(np.empty(0), np.empty(0))).all()
    assert iv.count(np.empty(0)).tolist() == [0]


@pytest.mark.parametrize("seed", range(4))
def test_label_and_event_agree_with_one_interval_at_a_time(seed):
    """Overlapping intervals, later ones winning, on a whole series, on short batches of it
    (as a pass labels them) and on frames in no order."""
    rng = np.random.default_rng(seed)
    time = _frames(seed)
    starts = rng.uniform(-1, time[-1] + 1, 12)
    iv = Intervals(starts, starts + rng.uniform(0, 2, 12), tuple(rng.choice(["a", "b"], 12)),
                   np.arange(12) + 100)

    def plain(t):
        lab, ev = np.full(len(t), "", dtype=object), np.full(len(t), -1)
        for a, b, name, e in zip(iv.starts, iv.stops, iv.labels, iv.events, strict=True):
            lab[(t >= a) & (t < b)], ev[(t >= a) & (t < b)] = name, e
        return lab.astype(str).tolist(), ev.tolist()

    order = rng.permutation(len(time))
    for t in (time, time[10:30], time[:1], time[:0], time[order]):
        assert (iv.label(t).tolist(), iv.event(t).tolist()) == plain(t)


def test_labels_default_and_bad_shapes():
    iv = Intervals([0.0, 1.0], [1.0, 2.0])
    assert iv.labels == ("", "") and iv.starts.dtype == np.float64
    assert iv.label(np.array([0.5, 1.5, 2.5])).tolist() == ["", "", ""]
    with pytest.raises(ValueError, match="2 starts"):
        Intervals([0.0, 1.0], [1.0])


def test_from_edges_makes_consecutive_bins():
    time = _frames()
    edges = np.linspace(-1.0, 8.0, 13)
    bins = Intervals.from_edges(edges)
    assert len(bins) == 12
    assert bins.count(time).sum() == len(time)  # every frame in exactly one bin
    v = np.cos(time)
    want = [_reference_mean(time, v, a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    np.testing.assert_allclose(bins.mean(time, v), want, rtol=1e-12, equal_nan=True)


def test_frame_at_is_the_first_frame_at_or_after_a_time():
    time = _frames()
    for t in [-5.0, time[0], time[0] + 1e-3, time[17], time[17] - 5e-10, time[17] + 1e-6,
              time[-1], time[-1] + 10]:
        later = np.flatnonzero(time >= t - 1e-9)
        want = later[0] if len(later) else len(time) - 1
        assert frame_at(time, t) == want, t


def test_align_to_events_is_interpolation_around_each_event_in_the_given_order():
    time = _frames()
    rng = np.random.default_rng(3)
    values = rng.normal(size=(len(time), 2))
    values[50, 1] = np.nan
    events = np.array([5.0, 0.1, time[-1] - 0.1, 1.7])  # unsorted; two near the ends
    lags = np.arange(-0.5, 1.0, 0.05)
    got = align_to_events(time, values, events, lags)
    assert got.shape == (4, len(lags), 2)
    for i, e in enumerate(events):
        at = e + lags
        for j in range(2):
            want = np.where((at >= time[0]) & (at <= time[-1]),
                            np.interp(at, time, values[:, j]), np.nan)
            np.testing.assert_array_equal(got[i, :, j], want)
    assert np.isnan(got[1, :8]).all() and np.isfinite(got[1, 9:, 0]).all()  # before the start
    assert np.isnan(got[2, -1]).all()  # past the end
    assert np.isnan(got[:, :, 1]).any()  # the NaN frame spoils only its neighbours
    one = align_to_events(time, values[:, 0], events[::-1], lags)
    np.testing.assert_array_equal(one, got[::-1, :, 0])
    assert align_to_events(np.empty(0), np.empty(0), events, lags).shape == (4, len(lags))
