"""The core commands from the command line: good runs and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.helpers import one_line_error
from typer.testing import CliRunner

from mouseface.cli import app

runner = CliRunner()
# the test video is a texture sliding 2 px per frame, not a face: drift correction would flag
# nearly every frame as large_shift (test_sliding_video_loses_conditions_with_a_warning)
CONFIG = ("[hog]\npixels_per_cell = 16\n[registration]\ndrift = false\n"
          "[prototypes]\nbaseline = 0.5\nn_frames = 3\n")


def _tables(folder: Path, video: Path | str, *, sessions: int = 1, events=None) -> tuple:
    folder.mkdir(parents=True, exist_ok=True)
    s = pd.DataFrame({"session": [f"s{i}" for i in range(sessions)],
                      "video": [str(video)] * sessions, "animal": "m1"})
    e = pd.DataFrame(events if events is not None else {
        "session": ["s0"] * 4, "onset": [0.6, 1.2, 2.0, 2.6], "duration": [0.4] * 4,
        "trial_type": ["a", "b", "a", "b"], "intensity": [1, 2, 3, 4]})
    (folder / "sessions.csv").write_text(s.to_csv(index=False))
    (folder / "events.csv").write_text(e.to_csv(index=False))
    (folder / "c.toml").write_text(CONFIG)
    return folder / "sessions.csv", folder / "events.csv", folder / "c.toml"


def _invoke(*args) -> tuple[int, str]:
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.output


def test_run_writes_the_results_folder(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    out = tmp_path / "out"
    code, output = _invoke("run", sessions, events, "--out", out, "--config", config, "-q")
    assert (out / "report.html").is_file()
    assert code == 0, output
    frames = pd.read_parquet(out / "frames.parquet")
    assert len(frames) == 64 and {"sim_neutral", "sim_a", "sim_b"} <= set(frames.columns)
    assert {"motion_energy", "blur", "occluded", "flag"} <= set(frames.columns)
    np.testing.assert_allclose(frames["time"], np.arange(64) / 20)
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials["intensity"]) == [1, 2, 3, 4]  # the events' own columns carried through
    assert {"score_a", "score_b", "peak_a", "score_neutral"} <= set(trials.columns)
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["hog"]["pixels_per_cell"] == [16, 16]
    assert {"compile", "extract", "prototypes_and_scores"} <= set(run["timings_s"])
    assert any(i.get("session") == "s0" and i["fingerprint"] for i in run["inputs"])
    assert (out / "model" / "model.json").is_file()


def test_sliding_video_loses_conditions_with_a_warning(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    # a threshold below the drift's 0.1-px steps flags every frame that moved at all
    config.write_text(CONFIG.replace("drift = false", "drift = true\nshift_threshold = 0.01"))
    with pytest.warns(UserWarning, match="every .* frame is quality-flagged"):
        code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config,
                               "-q", "--no-report")
    assert code == 0, output
    frames = pd.read_parquet(tmp_path / "o" / "frames.parquet")
    assert {"shift_y", "shift_x", "shift"} <= set(frames.columns)
    assert frames["large_shift"].mean() > 0.5 and (frames["flag"] >= frames["large_shift"]).all()


def test_fit_then_score(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    code, output = _invoke("fit", sessions, events, "--out", tmp_path / "m", "-c", config, "-q")
    assert code == 0, output
    # the folder it was given, the one `score` takes (not the model/ inside it)
    assert output.splitlines()[-1] == f"model written to {tmp_path / 'm'} (give it to " \
        "`mouseface score`)"
    code, output = _invoke("score", tmp_path / "m", sessions, events, "--out", tmp_path / "r",
                           "-q")
    assert code == 0, output
    trials = pd.read_csv(tmp_path / "r" / "trials.csv")
    assert len(trials) == 4 and trials["score_a"].notna().all()
    frames = pd.read_parquet(tmp_path / "r" / "frames.parquet")
    assert {"large_shift", "flag"} <= set(frames.columns)
    model = json.loads((tmp_path / "m" / "model" / "model.json").read_text())
    assert model["mode"] == "transfer" and (tmp_path / "m" / "model" / "template.npy").is_file()
    # a transfer model needs each animal's own baseline: without events, one clear line
    code, output = _invoke("score", tmp_path / "m", sessions, "--out", tmp_path / "r2", "-q")
    one_line_error(code, output, "give the events table")


def test_pooled_model_scores_without_events(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    config.write_text(CONFIG + 'mode = "pooled"\n')
    code, output = _invoke("fit", sessions, events, "--out", tmp_path / "m", "-c", config, "-q")
    assert code == 0, output
    code, output = _invoke("score", tmp_path / "m", sessions, "--out", tmp_path / "r2", "-q")
    assert code == 0, output
    assert len(pd.read_parquet(tmp_path / "r2" / "frames.parquet")) == 64


def test_truncated_video_processes_what_decodes(tmp_path, truncated_video):
    sessions, events, config = _tables(tmp_path / "in", truncated_video, events={
        "session": ["s0", "s0"], "onset": [0.6, 1.0], "duration": [0.3, 0.3],
        "trial_type": ["a", "a"]})
    with pytest.warns(UserWarning, match=r"video ends early: decoded \d+ of \d+ frames"):
        code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config,
                               "-q")
    assert code == 0, output
    n = len(pd.read_parquet(tmp_path / "o" / "frames.parquet"))
    assert 0 < n < 64
    run = json.loads((tmp_path / "o" / "run.json").read_text())
    assert any("ends early" in w for w in run["warnings"])


@pytest.mark.parametrize("bad", ["zero_byte_video", "text_video", "empty_folder"])
def test_unreadable_video_is_one_line(tmp_path, request, bad):
    video = request.getfixturevalue(bad)
    sessions, events, config = _tables(tmp_path / "in", video)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, video.name)


def test_cut_without_index_is_one_line(tmp_path, moving_video):
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(moving_video.read_bytes()[:2000])
    sessions, events, config = _tables(tmp_path / "in", cut)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "cut.mp4")


def test_sessions_without_video_column(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    pd.read_csv(sessions).drop(columns="video").to_csv(sessions, index=False)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o")
    one_line_error(code, output, "sessions.csv", "video")


def test_events_naming_an_unknown_session(tmp_path, moving_video):
    sessions, events, _ = _tables(tmp_path / "in", moving_video, events={
        "session": ["s0", "nope"], "onset": [0.6, 1.0], "duration": [0.3, 0.3],
        "trial_type": ["a", "a"]})
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o")
    one_line_error(code, output, "events.csv", "nope")


@pytest.mark.parametrize("onsets", [[0.6, 30.0], [30.0, 31.0]])
def test_event_beyond_the_end_of_the_video(tmp_path, moving_video, onsets):
    """Also when every event of the session is late (no baseline frame at all): the line names
    the events table, the session, the onset and the video's duration."""
    sessions, events, config = _tables(tmp_path / "in", moving_video, events={
        "session": ["s0", "s0"], "onset": onsets, "duration": [0.3, 0.3],
        "trial_type": ["a", "a"]})
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "events.csv", "'s0'", "onset 30 s",
                           "its video lasts 3.2 s")


