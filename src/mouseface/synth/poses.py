"""Synthetic keypoints with known answers: face keypoints per emotion state, and body poses of
a freely moving mouse with known freezing and escape bouts.

**Face.** :func:`face_keypoint_session` lays out blocks of frames per state; every frame's
keypoints are the points the face renderer draws (:func:`mouseface.synth.face.face_keypoints`),
then label noise and dropped points (:func:`mouseface.synth.face.label_keypoints`). The known
answer of each state is :func:`action_unit_truth`: the action units of the noise-free points
against the noise-free neutral. Two of them follow from the state table in closed form: the
eye's opening ratio is ``o / w(o)`` for the state's ``eye_open`` ``o`` (the drawn eye's
height is proportional to ``o``, its width to ``w(o) = 0.8 + 0.2 o`` below 1 and ``1 + 0.25
(o - 1)`` above), and the ear turns by ``ear_angle - 28 ear_flat`` degrees.

**Body.** :func:`body_pose_session` is a mouse in an open field seen from above, tracked at 8
points (nose, ears, neck, body centre, hips, tail base). Its timeline comes from the fear
context's plan (:func:`mouseface.synth.behaviour.plan_items`): freezing (``passive_fear``:
every point still but for breathing), escape (``active_fear``: a fast run), grooming (the head
and forepaws move, the body stays), short still spells that are not freezing
(``brief_stillness``), head scanning with the body still (``whisking_stillness``: the body is
still, the head is not) and, between items, exploration (walking at a few cm/s with pauses).
A tracker's jitter, occasional lost points (low likelihood) and identity-free outliers are
added. The true bouts are the plan's freezing and escape items.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import ndimage

from mouseface.features.action_units import ActionUnits
from mouseface.synth.animals import Animal
from mouseface.synth.behaviour import plan_items
from mouseface.synth.face import KEYPOINTS, face_keypoints, label_keypoints
from mouseface.synth.states import ACTIONS, STATES, state_actions

FACE_STATES = tuple(STATES)


def eye_ratio(eye_open: float) -> float:
    """The drawn eye's height over width at ``eye_open``, relative to ``eye_open = 1``."""
    o = min(max(eye_open, 0.0), 1.8)
    w = 0.8 + 0.2 * o if o < 1 else 1 + 0.25 * (o - 1)
    return max(o, 0.03) / w


def action_unit_truth(animal: Animal | None = None, size: tuple[int, int] = (256, 256),
                      states: Sequence[str] = FACE_STATES) -> pd.DataFrame:
    """Action units of each state at full intensity from the noise-free keypoints, against
    the noise-free neutral: one row per state, ``au_<name>`` columns."""
    au = ActionUnits().fit(face_keypoints(state_actions("neutral"), size=size,
                                          animal=animal)[None], KEYPOINTS)
    xy = np.stack([face_keypoints(state_actions(s), size=size, animal=animal)
                   for s in states])
    return au.transform(xy).assign(state=list(states)).set_index("state")


@dataclass
class FaceKeypoints:
    """Keypoints of a synthetic face session (see :func:`face_keypoint_session`)."""

    position: np.ndarray      # (n, k, 2) pixels, NaN where dropped
    likelihood: np.ndarray    # (n, k)
    keypoints: tuple[str, ...]
    state: np.ndarray         # (n,) the state each frame shows
    truth: pd.DataFrame       # per state: the action units' known values

    def to_movement(self, fps: float = 20.0):
        """The session as a ``movement`` poses dataset (one individual)."""
        from movement.io import load_poses

        return load_poses.from_numpy(
            self.position.transpose(0, 2, 1)[..., None], self.likelihood[..., None],
            individual_names=["mouse"], keypoint_names=list(self.keypoints), fps=fps,
            source_software="mouseface.synth")


