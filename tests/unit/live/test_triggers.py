"""Triggers: k frames at or above a threshold, a refractory time, flagged frames never count."""

import math

import pytest

from mouseface.live.triggers import Trigger, parse_trigger


def _fire(trigger, values, flags=None, fps=10.0):
    flags = flags or [False] * len(values)
    return [i for i, (v, f) in enumerate(zip(values, flags, strict=True))
            if trigger.update(v, f, i / fps)]


def test_fires_on_the_kth_frame_at_or_above_the_threshold():
    t = Trigger("pain", 0.5, frames=3, refractory=0.0)
    assert _fire(t, [0.5, 0.6, 0.4, 0.5, 0.5, 0.5, 0.9]) == [5]  # the 0.4 breaks the first run


def test_stays_silent_for_the_refractory_time_then_fires_again():
    t = Trigger("pain", 0.5, frames=1, refractory=1.0)
    fired = _fire(t, [0.9] * 25)  # 10 frames/s, always above
    assert fired == [0, 10, 20]
    assert t.fired == 3


def test_flagged_and_missing_frames_never_count_and_break_the_run():
    t = Trigger("pain", 0.5, frames=2, refractory=0.0)
    assert _fire(t, [0.9, 0.9, 0.9, 0.9], [False, True, False, False]) == [3]
    t = Trigger("pain", 0.5, frames=2, refractory=0.0)
    assert _fire(t, [0.9, math.nan, 0.9, 0.9]) == [3]


def test_parse_and_bad_settings():
    t = parse_trigger("passive_fear:-0.25", frames=4, refractory=1.5)
    assert (t.prototype, t.threshold, t.frames, t.refractory) == ("passive_fear", -0.25, 4, 1.5)
    assert t.marker == "trigger:passive_fear"
    for bad in ("pain", "pain:", ":0.3", "pain:high", "pain:nan"):
        with pytest.raises(ValueError, match="PROTOTYPE:THRESHOLD"):
            parse_trigger(bad)
    with pytest.raises(ValueError, match="at least 1 frame"):
        Trigger("pain", 0.3, frames=0)
