"""Conversion between mouseface's data and napari's layers (no napari import here).

Coordinates. napari draws pixel ``(row, col)`` centred on ``(row, col)``: the pixel covers
``[row - 0.5, row + 0.5)``. mouseface counts pixel edges: the ROI ``x, y, w, h`` covers columns
``x .. x + w - 1`` and rows ``y .. y + h - 1``, i.e. the edges ``x .. x + w``; a mask region is
in the same edge coordinates, relative to the ROI's top-left corner (``u = col - x + 0.5``,
``v = row - y + 0.5``). So a rectangle drawn along the borders of the ROI's pixels in napari
is exactly the ROI, and a mask rectangle covers exactly the pixels napari paints under it
(:func:`shapes_to_mask` and :func:`mask_to_shapes` are inverse to 0.1 pixel).

::

    roi_to_rectangle(roi) -> (4, 2) corners (row, col)
    rectangle_to_roi(corners, frame_shape=None) -> (x, y, w, h)
    mask_to_shapes(text, roi) -> (list of (k, 2) arrays, list of shape types)
    shapes_to_mask(data, shape_types, roi) -> "x,y,w,h; poly:x1,y1,..."
    crop(frame, roi) -> (h, w) view; tint(crop, mask) -> RGB with the mask in red
    hog_glyph_image(crop, hog_params, mask_cells=None) -> glyphs (float) and cell_px
    registered_crop(frame, roi, margin, matrix, shift) -> (h, w) uint8
    session_traces(results_dir, session) -> SessionTraces (what the results dock plots)
    pose_points(ds, frames=None, min_likelihood=0.6) -> PosePoints (a Points layer's data)
    au_scaled(values, unit) -> each action unit about its neutral, in its spreads
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.io.intervals import frame_at
from mouseface.io.layout import ResultsLayout
from mouseface.io.results import Results
from mouseface.io.store import FeatureStore
from mouseface.io.tables import parse_regions

__all__ = ["roi_to_rectangle", "rectangle_to_roi", "mask_to_shapes", "shapes_to_mask", "crop",
           "tint", "colour", "hog_glyph_image", "registered_crop", "SessionTraces",
           "session_traces", "results_sessions", "DEFAULT_HOG", "PosePoints", "pose_points",
           "keypoint_colours", "au_scaled", "au_units"]

_Roi = tuple[int, int, int, int]
#: the paper's HOG, used for the preview when no run says otherwise
DEFAULT_HOG = {"orientations": 8, "pixels_per_cell": 32, "cells_per_block": 1,
               "block_norm": "L2-Hys", "transform_sqrt": True}
_ELLIPSE_VERTICES = 24
_EPS = 1e-6


def _yx(data) -> np.ndarray:
    """Shape vertices as (k, 2) (row, col); a leading frame axis (3-D layers) is dropped."""
    a = np.asarray(data, dtype=np.float64)
    if a.ndim != 2 or a.shape[1] < 2:
        raise ValueError(f"shape vertices must be (k, 2) or (k, 3); got shape {a.shape}")
    return a[:, -2:]


def _num(v: float) -> str:
    """A coordinate as table text: at most one decimal, no trailing zeros."""
    v = round(float(v), 1)
    return f"{v + 0.0:g}"


# ---------------------------------------------------------------------------- face ROI


def roi_to_rectangle(roi: Sequence[int]) -> np.ndarray:
    """The napari rectangle (4 corners, ``(row, col)``) along the borders of an ROI's pixels.

    Examples
    --------
    >>> roi_to_rectangle((8, 25, 80, 64)).tolist()
    [[24.5, 7.5], [24.5, 87.5], [88.5, 87.5], [88.5, 7.5]]
    """
    x, y, w, h = (int(v) for v in roi)
    r0, c0, r1, c1 = y - 0.5, x - 0.5, y + h - 0.5, x + w - 0.5
    return np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]])


def rectangle_to_roi(corners, frame_shape: tuple[int, int] | None = None) -> _Roi:
    """The ROI ``(x, y, w, h)`` of a drawn rectangle: its bounding box, edges at whole pixels.

    Parameters
    ----------
    corners
        The rectangle's vertices ``(row, col)`` as napari stores them (a rotated rectangle
        gives its bounding box).
    frame_shape
        ``(H, W)``: when given, the ROI is clipped to the frame (a rectangle dragged a little
        past the frame's edge).

    Raises
    ------
    ValueError
        When the rectangle is less than a pixel wide or high (after clipping).

    Examples
    --------
    >>> rectangle_to_roi(roi_to_rectangle((8, 25, 80, 64)))
    (8, 25, 80, 64)
    >>> rectangle_to_roi([[-3.2, 10.4], [50.1, 90.7]], frame_shape=(40, 80))
    (11, 0, 69, 40)
    """
    yx = _yx(corners) + 0.5
    y0, x0 = np.floor(yx.min(axis=0) + 0.5)
    y1, x1 = np.floor(yx.max(axis=0) + 0.5)
    if frame_shape is not None:
        h, w = frame_shape
        x0, y0 = max(x0, 0), max(y0, 0)
        x1, y1 = min(x1, w), min(y1, h)
    if x1 - x0 < 1 or y1 - y0 < 1:
        raise ValueError("the face ROI rectangle is less than one pixel wide or high"
                         + (" inside the frame" if frame_shape is not None else ""))
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


# ---------------------------------------------------------------------------- masks


def mask_to_shapes(text: str | None, roi: Sequence[int]) -> tuple[list[np.ndarray], list[str]]:
    """napari shapes (frame ``(row, col)``) of a ``mask`` text in crop pixels of ``roi``.

    Examples
    --------
    >>> data, kinds = mask_to_shapes("60,40,20,24; poly:0,0,12,0,0,12", (8, 25, 80, 64))
    >>> kinds, data[0][0].tolist(), data[1].tolist()
    (['rectangle', 'polygon'], [64.5, 67.5], [[24.5, 7.5], [24.5, 19.5], [36.5, 7.5]])
    """
    x, y = int(roi[0]), int(roi[1])
    rects, polys = parse_regions(text)
    data, kinds = [], []
    for rx, ry, rw, rh in rects:
        r0, c0 = ry + y - 0.5, rx + x - 0.5
        r1, c1 = r0 + rh, c0 + rw
        data.append(np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]]))
        kinds.append("rectangle")
    for poly in polys:
        data.append(np.array([[py + y - 0.5, px + x - 0.5] for px, py in poly]))
        kinds.append("polygon")
    return data, kinds


def shapes_to_mask(data: Sequence, shape_types: Sequence[str], roi: Sequence[int]) -> str:
    """The ``mask`` text (crop pixels of ``roi``) of napari shapes drawn on the frame.

    Axis-aligned rectangles become ``x,y,w,h`` rectangles, grown to whole pixels (a pixel
    the rectangle touches is masked, as :func:`mouseface.features.masks.region_pixels` counts
    it); rotated rectangles, polygons and ellipses (as a 24-gon) become ``poly:`` regions
    with vertices to 0.1 pixel. Lines and paths enclose nothing and are refused.

    Raises
    ------
    ValueError
        A line or path, or a region with no area.

    Examples
    --------
    >>> roi = (8, 25, 80, 64)
    >>> shapes_to_mask(*mask_to_shapes("60,40,20,24; poly:0,0,12,0,0,12", roi), roi)
    '60,40,20,24; poly:0,0,12,0,0,12'
    """
    x, y = float(roi[0]), float(roi[1])
    rects, polys = [], []
    for vertices, kind in zip(data, shape_types, strict=True):
        yx = _yx(vertices)
        uv = np.column_stack([yx[:, 1] - x + 0.5, yx[:, 0] - y + 0.5])  # (x, y) crop edges
        if kind == "rectangle" and _axis_aligned(uv):
            u0, v0 = np.floor(uv.min(axis=0) + _EPS)
            u1, v1 = np.ceil(uv.max(axis=0) - _EPS)
            if u1 <= u0 or v1 <= v0:
                raise ValueError("a mask rectangle has no area")
            rects.append(f"{_num(u0)},{_num(v0)},{_num(u1 - u0)},{_num(v1 - v0)}")
            continue
        if kind == "ellipse":
            uv = _ellipse_polygon(uv)
        elif kind not in ("rectangle", "polygon"):
            raise ValueError(f"a {kind} encloses no region: draw mask regions as rectangles, "
                             "polygons or ellipses")
        if len(uv) < 3 or _area(uv) <= 0:
            raise ValueError("a mask polygon has no area")
        polys.append("poly:" + ",".join(f"{_num(a)},{_num(b)}" for a, b in uv))
    return "; ".join(rects + polys)


def _axis_aligned(uv: np.ndarray) -> bool:
    return len(uv) == 4 and all(
        abs(a[0] - b[0]) < 1e-6 or abs(a[1] - b[1]) < 1e-6
        for a, b in zip(uv, np.roll(uv, -1, axis=0), strict=True))


def _ellipse_polygon(corners: np.ndarray) -> np.ndarray:
    """napari stores an ellipse as the 4 corners of its bounding box (maybe rotated)."""
    centre = corners.mean(axis=0)
    a = (corners[1] - corners[0]) / 2
    b = (corners[3] - corners[0]) / 2
    t = np.linspace(0, 2 * math.pi, _ELLIPSE_VERTICES, endpoint=False)
    return centre + np.cos(t)[:, None] * a + np.sin(t)[:, None] * b


def _area(uv: np.ndarray) -> float:
    u, v = uv[:, 0], uv[:, 1]
    return 0.5 * abs(float(np.dot(u, np.roll(v, -1)) - np.dot(v, np.roll(u, -1))))


# ---------------------------------------------------------------------------- face previews


def crop(frame: np.ndarray, roi: Sequence[int]) -> np.ndarray:
    """The ROI ``(x, y, w, h)`` of a frame (a view)."""
    x, y, w, h = (int(v) for v in roi)
    return frame[y:y + h, x:x + w]


def tint(face: np.ndarray, mask: str | None, colour=(255, 60, 60), alpha: float = 0.45
         ) -> np.ndarray:
    """The crop as RGB uint8 with the pixels of ``mask`` (crop pixels) tinted."""
    from mouseface.features.masks import region_pixels

    rgb = np.repeat(np.asarray(face, np.uint8)[..., None], 3, axis=2)
    if mask:
        where = region_pixels(face.shape[:2], *parse_regions(mask))
        rgb[where] = ((1 - alpha) * rgb[where] + alpha * np.asarray(colour)).astype(np.uint8)
    return rgb


def colour(values: np.ndarray, cmap: str = "magma") -> np.ndarray:
    """Values in [0, 1] as RGB uint8 through a matplotlib colour map."""
    from matplotlib import colormaps

    return (colormaps[cmap](np.clip(values, 0, 1))[..., :3] * 255).astype(np.uint8)


def hog_glyph_image(
    face: np.ndarray, hog_params: dict | None = None, mask_cells: np.ndarray | None = None
) -> tuple[np.ndarray, int]:
    """HOG glyphs of a face crop, as the report draws them, with masked cells left empty.

    Parameters
    ----------
    face
        The crop (h, w).
    hog_params
        ``orientations``, ``pixels_per_cell``, ``cells_per_block``, ``block_norm``,
        ``transform_sqrt`` (a run's ``settings["hog"]``); default :data:`DEFAULT_HOG`.
    mask_cells
        ``(cells_y, cells_x)`` bool, True for cells a mask leaves out.

    Returns
    -------
    glyphs : (cells_y * cell_px, cells_x * cell_px) float64
        The picture, brightest glyphs about 1.
    cell_px : int
        Drawing pixels per HOG cell (show the picture at ``pixels_per_cell / cell_px`` scale
        to lay it over the crop).
    """
    from mouseface.features.hog import hog
    from mouseface.report.figures import hog_glyphs

    p = {**DEFAULT_HOG, **(hog_params or {})}
    ppc = p["pixels_per_cell"]
    ppc = (int(ppc), int(ppc)) if np.isscalar(ppc) else tuple(int(v) for v in ppc)
    cpb = p["cells_per_block"]
    cpb = (int(cpb), int(cpb)) if np.isscalar(cpb) else tuple(int(v) for v in cpb)
    h = hog(np.ascontiguousarray(face), orientations=int(p["orientations"]),
            pixels_per_cell=ppc, cells_per_block=cpb, block_norm=str(p["block_norm"]),
            transform_sqrt=bool(p["transform_sqrt"]), feature_vector=False)
    h = np.asarray(h, np.float64).mean(axis=(2, 3))  # blocks -> cells (exact for 1 x 1)
    if mask_cells is not None:
        m = np.asarray(mask_cells, bool)
        if m.shape == h.shape[:2]:
            h[m] = 0.0
    cell_px = max(ppc[0], 12)
    glyphs = hog_glyphs(h, cell_px=cell_px)
    top = float(np.percentile(glyphs[glyphs > 0], 99)) if (glyphs > 0).any() else 1.0
    return np.clip(glyphs / top, 0, 1), cell_px


def registered_crop(
    frame: np.ndarray,
    roi: Sequence[int],
    margin: int,
    matrix: np.ndarray | None = None,
    shift: Sequence[float] | None = None,
) -> np.ndarray:
    """The crop HOG saw in a run: the frame's drift undone and the session moved onto its
    template, in one warp (what :class:`mouseface.features.alignment.Alignment` does per chunk).

    Parameters
    ----------
    frame
        The full frame (H, W).
    roi
        ``(x, y, w, h)``.
    margin
        Pixels read around the ROI (the run's ``registration.margin``).
    matrix
        3 x 3 session-to-template transform of the session's region; None: identity.
    shift
        The frame's drift ``(dy, dx)`` in pixels; None or NaN: none.
    """
    from skimage.transform import SimilarityTransform

    from mouseface.features.alignment import region_of
    from mouseface.features.warp import warp_frames

    x, y, w, h = (int(v) for v in roi)
    region = region_of((x, y, w, h), int(margin), frame.shape[:2])
    rx, ry, rw, rh = region.read
    block = region.complete(np.asarray(frame)[None, ry:ry + rh, rx:rx + rw])
    t = None if matrix is None else SimilarityTransform(matrix=np.asarray(matrix, np.float64))
    s = None
    if shift is not None and np.all(np.isfinite(np.asarray(shift, np.float64))):
        s = _unround(np.asarray(shift, np.float64)).reshape(1, 2)
    return warp_frames(block, t, (int(margin), int(margin), w, h), shifts=s)[0]


def _unround(shift: np.ndarray) -> np.ndarray:
    """The float64 drift a run warped with, from the float32 the results keep.

    Measured drift is a multiple of 1/10 px (phase correlation's upsampling) and the drift of
    frames in between is interpolated linearly: small fractions (3/40, 1/30). Their float32
    copies round the other way at the half-gray-level ties of a bilinear warp, so the crop
    would differ from the run's by a gray level at some pixels; snapping each value to the
    nearest fraction with a denominator up to 1000, when one lies within float32 noise, gives
    the run's value back.
    """
    from fractions import Fraction

    out = shift.copy()
    for i, v in enumerate(out.flat):
        f = Fraction(float(v)).limit_denominator(1000)
        if abs(float(f) - v) <= 1e-6 * max(1.0, abs(v)):
            out.flat[i] = float(f)
    return out


# ---------------------------------------------------------------------------- results


@dataclass
class SessionTraces:
    """One session of a results folder, as the results dock shows it.

    Attributes
    ----------
    session, animal
        Ids.
    frame, time
        ``(n,)`` video frame indices and seconds, in time order.
    names
        Prototype names (neutral first), one per column of ``sim``.
    sim
        ``(n, len(names))`` Pearson r of each frame with each prototype.
    flags
        Quality flag name to ``(n,)`` bool (``flag``, any of them, first); empty without.
    shift
        ``(n, 2)`` drift ``(dy, dx)`` in pixels, or None.
    trials
        The session's events: ``onset``, ``duration``, ``trial_type``, ``trial`` (and the
        events' other columns), in onset order.
    video, roi, fps
        Where the frames came from (the feature store's record), when known.
    registration
        ``{"margin": int, "matrix": 3 x 3 list or None}`` when the run registered the frames.
    hog_params
        The run's HOG settings.
    mask
        The run's mask regions (crop pixels) and the HOG cells they left out, when any.
    aus
        Action unit name to ``(n,)`` trace (the ``au_<name>`` columns of a run with poses);
        empty without.
    au_units
        Action unit name to its unit (``ratio``, ``deg``, ``px`` or ``mm``).
    poses
        The session's aligned keypoints (``poses/<session>.nc`` of a run with poses), or None.
    """

    session: str
    animal: str
    frame: np.ndarray
    time: np.ndarray
    names: list[str]
    sim: np.ndarray
    flags: dict[str, np.ndarray]
    shift: np.ndarray | None
    trials: pd.DataFrame
    video: Path | None = None
    roi: _Roi | None = None
    fps: float | None = None
    registration: dict | None = None
    hog_params: dict = field(default_factory=dict)
    mask: str = ""
    mask_cells: np.ndarray | None = None
    aus: dict[str, np.ndarray] = field(default_factory=dict)
    au_units: dict[str, str] = field(default_factory=dict)
    poses: Path | None = None

    def row_of(self, frame: int) -> int:
        """Position in the arrays of video frame ``frame`` (the nearest one at or before it)."""
        i = int(np.searchsorted(self.frame, int(frame), side="right")) - 1
        return min(max(i, 0), len(self.frame) - 1)

    def frame_at(self, t: float) -> int:
        """The video frame shown at ``t`` seconds (the first at or after it)."""
        return int(self.frame[frame_at(self.time, t)])

    def flagged_frames(self, name: str = "flag") -> np.ndarray:
        """Video frames flagged ``name``."""
        f = self.flags.get(name)
        return self.frame[f] if f is not None else np.empty(0, np.int64)


def results_sessions(results_dir: str | Path) -> list[str]:
    """The sessions of a results folder, in its frames' order."""
    return list(pd.unique(Results(results_dir, require=("frames",)).frames["session"]))


def session_traces(results_dir: str | Path, session: str | None = None) -> SessionTraces:
    """Read what the results dock shows of one session (default the first).

    Raises
    ------
    InputError
        Not a results folder, or no such session.
    """
    res = Results(results_dir, require=("frames",))
    frames = res.frames
    sessions = list(pd.unique(frames["session"]))
    if session is None:
        session = sessions[0]
    if session not in sessions:
        listed = ", ".join(sessions[:5]) + (", ..." if len(sessions) > 5 else "")
        raise InputError(f"no session {session!r} in the results (they have: {listed})",
                         res.layout.frames)
    f = frames[frames["session"] == session].sort_values("frame", kind="stable")
    names = [n for n in res.prototype_names if f"sim_{n}" in f.columns]
    flags = {c: f[c].to_numpy(bool) for c in f.columns
             if pd.api.types.is_bool_dtype(f[c]) and c != "flag"}
    if "flag" in f.columns:
        flags = {"flag": f["flag"].to_numpy(bool), **flags}
    shift = (f[["shift_y", "shift_x"]].to_numpy(np.float64)
             if {"shift_y", "shift_x"} <= set(f.columns) else None)
    t = res.trials  # empty when the folder was scored without events
    trials = t[t["session"] == session].sort_values("onset", kind="stable").reset_index(drop=True)
    settings = res.run.get("settings", {}) if isinstance(res.run, dict) else {}
    mask = res.run.get("mask") or {}
    out = SessionTraces(
        session=str(session), animal=str(f["animal"].iloc[0]),
        frame=f["frame"].to_numpy(np.int64), time=f["time"].to_numpy(np.float64),
        names=names, sim=f[[f"sim_{n}" for n in names]].to_numpy(np.float64), flags=flags,
        shift=shift, trials=trials, hog_params=dict(settings.get("hog") or {}),
        mask=str(mask.get("regions") or ""),
        mask_cells=None if mask.get("cells") is None else np.asarray(mask["cells"], bool))
    # a session without poses has the other sessions' columns, all NaN
    au = [c for c in f.columns if c.startswith("au_") and f[c].notna().any()]
    out.aus = {c[3:]: f[c].to_numpy(np.float64) for c in au}
    out.au_units = au_units(list(out.aus), settings)
    pose_file = res.layout.pose_file(out.session)
    out.poses = pose_file if pose_file.is_file() else None
    _source(out, res.layout, settings)
    return out


def au_units(names: Sequence[str], settings: Mapping | None = None) -> dict[str, str]:
    """The unit of each action unit (:func:`mouseface.features.action_units.unit_of`):
    distances in mm where the run's ``[poses] mm_per_px`` was set, else px.

    Examples
    --------
    >>> au_units(["eye_opening", "ear_angle", "mouth_opening"], {"poses": {"mm_per_px": 0.05}})
    {'eye_opening': 'ratio', 'ear_angle': 'deg', 'mouth_opening': 'mm'}
    """
    from mouseface.features.action_units import unit_of

    poses = (settings or {}).get("poses") or {}
    mm = poses.get("mm_per_px") if isinstance(poses, Mapping) else None
    return {n: unit_of(n, mm) for n in names}


def _source(out: SessionTraces, layout: ResultsLayout, settings: dict) -> None:
    """Video, ROI and registration of a session, from its feature store (or run.json)."""
    attrs: dict = {}
    path = layout.store(out.session)
    if path.exists():
        try:
            attrs = dict(FeatureStore(path).attrs)
        except InputError:
            attrs = {}
    if attrs.get("video"):
        out.video = Path(attrs["video"])
        out.roi = tuple(int(v) for v in attrs["roi"]) if attrs.get("roi") else None
        out.fps = float(attrs["fps"]) if attrs.get("fps") else None
        reg = attrs.get("registration")
        if isinstance(reg, dict) and "margin" in reg:
            out.registration = {"margin": int(reg["margin"]), "matrix": reg.get("matrix")}
        return
    run = layout.run_json
    if run.is_file():  # a folder without features/: the run's inputs still name the video
        import json

        for item in json.loads(run.read_text()).get("inputs", []):
            if item.get("session") == out.session and item.get("path"):
                out.video = Path(item["path"])
                break


# ---------------------------------------------------------------------------- poses


@dataclass
class PosePoints:
    """Keypoints as a napari Points layer over a video (what ``movement``'s napari plugin
    shows): one point per keypoint per frame where it was seen.

    Attributes
    ----------
    data
        ``(m, 3)`` float ``(frame, row, col)``: the video frame and the point's pixel (napari
        and DeepLabCut both put pixel ``i``'s centre at ``i``, so ``x, y`` are taken as they are).
    features
        One row per point: ``keypoint``, ``individual``, ``confidence`` (NaN without
        likelihood), ``frame``.
    keypoints
        Every keypoint of the dataset, in its order (the colours follow it).
    colours
        ``(m, 4)`` RGBA in [0, 1]: each point coloured by its keypoint.
    hidden
        Points left out: missing (NaN) or below ``min_likelihood``.
    """

    data: np.ndarray
    features: pd.DataFrame
    keypoints: list[str]
    colours: np.ndarray
    hidden: int


def keypoint_colours(keypoints: Sequence[str], cmap: str = "turbo") -> dict[str, tuple]:
    """One RGBA colour per keypoint, spread over ``cmap`` (``movement``'s napari plugin
    samples ``turbo`` the same way).

    Examples
    --------
    >>> c = keypoint_colours(["eye", "nose", "lip"])
    >>> len(c), len(set(c.values())), len(c["eye"])
    (3, 3, 4)
    """
    from matplotlib import colormaps

    k = list(keypoints)
    at = np.linspace(0.05, 0.95, len(k)) if len(k) > 1 else np.array([0.5])
    rgba = colormaps[cmap](at)
    return {name: tuple(float(v) for v in rgba[i]) for i, name in enumerate(k)}


def pose_points(ds, frames: np.ndarray | None = None,
                min_likelihood: float | None = 0.6) -> PosePoints:
    """A ``movement`` poses dataset as napari points, aligned to the video's frames.

    Parameters
    ----------
    ds : xarray.Dataset
        ``position`` (time, space, keypoints, individuals), ``confidence`` (time, keypoints,
        individuals): :func:`mouseface.io.poses.read_poses` or a results folder's poses.
    frames
        ``(time,)`` the video frame of each pose row; default ``0 .. n - 1`` (the poses are
        the video's, frame for frame).
    min_likelihood
        Points whose confidence is below it are hidden (DeepLabCut's ``pcutoff``, 0.6); a
        missing confidence (hand labels) hides nothing. None shows every point that has a
        position.

    Raises
    ------
    ValueError
        ``frames`` is not one frame per pose row.

    Examples
    --------
    >>> from movement.io import load_poses
    >>> xy = np.array([[[[10.0], [np.nan]], [[20.0], [5.0]]]] * 3)  # (3, 2, 2, 1)
    >>> ds = load_poses.from_numpy(xy, np.array([[[0.9], [0.9]]] * 3),
    ...                            keypoint_names=["eye", "nose"], individual_names=["m"])
    >>> p = pose_points(ds, frames=np.array([4, 5, 6]))
    >>> p.data.tolist(), p.features["keypoint"].tolist(), p.hidden
    ([[4.0, 20.0, 10.0], [5.0, 20.0, 10.0], [6.0, 20.0, 10.0]], ['eye', 'eye', 'eye'], 3)
    """
    pos = ds["position"].transpose("time", "individuals", "keypoints", "space")
    xy = np.asarray(pos.values[..., :2], np.float64)          # (t, i, k, 2)
    n, n_ind, n_kp = xy.shape[:3]
    conf = ds.get("confidence")
    c = (np.full((n, n_ind, n_kp), np.nan) if conf is None else np.asarray(
        conf.transpose("time", "individuals", "keypoints").values, np.float64))
    frame = np.arange(n) if frames is None else np.asarray(frames, np.int64)
    if frame.shape != (n,):
        raise ValueError(f"{len(frame)} video frames given for {n} pose rows")
    keep = np.isfinite(xy).all(axis=-1)
    if min_likelihood is not None:
        keep &= ~(c < float(min_likelihood))                   # NaN confidence: kept
    t, i, k = np.nonzero(keep)
    keypoints = [str(v) for v in ds["keypoints"].values]
    individuals = np.asarray([str(v) for v in ds["individuals"].values])
    data = np.column_stack([frame[t].astype(np.float64), xy[t, i, k, 1], xy[t, i, k, 0]])
    names = np.asarray(keypoints)[k]
    lut = keypoint_colours(keypoints)
    colours = (np.array([lut[n] for n in keypoints])[k] if len(k)
               else np.empty((0, 4)))
    features = pd.DataFrame({"keypoint": pd.Categorical(names, categories=keypoints),
                             "individual": individuals[i], "confidence": c[t, i, k],
                             "frame": frame[t]})
    return PosePoints(data=data, features=features, keypoints=keypoints, colours=colours,
                      hidden=int(keep.size - keep.sum()))


def au_scaled(values: np.ndarray, unit: str) -> np.ndarray:
    """An action-unit trace about its neutral, in units of its own spread: a ratio minus 1, an
    angle or distance as it is (already against neutral), divided by the median absolute
    deviation of the trace about that zero (1 when it does not vary). What the results dock
    draws so that traces in degrees, px and ratios share one axis; the status line gives the
    values in their own units.

    Examples
    --------
    >>> au_scaled(np.array([1.0, 1.1, 0.8, np.nan]), "ratio").round(2).tolist()
    [0.0, 1.0, -2.0, nan]
    """
    v = np.asarray(values, np.float64) - (1.0 if unit == "ratio" else 0.0)
    finite = v[np.isfinite(v)]
    scale = float(np.median(np.abs(finite))) if finite.size else 0.0
    return v / scale if scale > 0 else v