def face_keypoint_session(states: Sequence[str] = FACE_STATES, *, n_frames: int = 200,
                          noise_px: float = 1.5, dropout: float = 0.1,
                          size: tuple[int, int] = (256, 256), animal: Animal | None = None,
                          seed: int = 0) -> FaceKeypoints:
    """``n_frames`` frames of each state in turn (neutral first when listed), each with label
    noise (``noise_px`` per coordinate) and a fraction ``dropout`` of points lost."""
    rng = np.random.default_rng(seed)
    clean = {s: face_keypoints(state_actions(s), size=size, animal=animal) for s in states}
    label = np.repeat(np.asarray(states), n_frames)
    xy = np.stack([clean[s] for s in label])
    pos, like = label_keypoints(xy, rng, noise_px=noise_px, dropout=dropout)
    return FaceKeypoints(pos, like, KEYPOINTS, label,
                         action_unit_truth(animal, size, states))


# ---------------------------------------------------------------------------------------------
# body poses


BODY_KEYPOINTS = ("nose", "left_ear", "right_ear", "neck", "centre", "left_hip", "right_hip",
                  "tail_base")
#: body frame positions (cm, x forward, y left) of the keypoints of a mouse at rest
_BODY = np.array([[4.5, 0.0], [2.6, 0.9], [2.6, -0.9], [2.0, 0.0], [0.0, 0.0], [-2.0, 1.0],
                  [-2.0, -1.0], [-4.0, 0.0]])
_HEAD = np.array([True, True, True, False, False, False, False, False])
WALK_SPEED = (3.0, 10.0)      # cm/s exploration (Lipkind et al. 2004 report 5-15 cm/s runs)
ESCAPE_SPEED = (40.0, 70.0)   # cm/s escape (flight from a looming stimulus reaches ~60)


@dataclass
class BodyPoses:
    """A synthetic open-field session: poses, the true bouts and what the body did."""

    position: np.ndarray          # (n, k, 2) pixels
    likelihood: np.ndarray        # (n, k)
    keypoints: tuple[str, ...]
    fps: float
    bouts: pd.DataFrame           # onset, duration, trial_type: the true freezing and escape
    behaviour: np.ndarray         # (n,) item kind or "explore"
    items: list                   # the plan: (kind, onset, duration)

    def to_movement(self):
        from movement.io import load_poses

        return load_poses.from_numpy(
            self.position.transpose(0, 2, 1)[..., None], self.likelihood[..., None],
            individual_names=["mouse"], keypoint_names=list(self.keypoints), fps=self.fps,
            source_software="mouseface.synth")


