"""`mouseface au`: a synthetic face session's known action units through the
command, the config's roles, and one line for each bad input."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from tests.helpers import cli_error
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.io import poses
from mouseface.io.video import write_video
from mouseface.synth.poses import face_keypoint_session

runner = CliRunner()


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """Neutral for 10 s, then pain for 10 s, at 20 fps: a Facemap file and a video of as many
    frames."""
    d = tmp_path_factory.mktemp("au")
    s = face_keypoint_session(("neutral", "pain"), n_frames=200, noise_px=1.0, dropout=0.1,
                              seed=3)
    f = poses.to_facemap_file(d / "face_FacemapPose.h5", s.position, list(s.keypoints),
                              s.likelihood)
    video = write_video(d / "face.mp4", np.zeros((400, 16, 16), np.uint8), 20.0)
    return d, f, video, s


def test_known_action_units(session):
    d, f, video, s = session
    out = d / "out"
    r = runner.invoke(app, ["au", str(f), "--video", str(video), "--neutral", "0:10",
                            "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "au_eye_opening" in r.output and "below likelihood 0.6" in r.output
    table = pd.read_csv(out / "action_units.csv")
    assert len(table) == 400 and table["time"].iloc[200] == pytest.approx(10.0)
    pain = table[table["time"] >= 10].median()
    for col in ("au_eye_opening", "au_ear_angle", "au_nose_bulge"):
        assert pain[col] == pytest.approx(s.truth.loc["pain", col],
                                          abs=0.1 * abs(s.truth.loc["pain", col]) + 0.05)
    summary = json.loads((out / "action_units.json").read_text())
    assert summary["neutral_frames"] == 200 and summary["units"]["au_ear_angle"] == "deg"
    assert summary["cleaning"]["below_threshold"] > 0
    assert (out / "action_units.png").is_file()


def test_config_roles_and_scale(session, tmp_path):
    d, f, _, s = session
    names = [n if n != "ear_tip" else "L_ear" for n in s.keypoints]
    g = poses.to_facemap_file(tmp_path / "renamed_FacemapPose.h5", s.position, names,
                              s.likelihood)
    cfg = tmp_path / "mouseface.toml"
    cfg.write_text('[poses]\nmm_per_px = 0.1\n[poses.roles]\near_tip = "L_ear"\n')
    r = runner.invoke(app, ["au", str(g), "--fps", "20", "--neutral", "0:10",
                            "--config", str(cfg), "--out", str(tmp_path / "o")])
    assert r.exit_code == 0, r.output
    assert "ear_tip=L_ear" in r.output
    table = pd.read_csv(tmp_path / "o" / "action_units.csv")
    assert table.loc[table["time"] >= 10, "au_ear_angle"].median() == pytest.approx(
        s.truth.loc["pain", "au_ear_angle"], abs=2.0)
    summary = json.loads((tmp_path / "o" / "action_units.json").read_text())
    assert summary["units"]["au_mouth_opening"] == "mm"


def test_bad_inputs_one_line_each(session, tmp_path):
    d, f, video, s = session
    # keypoint names that match no role
    other = poses.to_facemap_file(tmp_path / "body_FacemapPose.h5", s.position[:, :3],
                                  ["snout", "tailbase", "paw"], s.likelihood[:, :3])
    r = runner.invoke(app, ["au", str(other), "--out", str(tmp_path / "o")])
    cli_error(r, str(other), "no action unit can be measured", "paw, snout, tailbase",
              "[poses.roles]")
    # poses longer than the video
    short = write_video(tmp_path / "short.mp4", np.zeros((399, 16, 16), np.uint8), 20.0)
    r = runner.invoke(app, ["au", str(f), "--video", str(short), "--out",
                            str(tmp_path / "o")])
    cli_error(r, str(f), "the poses have 400 frames, the video", "399")
    # every point below the threshold
    dim = poses.to_facemap_file(tmp_path / "dim_FacemapPose.h5", s.position,
                                list(s.keypoints), s.likelihood * 0.5)
    r = runner.invoke(app, ["au", str(dim), "--out", str(tmp_path / "o")])
    cli_error(r, str(dim), "every point is below the likelihood threshold 0.6")
    # an unknown format
    bad = tmp_path / "face.npy"
    np.save(bad, np.zeros(3))
    r = runner.invoke(app, ["au", str(bad), "--out", str(tmp_path / "o")])
    cli_error(r, str(bad), "unknown pose format: '.npy' files")
    # an unknown role in the config
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[poses.roles]\nears = "L_ear"\n')
    r = runner.invoke(app, ["au", str(f), "--config", str(cfg), "--out",
                            str(tmp_path / "o")])
    cli_error(r, "unknown keypoint roles ['ears']")
    # neutral ranges outside the poses
    r = runner.invoke(app, ["au", str(f), "--fps", "20", "--neutral", "50:60",
                            "--out", str(tmp_path / "o")])
    cli_error(r, "no frame in the neutral ranges")
    assert not (tmp_path / "o").exists()
