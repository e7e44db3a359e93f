"""Facial action units from keypoints: what moved in the face, frame by frame.

HOG says how much a face looks like a prototype; keypoints say what moved. The action units
here are the measurable parts of the Mouse Grimace Scale (Langford et al. 2010: orbital
tightening, nose bulge, ear position, whisker change) and of the faces of Dolensek et al.
(2020) (mouth opening in disgust, nose down in pleasure), each from a few named points of a
side view. A user's keypoints are mapped to *roles* (:data:`ROLES`); an action unit is measured
when all the roles it needs are mapped, and left out otherwise.

Geometry (image pixels, the face turned to look right, y down; *eye centre* = mean of the eye
points):

===================  =================================================  ====================
action unit          geometry                                           unit
===================  =================================================  ====================
``eye_opening``      eye height / eye width: ``|top - bottom| /         × neutral (1 = as at
                     |front - back|`` (orbital tightening < 1)          neutral)
``ear_angle``        direction of ``ear_base -> ear_tip`` (without a    degrees, + forward
                     base: ``eye centre -> ear_tip``)                   (towards the nose)
``ear_eye_distance`` ``|ear_tip - eye centre|``                         px (mm with a scale)
``nose_bulge``       height of ``nose_top`` above the chord ``eye       px (mm), + bulging
                     centre -> nose_tip``
``nose_displacement``  ``|nose_tip - its neutral position|``            px (mm)
``whisker_angle``    direction of the line through the whisker points   degrees, + forward
                     (principal axis) against the snout (``eye centre   (protraction)
                     -> nose_tip``; the image's x axis without them)
``whisker_spread``   RMS distance of the whisker points from their      px (mm)
                     centre
``mouth_opening``    ``mouth -> lip`` (upper to lower lip) across the   px (mm)
                     snout (perpendicular to ``eye centre ->
                     nose_tip``; ``|mouth - lip|`` without them)
===================  =================================================  ====================

Every action unit is expressed against the animal's own **neutral**: the median of its raw
measure over neutral frames (baseline windows, as the neutral prototype is), learned by
:meth:`ActionUnits.fit`. Ratios are divided by it (``eye_opening`` 0.6 = the eye 60 % as open
as at rest), angles and distances have it subtracted (``ear_angle`` -30 = ears 30° further
back). The ear's angle turns clockwise on screen for a face looking right (forward = towards
the nose), the whiskers' counter-clockwise (forward and up, protraction); a face looking left
is mirrored first, so the signs mean the same for both.

References
----------
Langford DJ et al. (2010) Coding of facial expressions of pain in the laboratory mouse. Nature
Methods 7:447-449. doi:10.1038/nmeth.1455
Dolensek N, Gehrlach DA, Klein AS, Gogolla N (2020) Facial expressions of emotion states and
their neuronal correlates in mice. Science 368:89-94. doi:10.1126/science.aaz9468
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: roles a keypoint can play, and the names (after lower-casing and dropping everything but
#: letters and digits) that map to them by default: ours, Facemap's and the usual DeepLabCut
#: labels
ROLES: dict[str, tuple[str, ...]] = {
    "eye_top": ("eyetop",),
    "eye_bottom": ("eyebottom",),
    "eye_front": ("eyefront",),
    "eye_back": ("eyeback",),
    "ear_tip": ("eartip", "ear"),
    "ear_base": ("earbase",),
    "nose_tip": ("nosetip",),
    "nose_top": ("nosetop", "nosebridge"),
    "nose_bottom": ("nosebottom",),
    "whisker_1": ("whisker1", "whiskeri", "whiskerc1"),
    "whisker_2": ("whisker2", "whiskerii", "whiskerd1"),
    "whisker_3": ("whisker3", "whiskeriii", "whiskerd2"),
    "mouth": ("mouth", "upperlip"),
    "lip": ("lip", "lowerlip"),
}
WHISKERS = ("whisker_1", "whisker_2", "whisker_3")
EYE = ("eye_top", "eye_bottom", "eye_front", "eye_back")

#: action unit -> (roles it needs, unit, how it is set against neutral)
ACTION_UNITS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "eye_opening": (EYE, "ratio", "ratio"),
    "ear_angle": (("ear_tip", *EYE), "deg", "angle"),
    "ear_eye_distance": (("ear_tip", *EYE), "px", "difference"),
    "nose_bulge": (("nose_top", "nose_tip", *EYE), "px", "difference"),
    "nose_displacement": (("nose_tip",), "px", "displacement"),
    "whisker_angle": (WHISKERS[:2], "deg", "angle"),
    "whisker_spread": (WHISKERS[:2], "px", "difference"),
    "mouth_opening": (("mouth", "lip"), "px", "difference"),
}


def unit_of(name: str, mm_per_px: float | None = None) -> str:
    """The unit of action unit ``name`` (with or without ``au_``): ``ratio``, ``deg``, and for
    distances ``mm`` with a scale, else ``px``; ``""`` for a name it does not know.

    Examples
    --------
    >>> unit_of("au_mouth_opening", 0.05), unit_of("eye_opening"), unit_of("ear_angle")
    ('mm', 'ratio', 'deg')
    """
    name = name.removeprefix("au_")
    if name not in ACTION_UNITS:
        return ""
    unit = ACTION_UNITS[name][1]
    return ("mm" if mm_per_px else "px") if unit == "px" else unit


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def map_roles(keypoints: Sequence[str], roles: Mapping[str, str] | None = None
              ) -> dict[str, str]:
    """Role -> keypoint name, from the user's mapping and the default names.

    Parameters
    ----------
    keypoints : list of str
        The pose file's keypoint names.
    roles : mapping of str to str, optional
        Role -> keypoint name (the config's ``[poses.roles]``); roles not given are matched by
        name (:data:`ROLES`).

    Raises
    ------
    KeyError
        An unknown role, a mapped keypoint the file does not have, or no keypoint matching
        any role (the message lists the file's names and the roles).

    Examples
    --------
    >>> map_roles(["eye(top)", "nose(tip)", "paw"])
    {'eye_top': 'eye(top)', 'nose_tip': 'nose(tip)'}
    """
    names = [str(k) for k in keypoints]
    given = dict(roles or {})
    unknown = sorted(set(given) - set(ROLES))
    if unknown:
        raise KeyError(f"unknown keypoint roles {unknown}; roles: {', '.join(ROLES)}")
    missing = sorted(v for v in given.values() if v not in names)
    if missing:
        raise KeyError(f"keypoints {missing} are not in the poses (they have: "
                       f"{', '.join(names)})")
    by_norm = {_norm(n): n for n in names}
    out = {}
    for role, aliases in ROLES.items():
        if role in given:
            out[role] = given[role]
            continue
        hit = next((by_norm[a] for a in (_norm(role), *aliases) if a in by_norm), None)
        if hit is not None and hit not in given.values():
            out[role] = hit
    if not any(all(r in out for r in need) for need, _, _ in ACTION_UNITS.values()):
        raise KeyError(f"no action unit can be measured: the keypoints ({', '.join(names)}) "
                       f"match roles {sorted(out) or 'none'}; map them to roles "
                       f"({', '.join(ROLES)}) in the config's [poses.roles]")
    return out


def _angle(v: np.ndarray) -> np.ndarray:
    """Direction of (n, 2) vectors in degrees, clockwise on screen (y down)."""
    return np.degrees(np.arctan2(v[:, 1], v[:, 0]))


def _wrap(a: np.ndarray, period: float = 360.0) -> np.ndarray:
    return (a + period / 2) % period - period / 2


def face_measures(position: np.ndarray, keypoints: Sequence[str],
                  roles: Mapping[str, str], *, facing: int | None = None) -> pd.DataFrame:
    """Raw face geometry per frame (before neutral): one column per measurable action unit.

    Parameters
    ----------
    position : (n, k, 2) array
        Keypoints in pixels (NaN where missing).
    keypoints : list of str
        Names of the k keypoints.
    roles : mapping
        Role -> keypoint name (:func:`map_roles`).
    facing : {1, -1}, optional
        1: the face looks right (+x), -1: left (mirrored first). Default: from the median
        nose tip against the eye centre (right when there is no nose).

    Returns
    -------
    DataFrame
        ``eye_opening`` (ratio), ``ear_angle``, ``whisker_angle`` (degrees),
        ``ear_eye_distance``, ``nose_bulge``, ``whisker_spread``, ``mouth_opening`` (px),
        ``nose_tip_x``, ``nose_tip_y`` (px; for the nose displacement); a column only when its
        roles are mapped. ``attrs["facing"]`` holds the direction used.
    """
    pos = np.asarray(position, dtype=np.float64)
    idx = {r: list(keypoints).index(k) for r, k in roles.items()}

    def P(role):
        return pos[:, idx[role], :].copy()

    have = set(idx)
    if facing is None:
        facing = 1
        if "nose_tip" in have and all(r in have for r in EYE):
            dx = np.nanmedian(P("nose_tip")[:, 0] - np.mean([P(r)[:, 0] for r in EYE], axis=0))
            facing = -1 if dx < 0 else 1
    if facing == -1:
        pos = pos.copy()
        pos[..., 0] = -pos[..., 0]
    out: dict[str, np.ndarray] = {}
    eye = all(r in have for r in EYE)
    if eye:
        centre = np.mean([P(r) for r in EYE], axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            out["eye_opening"] = (np.linalg.norm(P("eye_top") - P("eye_bottom"), axis=1)
                                  / np.linalg.norm(P("eye_front") - P("eye_back"), axis=1))
    if "ear_tip" in have and eye:
        base = P("ear_base") if "ear_base" in have else centre
        out["ear_angle"] = _angle(P("ear_tip") - base)
        out["ear_eye_distance"] = np.linalg.norm(P("ear_tip") - centre, axis=1)
    if "nose_top" in have and "nose_tip" in have and eye:
        chord = P("nose_tip") - centre
        rel = P("nose_top") - centre
        with np.errstate(invalid="ignore", divide="ignore"):
            # the cross product's sign: above the chord (screen y down) is positive
            out["nose_bulge"] = -(chord[:, 0] * rel[:, 1] - chord[:, 1] * rel[:, 0]) / \
                np.linalg.norm(chord, axis=1)
    if "nose_tip" in have:
        out["nose_tip_x"], out["nose_tip_y"] = P("nose_tip").T
    # the snout's direction (eye centre -> nose tip): whiskers and lips are measured against
    # it, so that the snout turning down (pleasure) or up is not read as whisker or mouth
    # movement
    snout = None
    if "nose_tip" in have and eye:
        snout = P("nose_tip") - centre
        snout /= np.linalg.norm(snout, axis=1, keepdims=True)
    w = [r for r in WHISKERS if r in have]
    if len(w) >= 2:
        pts = np.stack([P(r) for r in w], axis=1)                  # (n, m, 2)
        c = pts.mean(axis=1, keepdims=True)
        out["whisker_spread"] = np.sqrt(np.mean(np.sum((pts - c) ** 2, axis=2), axis=1))
        # + = counter-clockwise on screen for a face looking right: the fan turning forward
        # and up (protraction)
        a = -_principal_angle(pts - c)
        out["whisker_angle"] = a if snout is None else a + _angle(snout)
    if "mouth" in have and "lip" in have:
        gap = P("lip") - P("mouth")
        out["mouth_opening"] = (np.linalg.norm(gap, axis=1) if snout is None else
                                np.abs(snout[:, 0] * gap[:, 1] - snout[:, 1] * gap[:, 0]))
    df = pd.DataFrame(out)
    df.attrs["facing"] = int(facing)
    return df


def _principal_angle(d: np.ndarray) -> np.ndarray:
    """Direction (degrees, modulo 180) of the first principal axis of each frame's points."""
    sxx = np.sum(d[..., 0] ** 2, axis=1)
    syy = np.sum(d[..., 1] ** 2, axis=1)
    sxy = np.sum(d[..., 0] * d[..., 1], axis=1)
    return np.degrees(0.5 * np.arctan2(2 * sxy, sxx - syy))


class ActionUnits:
    """Facial action units against the animal's own neutral (see the module for the geometry).

    Parameters
    ----------
    roles : mapping of str to str, optional
        Role -> keypoint name; the rest are matched by name (:func:`map_roles`).
    mm_per_px : float, optional
        Scale: distances in mm instead of pixels.
    facing : {1, -1}, optional
        The way the face looks (default: from the neutral nose and eye).

    Attributes
    ----------
    roles_ : dict
        The roles used.
    facing_ : int
        1 (right) or -1 (left).
    neutral_ : dict
        Raw measure -> its median over the neutral frames.
    units_ : dict
        Action unit -> its unit (``ratio``, ``deg``, ``px`` or ``mm``).

    Examples
    --------
    >>> names = ["eye top", "eye bottom", "eye front", "eye back"]
    >>> open_ = np.array([[[0, -2], [0, 2], [4, 0], [-4, 0]]], float)   # height 4, width 8
    >>> shut = np.array([[[0, -1], [0, 1], [4, 0], [-4, 0]]], float)    # height 2
    >>> au = ActionUnits().fit(open_, names)
    >>> au.transform(shut)["au_eye_opening"].tolist()
    [0.5]
    """

    def __init__(self, roles: Mapping[str, str] | None = None, *,
                 mm_per_px: float | None = None, facing: int | None = None):
        self.roles = roles
        self.mm_per_px = mm_per_px
        self.facing = facing

    def fit(self, position: np.ndarray, keypoints: Sequence[str]) -> ActionUnits:
        """Learn the neutral from ``position`` (n, k, 2): the neutral frames only.

        Raises
        ------
        KeyError
            No keypoint matches a role (see :func:`map_roles`).
        ValueError
            No neutral frame has the points an action unit needs.
        """
        self.keypoints_ = [str(k) for k in keypoints]
        self.roles_ = map_roles(self.keypoints_, self.roles)
        raw = face_measures(position, self.keypoints_, self.roles_, facing=self.facing)
        self.facing_ = int(raw.attrs["facing"])
        if raw.empty or not raw.notna().any().any():
            raise ValueError("no neutral frame has the keypoints of any action unit")
        self.neutral_ = {c: float(np.nanmedian(raw[c])) for c in raw.columns
                         if raw[c].notna().any()}
        if "whisker_angle" in self.neutral_:  # an axis: the median of angles near +-90 fails
            self.neutral_["whisker_angle"] = _axis_mean(raw["whisker_angle"].to_numpy())
        self.units_ = {f"au_{name}": unit_of(name, self.mm_per_px)
                       for name in ACTION_UNITS if self._has(name)}
        return self

    def _has(self, name: str) -> bool:
        if name == "nose_displacement":
            return "nose_tip_x" in self.neutral_
        return name in self.neutral_

    def transform(self, position: np.ndarray) -> pd.DataFrame:
        """Action units of every frame of ``position`` (n, k, 2): ``au_<name>`` columns
        (NaN where a frame lacks the points)."""
        if not hasattr(self, "neutral_"):
            raise RuntimeError("ActionUnits is not fitted: call fit with the neutral frames")
        pos = np.asarray(position, dtype=np.float64)
        if pos.ndim != 3 or pos.shape[1] != len(self.keypoints_) or pos.shape[2] < 2:
            raise ValueError(f"position must be (frames, {len(self.keypoints_)}, 2), got "
                             f"{pos.shape}")
        raw = face_measures(pos[..., :2], self.keypoints_, self.roles_, facing=self.facing_)
        k = float(self.mm_per_px or 1.0)
        n = self.neutral_
        out = {}
        for name, (_, _, how) in ACTION_UNITS.items():
            if not self._has(name):
                continue
            if how == "ratio":
                out[f"au_{name}"] = raw[name].to_numpy() / n[name]
            elif how == "angle":
                period = 180.0 if name == "whisker_angle" else 360.0
                out[f"au_{name}"] = _wrap(raw[name].to_numpy() - n[name], period)
            elif how == "difference":
                out[f"au_{name}"] = (raw[name].to_numpy() - n[name]) * k
            else:  # displacement of the nose tip from where it sits at rest
                out[f"au_{name}"] = np.hypot(raw["nose_tip_x"].to_numpy() - n["nose_tip_x"],
                                             raw["nose_tip_y"].to_numpy() - n["nose_tip_y"]) * k
        return pd.DataFrame(out)

    def fit_transform(self, position: np.ndarray, keypoints: Sequence[str],
                      neutral: np.ndarray | None = None) -> pd.DataFrame:
        """Fit on the frames ``neutral`` selects (a bool mask; default every frame), then
        transform every frame."""
        pos = np.asarray(position, dtype=np.float64)
        sel = pos if neutral is None else pos[np.asarray(neutral, bool)]
        return self.fit(sel, keypoints).transform(pos)


def _axis_mean(a: np.ndarray) -> float:
    """Mean direction of axes (degrees modulo 180), NaN ignored."""
    a = a[np.isfinite(a)]
    z = np.mean(np.exp(2j * np.radians(a)))
    return float(np.degrees(np.angle(z)) / 2)


__all__ = ["ACTION_UNITS", "ROLES", "ActionUnits", "face_measures", "map_roles"]
