"""Triggers: a marker when a prototype's similarity stays above a threshold for k frames.

A trigger fires on the k-th consecutive frame whose similarity to its prototype is at or above
the threshold, then stays silent for ``refractory`` seconds (of the source's own time, so a
replay fires where the live session did). Quality-flagged frames (a paw over the face, a blurred
or dropped frame) never count and break the run: a closed loop should not act on them. Frames
skipped to stay current do not break it (the run counts the frames that were processed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Trigger", "parse_trigger"]


@dataclass
class Trigger:
    """One trigger (see the module notes).

    Parameters
    ----------
    prototype
        The prototype whose similarity is watched.
    threshold
        Similarity (Pearson r) at or above which a frame counts.
    frames
        Consecutive counting frames needed (k).
    refractory
        Seconds after a firing during which it cannot fire again.

    Examples
    --------
    >>> t = Trigger("pain", 0.5, frames=2, refractory=1.0)
    >>> [t.update(v, False, i / 10) for i, v in enumerate([0.6, 0.7, 0.8, 0.2, 0.9, 0.9])]
    [False, True, False, False, False, False]
    >>> t.update(0.9, False, 1.2), t.fired
    (True, 2)
    """

    prototype: str
    threshold: float
    frames: int = 3
    refractory: float = 2.0
    run: int = field(default=0, init=False)
    last: float = field(default=-math.inf, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self):
        if int(self.frames) < 1:
            raise ValueError(f"a trigger needs at least 1 frame, got {self.frames}")
        if not self.refractory >= 0:
            raise ValueError(f"the refractory time must be >= 0 s, got {self.refractory}")

    def update(self, value: float, flagged: bool, time: float) -> bool:
        """Count one frame; True when the trigger fires on it."""
        if flagged or not value >= self.threshold:  # NaN never counts
            self.run = 0
            return False
        self.run += 1
        if self.run >= self.frames and time - self.last >= self.refractory:
            self.last = time
            self.run = 0
            self.fired += 1
            return True
        return False

    @property
    def marker(self) -> str:
        return f"trigger:{self.prototype}"


def parse_trigger(text: str, *, frames: int = 3, refractory: float = 2.0) -> Trigger:
    """``"pain:0.4"`` -> ``Trigger("pain", 0.4, ...)``.

    Examples
    --------
    >>> parse_trigger("pain:0.4", frames=5)
    Trigger(prototype='pain', threshold=0.4, frames=5, refractory=2.0, run=0, last=-inf, fired=0)
    """
    name, sep, value = str(text).rpartition(":")
    try:
        threshold = float(value)
    except ValueError:
        threshold = math.nan
    if not sep or not name or not math.isfinite(threshold):
        raise ValueError(f"a trigger is PROTOTYPE:THRESHOLD, e.g. pain:0.4; got {text!r}")
    return Trigger(name, threshold, frames=frames, refractory=refractory)
