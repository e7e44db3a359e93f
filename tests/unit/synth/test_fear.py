"""The synthetic fear context and needs: the body on its wheel does what the truth says, the face
shows the matching state, and one stimulus at two needs scales the expression."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mouseface.features.motion import video_motion
from mouseface.synth import simulate_experiment
from mouseface.synth.behaviour import FEAR_ITEMS, body_regions, strip_height

ITEMS = {"passive_fear": 1, "active_fear": 1, "grooming": 1, "brief_stillness": 1,
         "whisking_stillness": 1}


@pytest.mark.parametrize("size", [(64, 64), (128, 128), (160, 160), (120, 160)])
def test_body_regions_lie_inside_the_frame(size):
    h, w = size
    sh = strip_height(w)
    assert sh % 2 == 0
    for x, y, rw, rh in body_regions(size).values():
        assert x >= 0 and y >= h and rw > 0 and rh > 0
        assert x + rw <= w and y + rh <= h + sh


@pytest.fixture(scope="module")
def fear(tmp_path_factory):
    out = tmp_path_factory.mktemp("fear")
    return simulate_experiment(out, n_animals=1, conditions=("pleasure",), n_trials=2,
                               size=(64, 64), fear=True, fear_shocks=2, fear_items=ITEMS,
                               seed=3, preset="ultrafast", workers=1)


def test_fear_session_tables_and_truth(fear):
    s = fear.sessions.set_index("session")
    assert list(s.index) == ["m01_pleasure", "m01_fear"]
    assert s.loc["m01_fear", "roi_body"] == ",".join(map(str, body_regions((64, 64))["body"]))
    assert s.loc["m01_pleasure", "roi_body"] == ""
    ev = fear.events[fear.events["session"] == "m01_fear"]
    assert ev["trial_type"].tolist() == ["pain", "pain"]  # the shocks; no bout is an event
    b = fear.bouts
    items = b[b["behaviour"].isin(list(FEAR_ITEMS))]
    assert sorted(items["behaviour"]) == sorted(ITEMS)
    assert (items["onset"] > ev["onset"].max() + 3.0).all()  # the context follows the shocks
    assert (b.loc[b["behaviour"] == "startle", "onset"].to_numpy() == ev["onset"].to_numpy()).all()
    t = fear.truth[fear.truth["session"] == "m01_fear"]
    for kind in ("passive_fear", "active_fear"):
        row = items[items["behaviour"] == kind].iloc[0]
        inside = t[(t["time"] >= row.onset + 1.0) & (t["time"] < row.onset + row.duration)]
        assert (inside["state"] == kind).all() and (inside["intensity"] > 0.5).all()
        assert (inside["behaviour"] == kind).all()
    # grooming is a paw over the face; the other confounds keep a neutral face
    groom = items[items["behaviour"] == "grooming"].iloc[0]
    g = t[(t["time"] >= groom.onset + 0.5) & (t["time"] < groom.onset + groom.duration - 0.5)]
    assert g["occluded"].all() and (g["state"] == "neutral").all()
    assert (t.loc[t["behaviour"] == "active_fear", "wheel_speed"] > 30).mean() > 0.8
    assert (t.loc[t["behaviour"] == "passive_fear", "wheel_speed"] == 0).all()


def test_the_body_the_wheel_and_the_face_move_as_the_truth_says(fear):
    row = fear.sessions.set_index("session").loc["m01_fear"]
    rois = {"motion_energy": (0, 0, 64, 64),
            "motion_body": tuple(map(int, row["roi_body"].split(","))),
            "motion_wheel": tuple(map(int, row["roi_wheel"].split(",")))}
    m = video_motion(fear.out / row["video"], rois)
    t = fear.truth[fear.truth["session"] == "m01_fear"].reset_index(drop=True)
    assert len(m) == len(t)
    m["behaviour"] = t["behaviour"]
    level = m.groupby("behaviour")[list(rois)].median()
    print(level.round(2))
    assert level.loc["active_fear", "motion_wheel"] > 3 * level.loc["normal", "motion_wheel"]
    assert level.loc["passive_fear", "motion_wheel"] < level.loc["normal", "motion_wheel"]
    for still in ("passive_fear", "brief_stillness", "whisking_stillness"):
        assert level.loc[still, "motion_body"] < 0.8 * level.loc["normal", "motion_body"]
    assert level.loc["grooming", "motion_body"] > level.loc["normal", "motion_body"]
    assert (level.loc["whisking_stillness", "motion_energy"]
            > 1.2 * level.loc["passive_fear", "motion_energy"])


def test_one_stimulus_at_two_needs(tmp_path):
    exp = simulate_experiment(tmp_path, n_animals=1, conditions=("pleasure", "disgust"),
                              n_trials=2, size=(48, 48), doses=(1.0,), seed=1, workers=1,
                              needs={"pleasure": {"thirsty": 1.0, "sated": 0.4}},
                              preset="ultrafast")
    assert exp.sessions["session"].tolist() == ["m01_pleasure_thirsty", "m01_pleasure_sated",
                                                "m01_disgust"]
    ev = exp.events.set_index("session")
    assert ev.loc["m01_pleasure_sated", "need"].tolist() == ["sated", "sated"]
    assert ev.loc["m01_disgust", "need"].isna().all()
    assert (ev["trial_type"].loc["m01_pleasure_sated"] == "pleasure").all()
    peak = exp.truth.groupby("session")["intensity"].max()
    assert peak["m01_pleasure_sated"] / peak["m01_pleasure_thirsty"] == pytest.approx(0.4,
                                                                                       rel=0.02)
    assert "roi_body" not in exp.sessions.columns


def test_bad_fear_and_needs_arguments(tmp_path):
    with pytest.raises(ValueError, match="needs must map"):
        simulate_experiment(tmp_path, conditions=("pleasure",), needs={"pain": {"a": 1.0}})
    with pytest.raises(ValueError, match="fear_shocks >= 1"):
        simulate_experiment(tmp_path, conditions=(), fear=True, fear_shocks=0)
    with pytest.raises(ValueError, match="unknown behaviour kinds"):
        simulate_experiment(tmp_path, n_animals=1, conditions=(), fear=True,
                            fear_items={"sleeping": 1}, size=(32, 32))
    with pytest.raises(ValueError, match="at least one"):
        simulate_experiment(tmp_path, conditions=())


def test_fear_frames_are_the_same_every_time(fear, tmp_path):
    again = simulate_experiment(tmp_path, n_animals=1, conditions=("pleasure",), n_trials=2,
                                size=(64, 64), fear=True, fear_shocks=2, fear_items=ITEMS,
                                seed=3, preset="ultrafast", workers=2)
    pd.testing.assert_frame_equal(again.truth, fear.truth)
    pd.testing.assert_frame_equal(again.bouts, fear.bouts)
    a = (fear.out / "videos" / "m01_fear.mp4").read_bytes()
    assert a == (tmp_path / "videos" / "m01_fear.mp4").read_bytes()
    assert np.isfinite(fear.truth["wheel_speed"]).all()
