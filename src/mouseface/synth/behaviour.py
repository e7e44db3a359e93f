"""Spontaneous behaviour of a head-fixed mouse in a fear context: body, running wheel, bouts.

A fear session's frame is the animal's face (the same crop as in its other sessions) with a
strip below it that shows the front of the body standing on a running wheel: the torso, a fore-
and a hindlimb, and the wheel's rim with its tread marks. What the body does comes from a
timeline of behaviour *items*, each ``(kind, onset, duration)``:

====================  ========================================================================
kind                  body, wheel and face
====================  ========================================================================
``passive_fear``      freezing: body and wheel still except for breathing, face still
                      (whiskers still), the passive-fear face
``active_fear``       escape: the wheel turns fast, the limbs run, the head shakes, the
                      active-fear face (ears flat, whisking hard)
``grooming``          forelimb up to the face (the paw over the snout), wheel still
``brief_stillness``   like freezing but shorter than a freezing bout and with a neutral face
``whisking_stillness``  body and wheel still while the whiskers whisk (not freezing)
``posture``           a small posture change: the torso and limbs shift in half a second
``startle``           the body jerks and the wheel jolts at a shock
====================  ========================================================================

Between items the mouse is in quiet wakefulness: the limbs fidget, the torso breathes, the
wheel now and then takes a small step, posture changes come at random. The geometry is in
pixels for a 160-pixel-wide frame and scales with the width.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage

from mouseface.synth.animals import Animal
from mouseface.synth.face import _PAD, _composite, _finish, _fur_texture

#: behaviour kinds of the fear context, their duration ranges (s) and default counts
FEAR_ITEMS: dict[str, tuple[tuple[float, float], int]] = {
    "passive_fear": ((6.5, 11.0), 3),
    "active_fear": ((2.8, 5.0), 3),
    "grooming": ((2.5, 5.0), 2),
    "brief_stillness": ((2.0, 3.5), 2),
    "whisking_stillness": ((6.0, 9.0), 2),
}
#: normal behaviour between two items (s): long enough for a baseline window before each
GAP_S = (3.5, 6.0)
ESCAPE_SPEED = (60.0, 110.0)  # wheel rim speed during escape, pixels/s at 160 px width
_TREAD_DEG = 4.0              # angle between tread marks on the wheel's rim
_NO_NOISE = np.zeros((0, 0), dtype=np.float32)  # _finish's "no noise"


def strip_height(width: int) -> int:
    """Height (even) of the body strip below a face crop ``width`` pixels wide."""
    return max(16, 2 * int(round(0.15 * width)))


def body_regions(face_shape: tuple[int, int]) -> dict[str, tuple[int, int, int, int]]:
    """``x,y,w,h`` (frame pixels) of the body and wheel regions of a fear session's frame.

    Examples
    --------
    >>> body_regions((160, 160))
    {'body': (0, 160, 96, 32), 'wheel': (24, 194, 112, 14)}
    """
    h, w = face_shape
    k = w / 160.0
    sh = strip_height(w)
    return {"body": (0, h, int(round(96 * k)), int(round(32 * k))),
            "wheel": (int(round(24 * k)), h + int(round(34 * k)), int(round(112 * k)),
                      min(int(round(14 * k)), sh - int(round(34 * k))))}


# ---------------------------------------------------------------------------------------------
# timeline


def plan_items(rng: np.random.Generator, start: float,
               counts: Mapping[str, int] | None = None) -> tuple[list[tuple[str, float, float]],
                                                                  float]:
    """A random order of the fear-context items, each after a gap of normal behaviour.

    Returns the items ``(kind, onset, duration)`` and the time the last gap ends.
    """
    counts = {k: c for k, (_, c) in FEAR_ITEMS.items()} if counts is None else dict(counts)
    unknown = sorted(set(counts) - set(FEAR_ITEMS))
    if unknown:
        raise ValueError(f"unknown behaviour kinds {unknown}; known: {sorted(FEAR_ITEMS)}")
    kinds = [k for k, c in counts.items() for _ in range(int(c))]
    kinds = [kinds[i] for i in rng.permutation(len(kinds))]
    t = start
    items = []
    for kind in kinds:
        t += rng.uniform(*GAP_S)
        d = float(rng.uniform(*FEAR_ITEMS[kind][0]))
        items.append((kind, round(t, 3), round(d, 3)))
        t += d
    return items, t + rng.uniform(*GAP_S)


def _envelope(t: np.ndarray, onset: float, duration: float, ramp: float) -> np.ndarray:
    return np.clip(np.minimum(t - onset, onset + duration - t) / ramp + 0.5, 0.0, 1.0)


@dataclass
class BodySignals:
    """Per-frame drive of the body, wheel and face in a fear session (all shape (n,))."""

    wheel_speed: np.ndarray   # rim speed, pixels/s
    gait: np.ndarray          # 0..1 running
    groom: np.ndarray         # 0..1 forelimb at the face
    still: np.ndarray         # 0..1 body still (no fidgets, posture changes or wheel steps)
    face_quiet: np.ndarray    # 0..1 spontaneous face movement and whisking suppressed
    whisk: np.ndarray         # 0..1 whisking forced on
    torso: np.ndarray         # (n, 2) torso offset (posture), pixels
    limbs: np.ndarray         # (n, 4) fore/hind limb endpoint offsets x, y (fidget, posture)
    behaviour: np.ndarray     # (n,) str: the item's kind, or "normal"
    posture_onsets: list[float]


def body_signals(t: np.ndarray, items: Sequence[tuple[str, float, float]],
                 rng: np.random.Generator, *, startles: Sequence[float] = (),
                 posture_per_min: float = 5.0, steps_per_min: float = 3.0) -> BodySignals:
    """What the body does at each frame time ``t`` given the timeline ``items``."""
    n = len(t)
    dt = float(t[1] - t[0]) if n > 1 else 0.05
    z = np.zeros(n)
    wheel, gait, groom, still, quiet, whisk = (z.copy() for _ in range(6))
    behaviour = np.full(n, "normal", dtype=object)
    for kind, onset, duration in items:
        inside = (t >= onset) & (t < onset + duration)
        behaviour[inside] = kind
        if kind == "active_fear":
            env = _envelope(t, onset, duration, 0.25)
            wheel = np.maximum(wheel, env * rng.uniform(*ESCAPE_SPEED))
            gait = np.maximum(gait, env)
        elif kind == "grooming":
            groom = np.maximum(groom, _envelope(t, onset, duration, 0.3))
        elif kind in ("passive_fear", "brief_stillness"):
            env = _envelope(t, onset, duration, 0.3)
            still = np.maximum(still, env)
            quiet = np.maximum(quiet, env)
        elif kind == "whisking_stillness":
            env = _envelope(t, onset, duration, 0.3)
            still = np.maximum(still, env)
            whisk = np.maximum(whisk, env)
    for onset in startles:  # a jerk of the body and a jolt of the wheel at each shock
        env = _envelope(t, onset, 0.6, 0.1)
        gait = np.maximum(gait, env)
        wheel = np.maximum(wheel, 50.0 * env)
        behaviour[(t >= onset) & (t < onset + 0.6)] = "startle"
    free = (still < 0.01) & (gait < 0.01) & (groom < 0.01)

    # small wheel steps in quiet wakefulness
    s = rng.exponential(60.0 / steps_per_min)
    while s < t[-1]:
        d = rng.uniform(0.5, 0.9)
        env = _envelope(t, s, d, 0.15)
        if free[env > 0].all():
            wheel = np.maximum(wheel, env * rng.uniform(6.0, 12.0))
        s += d + rng.exponential(60.0 / steps_per_min)

    # posture changes: a smooth step of the torso and limb rest positions
    torso = np.zeros((n, 2))
    rest = np.zeros((n, 4))
    onsets = []
    s = rng.exponential(60.0 / posture_per_min)
    while s < t[-1]:
        i = int(s / dt)
        if i < n and free[i:min(n, i + int(0.6 / dt) + 1)].all():
            ramp = np.clip((t - s) / 0.45, 0.0, 1.0)
            torso += ramp[:, None] * rng.normal(0.0, 1.2, 2)
            rest += ramp[:, None] * rng.normal(0.0, 1.6, 4)
            onsets.append(round(float(s), 3))
            behaviour[(t >= s) & (t < s + 0.45) & (behaviour == "normal")] = "posture"
        s += rng.exponential(60.0 / posture_per_min)
    torso -= torso.mean(axis=0)
    rest -= rest.mean(axis=0)
    np.clip(torso, -3.0, 3.0, out=torso)
    np.clip(rest, -4.0, 4.0, out=rest)

    # fidgets: fast small limb movements (an Ornstein-Uhlenbeck process whose steps are gated:
    # a still, running or grooming body holds its fidget position)
    gate = (1.0 - still) * (1.0 - gait) * (1.0 - groom)
    a = math.exp(-dt / 0.3)
    e = rng.standard_normal((n, 4)) * 3.0 * math.sqrt(1 - a * a)
    fid = np.empty((n, 4))
    fid[0] = e[0]
    for i in range(1, n):
        fid[i] = fid[i - 1] + gate[i] * ((a - 1.0) * fid[i - 1] + e[i])
    limbs = rest + fid
    return BodySignals(wheel, gait, groom, still, quiet, whisk, torso, limbs,
                       behaviour.astype(str), onsets)


# ---------------------------------------------------------------------------------------------
# rendering


@lru_cache(maxsize=16)
def _strip_background(seed: int, level: float, width: int, height: int,
                      face_bottom: tuple[float, ...]) -> np.ndarray:
    """The rig behind the body: the face background's bottom row continued downwards."""
    rng = np.random.default_rng([seed, 13])
    row = np.asarray(face_bottom, dtype=np.float64)
    y = np.arange(height)[:, None] / max(height, 1)
    bg = row[None, :] * (1.0 - 0.12 * y)
    blot = ndimage.gaussian_filter(rng.standard_normal((height, width)), width / 16.0)
    bg = bg + 4.0 * blot / (blot.std() + 1e-9)
    bg.setflags(write=False)
    return bg


