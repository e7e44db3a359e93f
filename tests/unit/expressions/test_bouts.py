"""Freezing and escape bouts from movement traces: the rules one by one, then whole animals whose
movement looks like a compressed camera's (a drifting noise floor, bursts, whisking)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mouseface.expressions.bouts import (
    BOUT_COLUMNS,
    detect_bouts,
    detection_scores,
    find_bouts,
    match_bouts,
    movement_thresholds,
)

FPS = 20.0


def _t(seconds: float) -> np.ndarray:
    return np.arange(int(seconds * FPS)) / FPS


def _box(t, on, off, inside, outside):
    return np.where((t >= on) & (t < off), inside, outside)


# ---------------------------------------------------------------------------- the rules


def test_bouts_start_and_end_where_the_movement_crosses():
    t = _t(30)
    body = _box(t, 4.0, 11.5, 0.5, 2.0)
    wheel = _box(t, 20.0, 23.25, 9.0, 0.5)
    b = detect_bouts(t, {"motion_body": (body, 1.0)}, ("motion_wheel", wheel, 4.0)).bouts
    assert b[["onset", "duration", "trial_type"]].values.tolist() == [
        [4.0, 7.5, "passive_fear"], [20.0, 3.25, "active_fear"]]
    assert b["measure"].tolist() == ["motion_body", "motion_wheel"]
    np.testing.assert_allclose(b["movement"], [0.5, 9.0])


@pytest.mark.parametrize("seconds, found", [(5.0, 0), (5.1, 1)])
def test_freezing_lasts_more_than_the_minimum(seconds, found):
    t = _t(20)
    body = _box(t, 5.0, 5.0 + seconds, 0.5, 2.0)
    assert len(detect_bouts(t, {"b": (body, 1.0)}, None).bouts) == found


@pytest.mark.parametrize("seconds, found", [(2.0, 0), (2.1, 1)])
def test_escape_lasts_more_than_the_minimum(seconds, found):
    t = _t(20)
    wheel = _box(t, 5.0, 5.0 + seconds, 9.0, 0.5)
    assert len(detect_bouts(t, {}, ("w", wheel, 4.0)).bouts) == found


@pytest.mark.parametrize("gap, n", [(0.2, 1), (0.6, 2)])
def test_brief_interruptions_are_merged(gap, n):
    t = _t(40)
    body = np.full(len(t), 2.0)
    body[(t >= 5) & (t < 11)] = 0.5
    body[(t >= 11 + gap) & (t < 18)] = 0.5
    b = detect_bouts(t, {"b": (body, 1.0)}, None, baseline=0).bouts
    assert len(b) == n


def test_a_short_face_movement_does_not_break_freezing_but_whisking_does():
    t = _t(60)
    body = _box(t, 5, 15, 0.5, 2.0) + _box(t, 25, 35, -1.5, 0.0) + _box(t, 45, 55, -1.5, 0.0)
    face = np.full(len(t), 1.0)
    face[(t >= 4.6) & (t < 5.5)] = 3.0     # the face changing into its fear expression
    face[(t >= 9.0) & (t < 9.6)] = 3.0     # a blink
    face[(t >= 25) & (t < 35)] = 3.0       # whisking while the body is still
    face[(t >= 45) & (t < 48)] = 3.0       # 3 s of whisking, then 7 s still: a shorter freeze
    freeze = {"motion_body": (body, 1.0), "motion_energy": (face, 2.0)}
    b = detect_bouts(t, freeze, None, tolerate={"motion_energy": 1.0}).bouts
    assert b[["onset", "duration"]].values.tolist() == [[5.0, 10.0], [48.0, 7.0]]
    strict = detect_bouts(t, freeze, None).bouts  # the blink splits 5.5-15 s: 3.5 + 5.4 s
    assert strict["onset"].tolist() == [9.6, 48.0]


def test_a_bout_needs_a_bout_free_baseline():
    t = _t(60)
    body = _box(t, 1, 10, 0.5, 2.0)
    wheel = _box(t, 10.5, 14, 9.0, 0.5) + _box(t, 30, 34, 8.5, 0.0)
    stim = (t >= 27) & (t < 29)
    res = detect_bouts(t, {"b": (body, 1.0)}, ("w", wheel, 4.0), stimulus=stim, baseline=2.0)
    assert res.bouts.empty
    assert res.rejected[["onset", "trial_type"]].values.tolist() == [
        [1.0, "passive_fear"], [10.5, "active_fear"], [30.0, "active_fear"]]
    assert res.rejected["reason"].tolist() == [
        "no baseline: the session starts less than baseline s before",
        "no baseline: another bout in the baseline window",
        "no baseline: a stimulus in the baseline window"]
    kept = detect_bouts(t, {"b": (body, 1.0)}, ("w", wheel, 4.0), stimulus=stim, baseline=0)
    assert len(kept.bouts) == 3


def test_bouts_stay_inside_the_allowed_frames():
    t = _t(40)
    body = _box(t, 2, 30, 0.5, 2.0)
    allowed = t >= 12
    b = detect_bouts(t, {"b": (body, 1.0)}, None, allowed=allowed).bouts
    assert b[["onset", "duration"]].values.tolist() == [[12.0, 18.0]]


def test_thresholds_sit_between_stillness_and_the_usual_movement():
    rng = np.random.default_rng(0)
    still, usual = rng.normal(1.0, 0.05, 300), rng.normal(2.0, 0.2, 1700)
    run = rng.normal(12.0, 1.0, 100)
    th = movement_thresholds(np.concatenate([still, usual, run]))
    assert 1.1 < th["freeze_threshold"] < 1.8
    assert 3.0 < th["escape_threshold"] < 11.0
    # an encoder that reads exactly 0 at rest: the escape threshold is 10 % of the top speed
    speed = np.concatenate([np.zeros(900), np.full(100, 30.0)])
    assert movement_thresholds(speed)["escape_threshold"] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="no finite"):
        movement_thresholds(np.full(5, np.nan))


# ---------------------------------------------------------------------------- animals


def simulate_animal(rng, seconds=600.0, freeze_fraction=0.2, n_escape=6, sessions=1,
                    animal="m1", context_at=30.0):
    """Frames and true bouts of an animal whose camera is compressed and noisy.

    Quiet wakefulness: bursts of body movement (gamma-distributed lengths) and whisking; a noise
    floor that drifts slowly (illumination) and alternates frame to frame (compression), lower
    when the face moves (the encoder spends its bits there). Freezing: body at the floor, face at
    the floor with blinks. Escape: the wheel turns fast, the body moves.
    """
    frames, truth = [], []
    for s in range(sessions):
        session = f"{animal}_s{s}"
        t = _t(seconds)
        n = len(t)
        drift = 1.0 + 0.08 * np.sin(2 * np.pi * t / rng.uniform(60, 200) + rng.uniform(0, 6))
        gop = 1.0 + 0.12 * (np.arange(n) % 3 == 0)
        state = np.zeros(n, int)  # 0 quiet wakefulness, 1 freezing, 2 escape
        t0 = context_at + 5.0
        budget = freeze_fraction * (seconds - t0)
        events = []
        while t0 < seconds - 20:
            kind = rng.choice([1, 2], p=[0.5, 0.5]) if budget > 0 else 2
            if kind == 2 and sum(k == 2 for k, _, _ in events) >= n_escape:
                kind = 1 if budget > 0 else 0
            if kind == 0:
                break
            d = rng.uniform(6, 14) if kind == 1 else rng.uniform(2.6, 5)
            if kind == 1:
                budget -= d
            events.append((kind, t0, d))
            state[(t >= t0) & (t < t0 + d)] = kind
            t0 += d + rng.uniform(4, 10)
        burst = np.zeros(n)
        i = 0
        while i < n:  # quiet wakefulness: bursts of movement with short pauses
            on = int(rng.gamma(2.0, 0.8) * FPS)
            off = int(rng.gamma(1.2, 0.35) * FPS)
            burst[i:i + on] = rng.uniform(0.6, 1.6)
            i += on + off
        whisk = (np.sin(2 * np.pi * t / rng.uniform(5, 9)) > 0.2).astype(float)
        floor_b = 1.0 * drift * gop * (1 - 0.1 * whisk)
        body = floor_b + np.where(state == 0, burst, 0.0) + np.where(state == 2, 8.0, 0.0)
        body = body + rng.normal(0, 0.08, n)
        blink = np.zeros(n)
        for tb in rng.uniform(0, seconds, int(seconds / 8)):
            blink[(t >= tb) & (t < tb + 0.2)] = 1.5
        face = (2.0 * drift * gop + np.where(state == 0, 1.2 * whisk + 0.3 * burst, 0.0)
                + np.where(state == 2, 3.0, 0.0) + blink + rng.normal(0, 0.1, n))
        wheel = (0.5 * drift * gop + np.where(state == 0, 0.3 * burst, 0.0)
                 + np.where(state == 2, 12.0, 0.0) + rng.normal(0, 0.05, n))
        frames.append(pd.DataFrame({"session": session, "animal": animal, "frame": np.arange(n),
                                    "time": t, "motion_energy": face, "motion_body": body,
                                    "motion_wheel": wheel}))
        truth += [{"session": session, "onset": on, "duration": d,
                   "trial_type": "passive_fear" if k == 1 else "active_fear"}
                  for k, on, d in events]
    events = pd.DataFrame([{"session": f"{animal}_s{s}", "onset": context_at, "duration": 1.0,
                            "trial_type": "footshock"} for s in range(sessions)])
    return pd.concat(frames, ignore_index=True), pd.DataFrame(truth), events


@pytest.mark.parametrize("freeze_fraction, typical", [(0.05, 0.5), (0.2, 0.5), (0.35, 0.5),
                                                     (0.6, 0.75)])
def test_bouts_are_found_whatever_share_of_the_time_the_animal_freezes(freeze_fraction,
                                                                       typical):
    rng = np.random.default_rng(int(freeze_fraction * 100))
    frames, truth, events = simulate_animal(rng, freeze_fraction=freeze_fraction)
    res = find_bouts(frames, events, context="footshock", typical_quantile=typical)
    matched = match_bouts(res.bouts, truth)
    scores = detection_scores(matched).set_index("trial_type")
    print(freeze_fraction, scores.round(3).to_dict("index"))
    assert (scores["f1"] >= 0.9).all()
    # a pause of ordinary movement just before freezing is indistinguishable from freezing:
    # most onsets are exact, a few early
    error = (matched["onset"] - matched["true_onset"]).abs().dropna()
    assert error.median() <= 0.3 and (error <= 0.5).mean() >= 0.8
    assert list(res.bouts.columns) == BOUT_COLUMNS


def test_an_animal_that_never_freezes_is_rarely_called_frozen():
    rng = np.random.default_rng(5)
    frames, truth, events = simulate_animal(rng, freeze_fraction=0.0, n_escape=4, sessions=2)
    res = find_bouts(frames, events, context="footshock")
    freezes = (res.bouts["trial_type"] == "passive_fear").sum()
    minutes = frames.groupby("session")["time"].max().sum() / 60
    print(f"{freezes} freezing bouts in {minutes:.0f} min of an animal that never freezes")
    assert freezes / minutes <= 0.1


def test_context_thresholds_and_skipped_sessions():
    rng = np.random.default_rng(2)
    frames, truth, events = simulate_animal(rng, seconds=300, sessions=2)
    other = frames[frames["session"] == "m1_s1"].assign(session="m1_home")
    frames = pd.concat([frames, other], ignore_index=True)
    res = find_bouts(frames, events, context="footshock")
    assert res.skipped == {"m1_home": "no 'footshock' event"}
    assert set(res.context) == {"m1_s0", "m1_s1"}
    assert (res.bouts["onset"] >= 30.0).all()
    # one animal, three measures, one row each; overriding keeps the others data-driven
    assert sorted(res.thresholds["measure"]) == ["motion_body", "motion_energy", "motion_wheel"]
    fixed = find_bouts(frames, events, context="footshock",
                       thresholds={"motion_wheel": (None, 1e6)})
    assert not (fixed.bouts["trial_type"] == "active_fear").any()
    th = fixed.thresholds.set_index("measure")
    assert th.loc["motion_wheel", "source"] == "given"
    assert th.loc["motion_body", "source"] == "data"
    with pytest.raises(KeyError, match="context event 'tone' never happens .*footshock"):
        find_bouts(frames, events, context="tone")
    with pytest.raises(KeyError, match="no movement column 'motion_tail'"):
        find_bouts(frames, events, context="footshock", escape="motion_tail")
    whole = find_bouts(frames, events, context=None)
    assert set(whole.context) == {"m1_s0", "m1_s1", "m1_home"}


def test_match_bouts_pairs_one_to_one():
    truth = pd.DataFrame({"session": "s", "onset": [10.0, 30.0], "duration": [6.0, 3.0],
                          "trial_type": ["passive_fear", "active_fear"]})
    found = pd.DataFrame({"session": "s", "onset": [10.3, 31.0, 50.0], "duration": [5.5, 3.0, 4],
                          "trial_type": ["passive_fear", "active_fear", "passive_fear"]})
    scores = detection_scores(match_bouts(found, truth)).set_index("trial_type")
    assert scores.loc["passive_fear", ["hits", "found", "true"]].tolist() == [1, 2, 1]
    assert scores.loc["passive_fear", "precision"] == 0.5
    assert scores.loc["active_fear", "onset_error_max"] == pytest.approx(1.0)
