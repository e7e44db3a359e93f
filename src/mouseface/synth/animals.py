"""Individual animals: face shape, size, position and fur, drawn from a seeded generator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Animal:
    """What makes one animal's face its own; does not change within an animal.

    Lengths are fractions of the frame's shorter side, gray values are 0-255. The default
    instance is the canonical animal (no individual variation).
    """

    seed: int = 0                 # fur texture and whisker layout
    scale: float = 1.0            # head size
    x: float = 0.0                # head position offset (fraction of the frame)
    y: float = 0.0
    cranium: float = 1.0          # height of the cranium
    snout: float = 1.0            # snout length
    ear: float = 1.0              # pinna size
    eye: float = 1.0              # eye size
    eye_x: float = 0.0            # eye position offset (fraction of the frame)
    eye_y: float = 0.0
    tilt: float = 0.0             # head pitch, degrees (+ = snout down)
    fur: float = 128.0            # fur gray value
    fur_contrast: float = 14.0    # fur texture amplitude (gray levels)
    fur_grain: float = 1.0        # fur texture scale
    background: float = 48.0      # background gray value
    inner_ear: float = 40.0       # inner-ear brightness relative to the fur
    nose: float = -22.0           # rhinarium brightness relative to the fur
    n_whiskers: int = 10
    whisker_length: float = 1.0
    whisk_hz: float = 9.0         # whisking frequency
    blink_per_min: float = 8.0


def make_animal(rng: np.random.Generator | int | None = None) -> Animal:
    """Draw one animal's face shape, size, position and fur.

    Parameters
    ----------
    rng
        A NumPy generator, or a seed. The same seed always gives the same animal.

    Examples
    --------
    >>> a = make_animal(np.random.default_rng(1))
    >>> a == make_animal(np.random.default_rng(1))
    True
    """
    rng = np.random.default_rng(rng)

    def u(lo: float, hi: float) -> float:
        return float(rng.uniform(lo, hi))

    return Animal(
        seed=int(rng.integers(2**31)),
        scale=u(0.95, 1.05),
        x=u(-0.015, 0.015),
        y=u(-0.015, 0.015),
        cranium=u(0.94, 1.06),
        snout=u(0.93, 1.07),
        ear=u(0.9, 1.1),
        eye=u(0.9, 1.1),
        eye_x=u(-0.008, 0.008),
        eye_y=u(-0.008, 0.008),
        tilt=u(-2.5, 2.5),
        fur=u(110.0, 150.0),
        fur_contrast=u(10.0, 18.0),
        fur_grain=u(0.8, 1.25),
        background=u(30.0, 65.0),
        inner_ear=u(30.0, 50.0),
        nose=u(-30.0, -14.0),
        n_whiskers=int(rng.integers(9, 13)),
        whisker_length=u(0.85, 1.15),
        whisk_hz=u(7.0, 11.0),
        blink_per_min=u(5.0, 12.0),
    )