def body_pose_session(seed: int = 0, *, fps: float = 30.0, px_per_cm: float = 8.0,
                      counts: Mapping[str, int] | None = None, jitter_px: float = 0.8,
                      lost: float = 0.02, arena_cm: float = 40.0) -> BodyPoses:
    """A freely moving mouse's tracked body over a fear-context timeline (see the module).

    Parameters
    ----------
    seed : int
        The timeline, the walk and the tracker noise.
    fps : float, default=30
    px_per_cm : float, default=8
        Camera scale (a 40 cm arena on 320 px).
    counts : mapping, optional
        Items of each kind (``synth.behaviour.FEAR_ITEMS``'s defaults).
    jitter_px : float, default=0.8
        The tracker's frame-to-frame jitter (pixels per coordinate).
    lost : float, default=0.02
        Fraction of points lost: likelihood below 0.6, position an outlier.
    arena_cm : float, default=40

    Returns
    -------
    BodyPoses
    """
    rng = np.random.default_rng([seed, 21])
    items, end = plan_items(rng, 2.0, counts)
    n = int(np.ceil(end * fps))
    t = np.arange(n) / fps
    kind = np.full(n, "explore", dtype=object)
    for k, onset, duration in items:
        kind[(t >= onset) & (t < onset + duration)] = k

    # forward speed: exploration is walking in runs of 0.5-3 s with pauses, escape is fast
    speed = np.zeros(n)
    i = 0
    while i < n:
        dur = int(rng.uniform(0.5, 3.0) * fps)
        speed[i:i + dur] = rng.uniform(*WALK_SPEED) if rng.random() < 0.7 else 0.0
        i += dur
    for k, onset, duration in items:
        # the mouse walks up to each item (an item's onset is where its movement changes,
        # not somewhere in a pause before it), then runs or stops
        before = (t >= onset - 1.0) & (t < onset) & (speed == 0)
        speed[before] = WALK_SPEED[1]
        sel = (t >= onset) & (t < onset + duration)
        speed[sel] = rng.uniform(*ESCAPE_SPEED) if k == "active_fear" else 0.0
    speed = np.convolve(speed, np.ones(5) / 5, mode="same")  # ~0.15 s acceleration
    for k, onset, duration in items:  # the body stops dead when it freezes
        if k != "active_fear":
            speed[(t >= onset) & (t < onset + duration)] = 0.0

    # heading: a random walk turning faster while exploring, a wall turns it around
    heading = np.zeros(n)
    xy = np.zeros((n, 2))
    xy[0] = rng.uniform(-0.25, 0.25, 2) * arena_cm
    turn = rng.normal(0.0, 1.2, n) / np.sqrt(fps)
    for j in range(1, n):
        h = heading[j - 1] + (turn[j] if speed[j] > 0 else 0.0)
        step = speed[j] / fps * np.array([np.cos(h), np.sin(h)])
        if np.any(np.abs(xy[j - 1] + step) > arena_cm / 2 - 5):
            h += np.pi * 0.75
            step = speed[j] / fps * np.array([np.cos(h), np.sin(h)])
        heading[j] = h
        xy[j] = xy[j - 1] + step

    # head movement: scanning and grooming move the head points; breathing moves all a little
    head = np.zeros((n, 2))
    for k, onset, duration in items:
        sel = (t >= onset) & (t < onset + duration)
        if k in ("whisking_stillness", "grooming"):
            # head scanning: ~1 cm sweeps, up to ~5 cm/s; grooming: fast small strokes
            f = 0.8 if k == "whisking_stillness" else 1.5
            amp = 1.0 if k == "whisking_stillness" else 0.5
            ph = rng.uniform(0, 2 * np.pi, 2)
            head[sel] = amp * np.column_stack([np.sin(2 * np.pi * f * t[sel] + ph[0]),
                                               np.sin(2 * np.pi * 1.3 * f * t[sel] + ph[1])])
    explore = kind == "explore"
    # exploring, the head scans and sniffs, also in the pauses of walking
    # (smooth random head movement of about 5 cm/s RMS)
    scan = ndimage.gaussian_filter1d(rng.normal(size=(n, 2)), 0.15 * fps, axis=0)
    scan *= 5.0 / (np.sqrt(np.mean(np.sum(np.diff(scan, axis=0) ** 2, axis=1))) * fps)
    head[explore] += scan[explore]
    breath = 0.04 * np.sin(2 * np.pi * 3.0 * t)  # cm

    c, s = np.cos(heading), np.sin(heading)
    body = np.broadcast_to(_BODY, (n, len(_BODY), 2)).copy()
    body[:, _HEAD, :] += head[:, None, :]
    body[:, :, 1] *= (1 + breath)[:, None]
    world = np.stack([body[..., 0] * c[:, None] - body[..., 1] * s[:, None],
                      body[..., 0] * s[:, None] + body[..., 1] * c[:, None]], axis=-1)
    world += xy[:, None, :]
    pos = (world + arena_cm / 2) * px_per_cm + rng.normal(0.0, jitter_px, world.shape)
    like = rng.uniform(0.85, 1.0, pos.shape[:2])
    gone = rng.random(pos.shape[:2]) < lost
    like[gone] = rng.uniform(0.0, 0.5, int(gone.sum()))
    pos[gone] += rng.normal(0.0, 20.0, (int(gone.sum()), 2))   # a tracker's jump elsewhere
    truth = pd.DataFrame([{"onset": o, "duration": d, "trial_type": k}
                          for k, o, d in items if k in ("passive_fear", "active_fear")])
    return BodyPoses(pos, like, BODY_KEYPOINTS, float(fps), truth.sort_values("onset")
                     .reset_index(drop=True), kind.astype(str), items)


__all__ = ["ACTIONS", "BODY_KEYPOINTS", "BodyPoses", "FACE_STATES", "FaceKeypoints",
           "action_unit_truth", "body_pose_session", "eye_ratio", "face_keypoint_session"]