class BodyRenderer:
    """Draws the strip below a face crop: torso, limbs and the running wheel.

    Parameters
    ----------
    animal
        The animal (fur and texture seed).
    width
        Frame width in pixels (the face crop's).
    face_background
        The face crop's background (its bottom row is continued into the strip).
    """

    def __init__(self, animal: Animal, width: int, face_background: np.ndarray):
        self.animal = animal
        self.width = int(width)
        self.height = strip_height(self.width)
        self.k = self.width / 160.0
        a = animal
        # the face's texture scale (it depends on the texture's shorter side): cut from a
        # square texture as wide as the frame
        tex = _fur_texture(a.seed + 101, self.width, self.width, float(a.fur_contrast),
                           float(a.fur_grain))
        self._tex = np.ascontiguousarray(tex[: self.height + 2 * _PAD])
        self._bg = _strip_background(a.seed, float(a.background), self.width, self.height,
                                     tuple(np.asarray(face_background)[-1].tolist()))
        self._canvas = np.empty((self.height, self.width), dtype=np.float64)

    def _prims(self, wheel_angle: float, gait_phase: float, gait: float, groom: float,
               groom_phase: float, groom_x: float, breath: float, torso: np.ndarray,
               limbs: np.ndarray) -> np.ndarray:
        k = self.k
        fur = self.animal.fur
        rows = []

        def ell(cx, cy, rx, ry, deg, value, *, soft=1.0, tex=0.0, add=False, alpha=1.0):
            rows.append((0, cx, cy, max(rx, 1e-3), max(ry, 1e-3), math.radians(deg), 0.0,
                         value, alpha, soft, tex, 1 if add else 0))

        def cap(x0, y0, x1, y1, r0, r1, value, *, soft=1.0, tex=0.0, add=False, alpha=1.0):
            rows.append((2, x0, y0, x1, y1, r0, r1, value, alpha, soft, tex, 1 if add else 0))

        # the wheel: a large disc below, its rim and tread marks turning with wheel_angle
        R = 200.0 * k
        wx, wy = 80.0 * k, (36.0 + 200.0) * k
        ell(wx, wy, R, R, 0.0, 92.0, soft=1.2)
        rows.append((1, wx, wy, R - 1.5 * k, R - 1.5 * k, 0.0, 1.2 * k, 170.0, 1.0, 1.0, 0.0, 0))
        half = math.degrees(math.asin(min(1.0, 90.0 * k / R)))
        first = math.floor((-half - wheel_angle) / _TREAD_DEG) * _TREAD_DEG + wheel_angle
        ang = first
        while ang <= half + _TREAD_DEG:
            r = math.radians(ang - 90.0)
            c, s = math.cos(r), math.sin(r)
            cap(wx + c * (R - 3 * k), wy + s * (R - 3 * k), wx + c * (R - 11 * k),
                wy + s * (R - 11 * k), 1.1 * k, 0.9 * k, -55.0, add=True)
            ang += _TREAD_DEG

        bob = 1.2 * k * gait * math.sin(2 * gait_phase) + 0.8 * k * groom * math.sin(groom_phase)
        tx, ty = torso[0] * k, torso[1] * k + bob
        # hindlimb (behind the torso), forelimb far side, torso, forelimb near side
        run = gait * math.sin(gait_phase)
        hx, hy = limbs[2] * k + 9 * k * run, limbs[3] * k
        cap(6 * k + tx, 12 * k + ty, 14 * k + hx, 33 * k + hy, 8 * k, 3.8 * k, fur - 14,
            tex=0.6, soft=1.5)
        ell(16 * k + hx, 34 * k + hy, 5 * k, 2.4 * k, 0.0, fur + 28, soft=1.2)
        far = -run
        cap(52 * k + tx, 9 * k + ty, 70 * k + 8 * k * far, 33 * k, 5 * k, 3.2 * k, fur - 24,
            tex=0.5, soft=1.5)
        ell(72 * k + 8 * k * far, 34 * k, 4.5 * k, 2.2 * k, 0.0, fur + 10, soft=1.2)
        ry = 30.0 * k * (1.0 + 0.006 * breath)
        ell(-6 * k + tx, -8 * k + ty, 78 * k, ry, 0.0, fur - 16, tex=1.0, soft=1.2)
        ell(-6 * k + tx, -8 * k + ty + 0.72 * ry, 70 * k, 8 * k, 0.0, -16.0, soft=6.0 * k,
            add=True)
        # near forelimb: on the wheel, running, or up at the face when grooming
        fx = limbs[0] * k + 10 * k * run
        fy = limbs[1] * k
        px, py = 64 * k + fx, 33 * k + fy
        if groom > 0:  # the arm reaches up to the paw the face shows (groom_x: at the seam)
            stroke = 5.0 * k * math.sin(groom_phase)
            gx, gy = groom_x + 3 * k + stroke, -12 * k + 2 * k * math.cos(groom_phase)
            px, py = px + groom * (gx - px), py + groom * (gy - py)
        r1 = (3.6 + 4.4 * groom) * k
        cap((48 + 14 * groom) * k + tx, (8 - 5 * groom) * k + ty, px, py, 6 * k, r1,
            fur - 2 + 27 * groom, tex=0.5, soft=1.5)
        if groom < 1:
            ell(px + 2 * k, py + 1 * k, 5 * k, 2.6 * k, 10.0, fur + 32, soft=1.2,
                alpha=1.0 - groom)
        return np.array(rows, dtype=np.float64)

    def render(self, *, wheel_angle: float = 0.0, gait_phase: float = 0.0, gait: float = 0.0,
               groom: float = 0.0, groom_phase: float = 0.0, groom_x: float = 100.0,
               breath: float = 0.0,
               torso: np.ndarray | None = None, limbs: np.ndarray | None = None,
               gain: float = 1.0, gradient: tuple[float, float] = (0.0, 0.0),
               offset: float = 0.0, noise: np.ndarray | None = None,
               face_height: int = 160, out: np.ndarray | None = None) -> np.ndarray:
        """One strip, (strip height, width) uint8, lit like the face above it (into ``out``
        where given)."""
        torso = np.zeros(2) if torso is None else torso
        limbs = np.zeros(4) if limbs is None else limbs
        table = self._prims(wheel_angle, gait_phase, gait, groom, groom_phase, groom_x, breath,
                            torso, limbs)
        canvas = self._canvas
        canvas[...] = self._bg
        c = (self.width - 1) / 2.0
        _composite(canvas, table, self._tex, _PAD, c, c, 0.0, 0.0, 1.0, 0.0)
        if out is None:
            out = np.empty(canvas.shape, np.uint8)
        # lit as the rows below the face's frame (its vertical gradient goes on)
        _finish(canvas, _NO_NOISE if noise is None else np.asarray(noise, dtype=np.float32),
                0, 0, float(gain), float(gradient[0]), float(gradient[1]), float(offset), out,
                int(face_height), int(face_height))
        return out


def strip_frames(renderer: BodyRenderer, t: np.ndarray, sig: BodySignals,
                 rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Per-frame arguments of :meth:`BodyRenderer.render`: wheel angle, gait and groom phases,
    breathing."""
    dt = float(t[1] - t[0]) if len(t) > 1 else 0.05
    R = 200.0 * renderer.k
    wheel_angle = np.degrees(np.cumsum(sig.wheel_speed * renderer.k * dt) / R)
    stride = rng.uniform(5.0, 7.0)
    gait_phase = 2 * np.pi * np.cumsum(np.full(len(t), stride * dt))
    groom_phase = 2 * np.pi * 5.0 * t
    breath_hz = rng.uniform(3.0, 4.0)
    breath = np.sin(2 * np.pi * breath_hz * t + rng.uniform(0, 2 * np.pi))
    return wheel_angle, gait_phase, groom_phase, breath


__all__ = ["FEAR_ITEMS", "BodyRenderer", "BodySignals", "body_regions", "body_signals",
           "plan_items", "strip_frames", "strip_height"]
