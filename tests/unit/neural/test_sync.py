"""Imaging on the video clock: bin averages, no look-ahead, overlap warnings and errors."""

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.io.neural import NeuralTraces
from mouseface.neural.sync import align, bin_average, imaging_times


def test_imaging_times_from_rate_or_timestamps():
    np.testing.assert_allclose(imaging_times(3, rate=4.0, offset=2.0), [2.0, 2.25, 2.5])
    np.testing.assert_allclose(imaging_times(2, timestamps=[0.5, 0.7], offset=1.0), [1.5, 1.7])
    with pytest.raises(InputError, match="3 imaging frames but 2 timestamps"):
        imaging_times(3, timestamps=[0.0, 0.1])
    with pytest.raises(InputError, match="rate must be positive"):
        imaging_times(3, rate=0.0)


def test_each_imaging_frame_averages_the_video_frames_inside_it():
    video_t = np.arange(60) / 30.0  # 30 Hz video, values = frame index
    values = np.arange(60, dtype=float)[None, :]
    nt = NeuralTraces.from_numpy(np.zeros((1, 20)), rate=10.0)  # 10 Hz imaging
    a = align(nt, video_t, values, ["v"])
    # imaging frame k covers video frames 3k, 3k+1, 3k+2 -> mean 3k+1
    np.testing.assert_allclose(a.expressions[0], 3 * np.arange(20) + 1)


def test_no_look_ahead():
    video_t = np.arange(100) / 20.0
    step = (video_t >= 2.0).astype(float)[None, :]  # the face changes at 2.0 s
    nt = NeuralTraces.from_numpy(np.zeros((1, 50)), rate=10.0, start=0.0)
    with pytest.warns(UserWarning, match="49 of 50 imaging frames"):  # last one overhangs
        a = align(nt, video_t, step, ["v"], offset=0.05)  # frames start at .05, .15, ...
    before = a.time + 0.1 <= 2.0  # imaging frames that end before the change
    assert np.all(a.expressions[0, before] == 0.0)
    # the frame straddling the change sees only its own video frames at/after 2.0 s
    k = int(np.flatnonzero((a.time < 2.0) & (a.time + 0.1 > 2.0))[0])
    assert 0 < a.expressions[0, k] < 1


def test_faster_imaging_holds_the_last_video_frame():
    video_t = np.arange(10) / 5.0  # 5 Hz video
    means, held = bin_average(video_t, np.arange(10.0)[None], np.arange(21) / 10.0)
    assert held.sum() == 10
    np.testing.assert_allclose(means[0, :4], [0, 0, 1, 1])  # never the next video frame


def test_partial_overlap_warns_with_the_overlap():
    video_t = np.arange(600) / 20.0  # 30 s of video
    nt = NeuralTraces.from_numpy(np.random.default_rng(0).normal(size=(3, 400)), rate=10.0)
    with pytest.warns(UserWarning, match=r"overlap for 20\.00 s of the 40\.00 s of imaging"):
        a = align(nt, video_t, np.ones((2, 600)), ["a", "b"], offset=10.0)
    assert a.overlap["n_frames"] == 200 and a.overlap["n_dropped"] == 200
    assert a.time[0] == pytest.approx(10.0) and a.time[-1] == pytest.approx(29.9)
    assert a.traces.traces.shape == (3, 200)


def test_no_overlap_is_an_error():
    video_t = np.arange(600) / 20.0
    nt = NeuralTraces.from_numpy(np.zeros((1, 100)), rate=10.0, source="cells.csv")
    with pytest.raises(InputError, match=r"^cells\.csv: no temporal overlap between imaging "
                       r"\(100\.000-110\.000 s.*check the offset"):
        align(nt, video_t, np.ones((1, 600)), ["a"], offset=100.0)


def test_expression_and_video_lengths_must_agree():
    nt = NeuralTraces.from_numpy(np.zeros((1, 100)), rate=10.0)
    with pytest.raises(InputError, match="599 expression frames but 600 video frame times"):
        align(nt, np.arange(600) / 20.0, np.ones((1, 599)))
