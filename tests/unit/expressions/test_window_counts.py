"""Frames found in each trial's windows against what the windows' length implies: a trial
below the documented minimum (half its frames) is flagged and not scored."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mouseface.expressions.windows import MIN_WINDOW_FRACTION, window_counts


def _events(onsets, durations) -> pd.DataFrame:
    return pd.DataFrame({"session": "s", "onset": onsets, "duration": durations,
                         "trial_type": "a", "event": np.arange(len(onsets))})


def test_counts_and_flags():
    time = np.arange(200) / 20.0  # 10 s at 20 fps
    ev = _events([0.0, 0.2, 4.0, 9.5, 9.9], [1.0, 1.0, 1.0, 1.0, 1.0])
    got = window_counts(time, ev, baseline=1.0)
    assert MIN_WINDOW_FRACTION == 0.5
    assert got.index.tolist() == [0, 1, 2, 3, 4]
    # onset at the first frame: no baseline; 0.2 s of baseline is 4 of 20 frames
    assert got["n_baseline"].tolist() == [0, 4, 20, 20, 20]
    # the video ends 0.5 s and 0.1 s into the last two windows
    assert got["n_frames"].tolist() == [20, 20, 20, 10, 2]
    assert got["window_flag"].tolist() == ["short_baseline", "short_baseline", "ok", "ok",
                                           "short_stimulus"]


def test_a_video_that_lost_frames_inside_a_trial():
    time = np.r_[np.arange(100), np.arange(119, 200)] / 20.0  # frames 100-118 missing
    got = window_counts(time, _events([5.0], [1.0]), baseline=1.0)
    assert got.loc[0, "n_frames"] == 1 and got.loc[0, "window_flag"] == "short_stimulus"