def test_rois_of_different_sizes_in_one_animal(tmp_path, moving_video):
    """Registration on (the default): one line naming the sessions table, not a traceback."""
    sessions, events, _ = _tables(tmp_path / "in", moving_video, sessions=2)
    pd.read_csv(sessions).assign(roi=["0,0,128,96", "10,10,100,80"]).to_csv(sessions,
                                                                          index=False)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o")
    one_line_error(code, output, "sessions.csv", "'s0' and 's1'", "different sizes")


def test_roi_outside_the_frame(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    pd.read_csv(sessions).assign(roi="100,50,64,64").to_csv(sessions, index=False)
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "moving.mp4", "ROI", "outside")


def test_bad_config_key(tmp_path, moving_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    config.write_text("[hog]\ncell_size = 8\n")
    code, output = _invoke("run", sessions, events, "--out", tmp_path / "o", "-c", config)
    one_line_error(code, output, "c.toml", "hog.cell_size")


def test_failed_run_keeps_earlier_results(tmp_path, moving_video, text_video):
    sessions, events, config = _tables(tmp_path / "in", moving_video)
    out = tmp_path / "o"
    assert _invoke("run", sessions, events, "--out", out, "-c", config, "-q")[0] == 0
    before = (out / "trials.csv").read_bytes()
    bad_sessions, bad_events, _ = _tables(tmp_path / "bad", text_video)
    code, _ = _invoke("run", bad_sessions, bad_events, "--out", out, "-c", config, "-q")
    assert code != 0
    assert (out / "trials.csv").read_bytes() == before
    assert not [p for p in out.iterdir() if ".tmp" in p.name]


def test_help_without_arguments():
    code, output = _invoke()
    assert "run" in output and "demo" in output
