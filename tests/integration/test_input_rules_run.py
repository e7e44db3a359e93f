"""Inputs that once gave a silently wrong result, end to end through ``mouseface run``: each
is now refused with one line, or flagged in trials.csv with a warning in run.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers import one_line_error
from tests.integration.test_cli_core import _invoke, _tables


def test_trials_without_baseline_or_cut_by_the_video_end_are_flagged_not_scored(
        tmp_path, moving_video):
    """The video lasts 3.2 s at 20 fps; baseline 0.5 s. An onset at the first frame has no
    baseline; a window from 3.1 s keeps 2 of its 8 frames. Both are kept with their counts and
    a flag, their scores NaN, and run.json says so; the others are scored."""
    sessions, events, config = _tables(tmp_path / "in", moving_video, events={
        "session": ["s0"] * 6, "onset": [0.0, 0.6, 1.2, 2.0, 2.6, 3.1],
        "duration": [0.4] * 6, "trial_type": ["a", "b", "a", "b", "a", "b"]})
    out = tmp_path / "o"
    code, output = _invoke("run", sessions, events, "--out", out, "-c", config, "-q",
                           "--no-report")
    assert code == 0, output
    trials = pd.read_csv(out / "trials.csv")
    assert trials["n_frames"].tolist() == [8, 8, 8, 8, 8, 2]
    assert trials["n_baseline"].tolist() == [0, 10, 10, 10, 10, 10]
    flag = trials["window_flag"].tolist()
    assert flag == ["short_baseline", "ok", "ok", "ok", "ok", "short_stimulus"]
    scores = trials[[c for c in trials.columns if c.startswith(("score_", "peak_"))]]
    assert scores.iloc[[0, 5]].isna().all().all()
    assert scores.iloc[1:5].notna().all().all()
    warnings = json.loads((out / "run.json").read_text())["warnings"]
    assert any("2 of 6 trials not scored" in w and "short_baseline" in w for w in warnings), \
        warnings


def test_durations_in_ms_are_one_line(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video, events={
        "session": ["s0"], "onset": [0.6], "duration": [400], "trial_type": ["a"]})
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "events.csv", "duration 400 s", "longer than the whole video")
    assert not (tmp_path / "o" / "trials.csv").exists()


def test_a_duplicated_event_row_is_one_line(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    ev = pd.read_csv(events)
    pd.concat([ev, ev.iloc[[1]]]).to_csv(events, index=False)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "events.csv", "row 6", "duplicate event", "row 3")


def test_a_condition_named_neutral_is_one_line(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    pd.read_csv(events).replace({"trial_type": {"b": "neutral"}}).to_csv(events, index=False)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "events.csv", "'neutral' is reserved")


def test_a_run_whose_similarities_are_all_nan_says_so(tmp_path):
    """White noise with the paper's 32-px cells and L2-Hys: every cell's histogram is so flat
    that the clipping at 0.2 makes every HOG vector constant, and every Pearson r NaN. The run
    must not end quietly with an empty result."""
    from mouseface.io.video import write_video

    rng = np.random.default_rng(0)
    video = write_video(tmp_path / "noise.mp4", rng.integers(0, 256, (64, 96, 128), np.uint8),
                        20.0)
    sessions, events, config = _tables(tmp_path / "in", video)
    config.write_text(config.read_text().replace("pixels_per_cell = 16", "pixels_per_cell = 32"))
    out = tmp_path / "o"
    with pytest.warns(UserWarning, match="every similarity is NaN"):  # the terminal's line
        code, output = _invoke("run", sessions, events, "--out", out, "-c", config,
                               "--no-report")
    assert code == 0, output
    frames = pd.read_parquet(out / "frames.parquet")
    assert frames.filter(like="sim_").isna().all().all()  # the premise
    warnings = json.loads((out / "run.json").read_text())["warnings"]
    assert any("every similarity is NaN" in w for w in warnings), warnings


def test_too_few_hog_cells_for_the_face_is_a_warning(tmp_path, moving_video):
    """The 96x128 test video with 32-px cells: 3x4 = 12 cells (the tutorial without its
    config had 2x2). The run is valid; run.json says the face is compared over few cells."""
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    out = tmp_path / "o"
    code, output = _invoke("run", sessions, events, "--out", out, "-c", config, "--no-report")
    assert code == 0, output
    before = json.loads((out / "run.json").read_text())["warnings"]
    assert not [w for w in before if "HOG cells" in w]  # 6x8 = 48 cells of 16 px: fine
    config.write_text(config.read_text().replace("pixels_per_cell = 16", "pixels_per_cell = 32"))
    with pytest.warns(UserWarning, match="HOG cells"):
        code, output = _invoke("run", sessions, events, "--out", out, "-c", config,
                               "--no-report")
    assert code == 0, output
    warnings = json.loads((out / "run.json").read_text())["warnings"]
    assert any("3x4 = 12 HOG cells of 32x32 px" in w and "fewer than 16" in w
               for w in warnings), warnings
