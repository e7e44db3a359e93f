"""Faces that line up, through the commands: registration against known poses, drift against
known per-frame shifts, and masks whose content never reaches a score (issue 8's acceptance).

One synthetic animal, two sessions written as lossless image folders (so that painting inside
a mask changes no other pixel): session s1 sits at a known offset and rotation from s0, and
every frame of both jitters by a known shift.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from mouseface._errors import InputError
from mouseface.settings import load_settings
from mouseface.workflows import pipeline
from mouseface.workflows.demo import trial_accuracy

pytestmark = pytest.mark.slow

FPS, SIZE, TRIALS, TRIAL_S = 20.0, (160, 160), 6, 3.0
OFFSET = {"s0": (0.0, 0.0, 0.0), "s1": (3.0, -2.0, 3.0)}  # dx, dy (px), rotation (deg)
SPOUT = (100, 112, 30, 26)  # x, y, w, h in the crop: where a lick spout would sit


def _write_session(folder: Path, session: str, rng, *, paint: bool) -> pd.DataFrame:
    from mouseface.synth import Pose, make_animal, render_face

    animal = make_animal(np.random.default_rng(3))
    folder.mkdir(parents=True)
    ox, oy, rot = OFFSET[session]
    n = int(TRIALS * TRIAL_S * FPS)
    t = np.arange(n) / FPS
    rows = []
    paint_rng = np.random.default_rng(99)
    for i in range(n):
        trial, within = divmod(t[i], TRIAL_S)
        state = ("pain", "pleasure")[int(trial) % 2]
        intensity = 0.9 if within >= 1.5 else 0.0
        jx, jy = rng.normal(0, 0.8, 2)
        img = render_face(state, intensity, size=SIZE, animal=animal, noise_std=2.0, rng=rng,
                          pose=Pose(ox + jx, oy + jy, rot))
        if paint:
            x, y, w, h = SPOUT
            img = img.copy()
            img[y:y + h, x:x + w] = paint_rng.integers(0, 256, (h, w), dtype=np.uint8)
        Image.fromarray(img).save(folder / f"frame_{i:04d}.png")
        rows.append({"session": session, "frame": i, "jitter_x": jx, "jitter_y": jy})
    return pd.DataFrame(rows)


def _events(session: str) -> pd.DataFrame:
    on = np.arange(TRIALS) * TRIAL_S + 1.5
    return pd.DataFrame({"session": session, "onset": on, "duration": 1.5,
                         "trial_type": [("pain", "pleasure")[k % 2] for k in range(TRIALS)]})


@pytest.fixture(scope="module")
def lineup_data(tmp_path_factory) -> dict[str, Path | pd.DataFrame]:
    root = tmp_path_factory.mktemp("lineup")
    out: dict = {}
    for painted in (False, True):
        kind = "painted" if painted else "clean"
        truth = []
        for k, s in enumerate(OFFSET):
            truth.append(_write_session(root / kind / s, s, np.random.default_rng(k),
                                        paint=painted))
        pd.DataFrame({"session": list(OFFSET), "video": list(OFFSET), "animal": "m1",
                      "fps": FPS}).to_csv(root / kind / "sessions.csv", index=False)
        out[kind] = root / kind / "sessions.csv"
        out["truth"] = pd.concat(truth, ignore_index=True)
    pd.concat([_events(s) for s in OFFSET]).to_csv(root / "events.csv", index=False)
    out["events"] = root / "events.csv"
    return out


def _settings(**sections):
    base = {"hog": {"pixels_per_cell": (16, 16), "block_norm": "L1"},
            "prototypes": {"baseline": 1.5, "n_frames": 5}}
    for k, v in sections.items():
        base.setdefault(k, {}).update(v)
    return load_settings(**base)


def test_registration_recovers_known_poses_and_drift(lineup_data, tmp_path):
    # the lineup's frames jitter independently (camera vibration): drift measured on every
    # frame; the default interpolation is tested on slow drift (test_synthetic_truth)
    settings = _settings(registration={"align": "similarity", "drift": True,
                                       "drift_every": 1})
    out = pipeline.run(lineup_data["clean"], lineup_data["events"], tmp_path / "r",
                       settings=settings, quiet=True, report=False)
    reg = pd.read_csv(out / "registration" / "sessions.csv").set_index("session")
    ox, oy, rot = OFFSET["s1"]
    print(reg[["dx", "dy", "rotation_deg", "scale", "r_before", "r_after"]])
    assert abs(reg.loc["s1", "dx"] - ox) < 1 and abs(reg.loc["s1", "dy"] - oy) < 1
    assert abs(reg.loc["s1", "rotation_deg"] - rot) < 1
    assert reg.loc["s1", "r_after"] > reg.loc["s1", "r_before"]
    assert (out / "registration" / "faces.npz").is_file()
    from mouseface.report import write_report

    write_report(out)  # the report draws the QC figure from the saved faces
    assert (out / "registration" / "qc_m1.png").is_file()

    frames = pd.read_parquet(out / "frames.parquet").merge(lineup_data["truth"],
                                                          on=["session", "frame"])
    for s, f in frames.groupby("session"):
        base = f["window"] == "neutral"  # the reference face is the mean baseline face
        true_x = f["jitter_x"] - f.loc[base, "jitter_x"].mean()
        true_y = f["jitter_y"] - f.loc[base, "jitter_y"].mean()
        err = np.hypot(f["shift_x"] - true_x, f["shift_y"] - true_y)
        print(s, "drift error: median", round(err.median(), 3), "max", round(err.max(), 3))
        assert err.max() < 1.0
    run = json.loads((out / "run.json").read_text())
    assert "registration" in run["timings_s"]


def _scores(results: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = pd.read_parquet(results / "frames.parquet")
    trials = pd.read_csv(results / "trials.csv")
    return frames, trials


def test_painting_inside_a_mask_changes_no_score(lineup_data, tmp_path):
    x, y, w, h = SPOUT
    settings = _settings(registration={"align": "translation", "drift": True},
                         masks={"regions": f"{x},{y},{w},{h}"})
    clean = pipeline.run(lineup_data["clean"], lineup_data["events"], tmp_path / "clean",
                         settings=settings, quiet=True, report=False)
    painted = pipeline.run(lineup_data["painted"], lineup_data["events"], tmp_path / "painted",
                           settings=settings, quiet=True, report=False)
    (fc, tc), (fp, tp) = _scores(clean), _scores(painted)
    sim = [c for c in fc.columns if c.startswith("sim_")]
    score = [c for c in tc.columns if c.startswith(("score_", "peak_"))]
    np.testing.assert_allclose(fp[sim], fc[sim], rtol=0, atol=1e-6)
    np.testing.assert_allclose(tp[score], tc[score], rtol=0, atol=1e-6)
    np.testing.assert_allclose(fp[["shift_x", "shift_y"]], fc[["shift_x", "shift_y"]], atol=0)
    assert (fp["flag"] == fc["flag"]).all()
    model = json.loads((clean / "model" / "model.json").read_text())
    assert model["mask_regions"] == f"{x},{y},{w},{h}"
    protos = np.load(clean / "model" / "prototypes.npz")["m1"]
    assert np.isnan(protos).any(axis=0).sum() == np.array(model["mask"]).sum() * 8
    # the analyses read HOG without the masked cells too: the same embedding, exactly
    from mouseface.workflows.analysis import embed

    kw = dict(features="hog", max_frames=200, per_animal=False, n_pca=10, write=False)
    ec, ep = embed(clean, **kw), embed(painted, **kw)
    np.testing.assert_array_equal(ep[["x", "y"]], ec[["x", "y"]])

    # the same painted video without the mask: the paint does change the scores
    bare = pipeline.run(lineup_data["painted"], lineup_data["events"], tmp_path / "bare",
                        settings=_settings(registration={"align": "translation"}),
                        quiet=True, report=False)
    fb, _ = _scores(bare)
    assert np.abs(fb[sim].to_numpy() - fc[sim].to_numpy()).max() > 1e-3
    eb = embed(bare, **kw)
    assert np.abs(eb[["x", "y"]].to_numpy() - ec[["x", "y"]].to_numpy()).max() > 1


def test_transfer_model_scores_a_new_session_through_the_cli(lineup_data, tmp_path):
    """fit (transfer) on s0, score s1, which sits 3 px and 3 degrees away."""
    from typer.testing import CliRunner

    from mouseface.cli import app

    folder = Path(lineup_data["clean"]).parent
    sessions = pd.read_csv(lineup_data["clean"])
    events = pd.read_csv(lineup_data["events"])
    for s in ("s0", "s1"):
        sessions[sessions.session == s].assign(video=str(folder / s)).to_csv(
            tmp_path / f"{s}.csv", index=False)
        events[events.session == s].to_csv(tmp_path / f"{s}_events.csv", index=False)
    (tmp_path / "c.toml").write_text('[hog]\npixels_per_cell = 16\nblock_norm = "L1"\n'
                                     '[prototypes]\nbaseline = 1.5\n'
                                     '[registration]\nalign = "similarity"\n')
    runner = CliRunner()
    r = runner.invoke(app, ["fit", str(tmp_path / "s0.csv"), str(tmp_path / "s0_events.csv"),
                            "-o", str(tmp_path / "m"), "-c", str(tmp_path / "c.toml"), "-q"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["score", str(tmp_path / "m"), str(tmp_path / "s1.csv"),
                            str(tmp_path / "s1_events.csv"), "-o", str(tmp_path / "r"), "-q",
                            "--no-report"])
    assert r.exit_code == 0, r.output
    trials = pd.read_csv(tmp_path / "r" / "trials.csv")
    assert trial_accuracy(trials) == 1.0
    reg = pd.read_csv(tmp_path / "r" / "registration" / "sessions.csv")
    assert abs(reg.loc[0, "rotation_deg"] - 3.0) < 1
    frames = pd.read_parquet(tmp_path / "r" / "frames.parquet")
    base = frames[frames["window"] == "neutral"]
    assert abs(base["sim_pain"].mean()) < 0.1  # neutral frames: no change from neutral


def test_a_chosen_session_is_the_template_of_all(lineup_data, tmp_path):
    settings = _settings(registration={"align": "similarity", "template": "s1"})
    out = pipeline.run(lineup_data["clean"], lineup_data["events"], tmp_path / "r",
                       settings=settings, quiet=True, report=False)
    reg = pd.read_csv(out / "registration" / "sessions.csv").set_index("session")
    ox, oy, rot = OFFSET["s1"]
    print(reg[["dx", "dy", "rotation_deg"]])
    assert reg.loc["s1", ["dx", "dy", "rotation_deg"]].abs().max() == 0  # itself: identity
    assert abs(reg.loc["s0", "rotation_deg"] + rot) < 1
    assert abs(reg.loc["s0", "dx"] + ox) < 1 and abs(reg.loc["s0", "dy"] + oy) < 1
    summary = json.loads((out / "registration" / "summary.json").read_text())
    assert summary["template"] == "session s1" and (out / "registration" / "faces.npz").is_file()
    assert (out / "model" / "template.npy").is_file()
    bad = _settings(registration={"template": "nope"})
    with pytest.raises(InputError, match="registration.template: session 'nope'"):
        pipeline.run(lineup_data["clean"], lineup_data["events"], tmp_path / "b",
                     settings=bad, quiet=True, report=False)
