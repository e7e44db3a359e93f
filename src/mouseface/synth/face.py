"""A head-fixed mouse face seen from the side, drawn from continuous face actions.

The face is a list of soft-edged primitives (ellipses, ellipse outlines, tapered segments) laid
out in *face coordinates* (fractions of the frame's shorter side; the mouse looks to the right).
The actions of ``states.ACTIONS`` move, rotate and resize them; the animal
(``animals.Animal``) gives the individual shape; the head pose (shift and rotation) moves them
on the frame. A compiled kernel then composites the primitives at the target size with
anti-aliased edges (a signed-distance approximation and a linear ramp about one pixel wide),
visiting only each primitive's bounding box, so a 160 x 160 frame takes about half a
millisecond. The kernel is compiled with ``fastmath``: frames are bit-identical run to run on
one machine, and may differ by a gray level on another CPU.

Pose convention (the truth a registration test recovers): a face drawn with ``dx, dy,
rotation`` equals the canonical face (``0, 0, 0``) rotated by ``rotation`` degrees
counter-clockwise on screen about the frame centre ``((W - 1) / 2, (H - 1) / 2)`` (as
``skimage.transform.rotate(image, rotation)`` does), then shifted ``dx`` pixels right and
``dy`` pixels down. The background does not move; the fur texture moves with the head.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import numba
import numpy as np
from scipy import ndimage

from mouseface.synth.animals import Animal
from mouseface.synth.states import ACTIONS, state_actions

_ELLIPSE, _RING, _CAPSULE = 0, 1, 2
_OVER, _ADD = 0, 1
_NCOL = 12  # kind, x0, y0, p1, p2, p3, p4, value, alpha, soft, tex, mode
_PAD = 16   # texture margin (pixels) so that a shifted head still finds fur


@dataclass(frozen=True)
class Pose:
    """Head pose on the frame: shift in pixels (right, down) and rotation in degrees
    (counter-clockwise on screen, about the frame centre)."""

    dx: float = 0.0
    dy: float = 0.0
    rotation: float = 0.0


@dataclass(frozen=True)
class Paw:
    """A grooming paw over the snout: ``amount`` 0 (absent) .. 1 (fully there); offset in
    face coordinates."""

    amount: float = 0.0
    x: float = 0.0
    y: float = 0.0


# ---------------------------------------------------------------------------------------------
# compiled compositing


@numba.njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
def _composite(canvas, prims, tex, pad, cx, cy, dx, dy, cos_r, sin_r):  # pragma: no cover
    h, w = canvas.shape
    th, tw = tex.shape
    cover = np.empty(w)
    for k in range(prims.shape[0]):
        kind = int(prims[k, 0])
        x0 = prims[k, 1]
        y0 = prims[k, 2]
        p1 = prims[k, 3]
        p2 = prims[k, 4]
        p3 = prims[k, 5]
        p4 = prims[k, 6]
        value = prims[k, 7]
        alpha = prims[k, 8]
        soft = prims[k, 9]
        tamt = prims[k, 10]
        mode = int(prims[k, 11])
        if alpha <= 0.0:
            continue
        margin = 0.5 * soft + 1.0
        if kind == 2:
            rmax = max(p3, p4) + margin
            xlo = min(x0, p1) - rmax
            xhi = max(x0, p1) + rmax
            ylo = min(y0, p2) - rmax
            yhi = max(y0, p2) + rmax
            ux = p1 - x0
            uy = p2 - y0
            ll = ux * ux + uy * uy
            ct = 0.0
            st = 0.0
        else:
            ct = math.cos(p3)
            st = math.sin(p3)
            extra = margin + (p4 if kind == 1 else 0.0)
            hx = math.sqrt((p1 * ct) ** 2 + (p2 * st) ** 2) + extra
            hy = math.sqrt((p1 * st) ** 2 + (p2 * ct) ** 2) + extra
            xlo = x0 - hx
            xhi = x0 + hx
            ylo = y0 - hy
            yhi = y0 + hy
            ux = 0.0
            uy = 0.0
            ll = 0.0
        ix0 = max(int(math.floor(xlo)), 0)
        ix1 = min(int(math.ceil(xhi)) + 1, w)
        iy0 = max(int(math.floor(ylo)), 0)
        iy1 = min(int(math.ceil(yhi)) + 1, h)
        inv_soft = 1.0 / soft
        # a pixel further than `reach` from the shape's outline has a <= 0: each row visits
        # only the columns that may have a > 0
        reach = 0.5 * soft + 1.0 + (max(p3, p4) if kind == 2 else (p4 if kind == 1 else 0.0))
        for y in range(iy0, iy1):
            xs, xe = _row_span(kind, x0, y0, p1, p2, ct, st, ux, uy, reach, y)
            xs = max(xs, ix0)
            n = min(xe, ix1) - xs
            if n <= 0:
                continue
            # the row's coverage first, in a loop of arithmetic alone that the compiler runs
            # several pixels at a time (the same operations as one at a time, so the same
            # values), then the pixels it covers
            py = y - y0
            if kind == 2:
                for i in range(n):
                    px = xs + i - x0
                    t = 0.0
                    if ll > 0.0:
                        t = (px * ux + py * uy) / ll
                        t = min(max(t, 0.0), 1.0)
                    ex = px - t * ux
                    ey = py - t * uy
                    d = math.sqrt(ex * ex + ey * ey) - (p3 + t * (p4 - p3))
                    cover[i] = 0.5 - d * inv_soft
            else:
                for i in range(n):
                    px = xs + i - x0
                    lx = (px * ct + py * st) / p1
                    ly = (-px * st + py * ct) / p2
                    k0 = math.sqrt(lx * lx + ly * ly)
                    qx = lx / p1
                    qy = ly / p2
                    k1 = math.sqrt(qx * qx + qy * qy)
                    d = -min(p1, p2) if k1 < 1e-12 else k0 * (k0 - 1.0) / k1
                    if kind == 1:
                        d = abs(d) - p4
                    cover[i] = 0.5 - d * inv_soft
            for i in range(n):
                a = cover[i]
                if a <= 0.0:
                    continue
                x = xs + i
                if a > 1.0:
                    a = 1.0
                a *= alpha
                if mode == 1:
                    canvas[y, x] += a * value
                else:
                    target = value
                    if tamt != 0.0:
                        # face coordinates of this pixel: undo the head pose
                        qx = x - cx - dx
                        qy = y - cy - dy
                        fx = cx + cos_r * qx - sin_r * qy
                        fy = cy + sin_r * qx + cos_r * qy
                        tx = min(max(int(fx + 0.5) + pad, 0), tw - 1)
                        ty = min(max(int(fy + 0.5) + pad, 0), th - 1)
                        target += tamt * tex[ty, tx]
                    canvas[y, x] += a * (target - canvas[y, x])


@numba.njit(cache=True, nogil=True, inline="always")
def _row_span(kind, x0, y0, p1, p2, ct, st, ux, uy, reach, y):  # pragma: no cover - numba
    """Columns ``[xs, xe)`` of row ``y`` that may lie within ``reach`` pixels of a primitive's
    outline or inside it; conservative, a pixel to spare on each side.

    A capsule's distance is exact: a pixel within ``reach`` of it is within ``reach`` of its
    axis in both coordinates. An ellipse's distance approximation ``k0 (k0 - 1) / k1`` (see
    :func:`_composite`) is at least ``(k0 - 1) m`` outside it, ``m`` the shorter semi-axis
    (``k1 <= k0 / m``), so such a pixel lies within the ellipse grown by ``reach / m`` of its
    size.
    """
    py = y - y0
    r = reach + 1.0
    if kind == 2:
        if abs(uy) < 1e-9:
            if abs(py) > r:
                return 0, 0
            t0 = 0.0
            t1 = 1.0
        else:
            t0 = (py - r) / uy
            t1 = (py + r) / uy
            if t0 > t1:
                t0, t1 = t1, t0
            t0 = max(t0, 0.0)
            t1 = min(t1, 1.0)
            if t0 > t1:
                return 0, 0
        xa = x0 + min(t0 * ux, t1 * ux) - r
        xb = x0 + max(t0 * ux, t1 * ux) + r
        return int(math.floor(xa)), int(math.ceil(xb)) + 1
    lo, hi = _ellipse_row(p1, p2, ct, st, py, 1.0 + r / min(p1, p2))
    if lo > hi:
        return 0, 0
    return int(math.floor(x0 + lo)) - 1, int(math.ceil(x0 + hi)) + 2


@numba.njit(cache=True, nogil=True, inline="always")
def _ellipse_row(p1, p2, ct, st, py, k):  # pragma: no cover - numba
    """Offsets ``lo <= hi`` from the centre of row ``py``'s cut through the ellipse of
    semi-axes ``k p1, k p2`` at angle ``(ct, st)``; ``lo > hi`` where the row misses it."""
    ia = 1.0 / (k * p1) ** 2
    ib = 1.0 / (k * p2) ** 2
    qa = ct * ct * ia + st * st * ib
    qb = 2.0 * py * ct * st * (ia - ib)
    qc = py * py * (st * st * ia + ct * ct * ib) - 1.0
    disc = qb * qb - 4.0 * qa * qc
    if disc < 0.0:
        return 1.0, 0.0
    root = math.sqrt(disc)
    return (-qb - root) / (2.0 * qa), (-qb + root) / (2.0 * qa)


@numba.njit(cache=True, nogil=True)
def _finish(canvas, noise, oy, ox, gain, gx, gy, offset, out, top=0,
            frame_h=0):  # pragma: no cover - numba
    # the column terms and the noise's wrapped columns are worked out once a frame, not once
    # a pixel: the same operations in the same order, so the same gray levels. The canvas's
    # rows are rows top, top + 1, ... of a frame frame_h high for the vertical gradient (by
    # default the frame itself)
    h, w = canvas.shape
    if frame_h == 0:
        frame_h = h
    nh, nw = noise.shape
    fx = np.empty(w)
    nx = np.zeros(w, np.int64)
    for x in range(w):
        fx[x] = gx * (x / w - 0.5)
        if nw > 0:
            nx[x] = (x + ox) % nw
    # a row's noise: the noise row wrapped by ox columns, laid out once per row so that the
    # pixels' loop reads it in order (and the compiler runs it several pixels at a time)
    wrapped = np.zeros(w, np.float32)
    for y in range(h):
        fy = gy * ((top + y) / frame_h - 0.5)
        if nh > 0:
            ny = (y + oy) % nh
            for x in range(w):
                wrapped[x] = noise[ny, nx[x]]
        for x in range(w):
            v = canvas[y, x] * gain * (1.0 + fx[x] + fy) + offset
            v += wrapped[x]
            v = math.floor(v + 0.5)
            out[y, x] = 0 if v < 0.0 else (255 if v > 255.0 else np.uint8(v))


# ---------------------------------------------------------------------------------------------
# per-animal, per-size constants


@lru_cache(maxsize=64)
def _fur_texture(seed: int, height: int, width: int, contrast: float, grain: float) -> np.ndarray:
    """Zero-mean smooth fur texture (gray levels), padded by ``_PAD`` pixels on every side."""
    rng = np.random.default_rng([seed, 7])
    shape = (height + 2 * _PAD, width + 2 * _PAD)
    s = min(height, width) / 160.0 * grain
    coarse = ndimage.gaussian_filter(rng.standard_normal(shape), 4.0 * s)
    # fur strands: noise stretched along the direction of the hair (backwards, slightly down)
    strands = ndimage.gaussian_filter(rng.standard_normal(shape), (0.5 * s, 2.5 * s))
    strands = ndimage.rotate(strands, -18.0, reshape=False, mode="reflect")
    fine = ndimage.gaussian_filter(rng.standard_normal(shape), 0.6 * s)
    tex = coarse / coarse.std() + 0.6 * strands / strands.std() + 0.4 * fine / fine.std()
    tex *= contrast / tex.std()
    tex.setflags(write=False)
    return tex.astype(np.float64)


@lru_cache(maxsize=64)
def _background(seed: int, height: int, width: int, level: float) -> np.ndarray:
    """Static background: a smooth gradient with blotches (the rig behind the animal)."""
    rng = np.random.default_rng([seed, 11])
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    g = rng.uniform(-0.4, 0.4, 2)
    bg = level * (1.0 + g[0] * (xx - 0.5) + g[1] * (yy - 0.5))
    blot = ndimage.gaussian_filter(rng.standard_normal((height, width)),
                                   min(height, width) / 12.0)
    bg += 6.0 * blot / (blot.std() + 1e-9)
    bg.setflags(write=False)
    return bg


# ---------------------------------------------------------------------------------------------
# geometry


def _rot(p, pivot, deg):
    """Rotate point ``p`` about ``pivot`` by ``deg`` (+ = clockwise on screen, y down)."""
    r = math.radians(deg)
    c, s = math.cos(r), math.sin(r)
    x, y = p[0] - pivot[0], p[1] - pivot[1]
    return (pivot[0] + c * x - s * y, pivot[1] + s * x + c * y)


def _along(p, deg, dist):
    r = math.radians(deg)
    return (p[0] + dist * math.cos(r), p[1] + dist * math.sin(r))


def _on_ellipse(c, rx, ry, deg, t_deg, k=1.0):
    """Point at parameter angle ``t_deg`` on an ellipse (scaled by ``k``)."""
    t = math.radians(t_deg)
    return _along(_along(c, deg, k * rx * math.cos(t)), deg + 90.0, k * ry * math.sin(t))


class _Prims:
    """Primitive list in face coordinates (fractions of the frame side, degrees)."""

    def __init__(self):
        self.rows: list[float] = []  # the table's rows one after another (_NCOL values each)
        self.points: dict[str, tuple[float, float]] = {}  # the keypoints a labeller would place

    def ellipse(self, c, rx, ry, deg, value, *, alpha=1.0, soft=1.0, tex=0.0, add=False):
        self.rows.extend((_ELLIPSE, c[0], c[1], rx, ry, deg, 0.0, value, alpha, soft, tex,
                          _ADD if add else _OVER))

    def ring(self, c, rx, ry, deg, width, value, *, alpha=1.0, soft=1.0, add=False):
        self.rows.extend((_RING, c[0], c[1], rx, ry, deg, width, value, alpha, soft, 0.0,
                          _ADD if add else _OVER))

    def capsule(self, p0, p1, r0, r1, value, *, alpha=1.0, soft=1.0, tex=0.0, add=False):
        self.rows.extend((_CAPSULE, p0[0], p0[1], p1[0], p1[1], r0, r1, value, alpha, soft, tex,
                          _ADD if add else _OVER))

    @staticmethod
    def _mover(height: int, width: int, pose: Pose):
        """Face coordinates -> frame pixels with the head pose applied."""
        s = float(min(height, width))
        ox, oy = (width - s) / 2.0, (height - s) / 2.0
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        r = math.radians(pose.rotation)
        c, sn = math.cos(r), math.sin(r)

        def move(x, y):
            x = x * s + ox - cx
            y = y * s + oy - cy
            return cx + c * x + sn * y + pose.dx, cy - sn * x + c * y + pose.dy

        return move

    def points_to_pixels(self, height: int, width: int, pose: Pose) -> np.ndarray:
        """(k, 2) pixel positions of :attr:`points` (in their order) with the head pose."""
        p = np.array(list(self.points.values()), dtype=np.float64).reshape(-1, 2)
        x, y = self._mover(height, width, pose)(p[:, 0], p[:, 1])
        return np.column_stack([x, y])

    def to_pixels(self, height: int, width: int, pose: Pose,
                  keypoints: np.ndarray | None = None) -> np.ndarray:
        """Pixel-space primitive table with the head pose applied (what :meth:`_mover`
        does to points, in a compiled loop: the same operations in the same order); with
        ``keypoints`` ((k, 2)), also fills it with :meth:`points_to_pixels` of
        :data:`KEYPOINTS`, in the same loop."""
        a = np.array(self.rows, dtype=np.float64).reshape(-1, _NCOL)
        pts = (_NO_POINTS if keypoints is None else
               np.array([self.points[k] for k in KEYPOINTS], dtype=np.float64))
        s = float(min(height, width))
        r = math.radians(pose.rotation)
        # edge softness is given in pixels at 160 px and grows gently with the frame
        _place(a, pts, s, (width - s) / 2.0, (height - s) / 2.0, (width - 1) / 2.0,
               (height - 1) / 2.0, math.cos(r), math.sin(r), float(pose.dx), float(pose.dy),
               float(pose.rotation), (s / 160.0) ** 0.5)
        if keypoints is not None:
            keypoints[...] = pts
        return a


_NO_POINTS = np.zeros((0, 2))


@numba.njit(cache=True, nogil=True)
def _place(a, pts, s, ox, oy, cx, cy, c, sn, dx, dy, rotation, soft_scale):  # pragma: no cover
    deg = np.pi / 180.0  # numpy's radians: x * (pi / 180)
    for k in range(pts.shape[0]):
        x = pts[k, 0] * s + ox - cx
        y = pts[k, 1] * s + oy - cy
        pts[k, 0] = cx + c * x + sn * y + dx
        pts[k, 1] = cy - sn * x + c * y + dy
    for k in range(a.shape[0]):
        x = a[k, 1] * s + ox - cx
        y = a[k, 2] * s + oy - cy
        a[k, 1] = cx + c * x + sn * y + dx
        a[k, 2] = cy - sn * x + c * y + dy
        if a[k, 0] == _CAPSULE:
            x = a[k, 3] * s + ox - cx
            y = a[k, 4] * s + oy - cy
            a[k, 3] = cx + c * x + sn * y + dx
            a[k, 4] = cy - sn * x + c * y + dy
            a[k, 5] *= s
            a[k, 6] *= s
        else:
            a[k, 3] *= s
            a[k, 4] *= s
            a[k, 6] *= s
            a[k, 5] = (a[k, 5] - rotation) * deg
            a[k, 3] = max(a[k, 3], 1e-3)
            a[k, 4] = max(a[k, 4], 1e-3)
        a[k, 9] = max(a[k, 9] * soft_scale, 0.6)


def _face_primitives(act: Mapping[str, float], animal: Animal, paw: Paw) -> _Prims:
    """Lay out the face for the actions ``act`` (see ``states.ACTIONS``)."""
    fur = animal.fur
    sc = animal.scale
    h0 = (0.45, 0.47)
    shift = (animal.x - 0.035, animal.y)

    def P(x, y):
        """Canonical layout point -> this animal's point."""
        q = _rot((h0[0] + sc * (x - h0[0]), h0[1] + sc * (y - h0[1])), h0, animal.tilt)
        return (q[0] + shift[0], q[1] + shift[1])

    def L(v):
        return v * sc

    tilt = animal.tilt
    pr = _Prims()
    F = dict(tex=1.0)  # fur primitives carry the fur texture

    # --- body, neck, throat, cranium ---------------------------------------------------------
    pr.ellipse(P(0.02, 0.98), L(0.42), L(0.46), tilt, fur - 6, **F)
    pr.ellipse(P(0.20, 0.62), L(0.24), L(0.21), tilt - 25, fur - 4, **F)
    pr.ellipse(P(0.40, 0.66), L(0.15), L(0.085), tilt + 2, fur - 2, **F)

    cheek_b = max(act["cheek_bulge"], 0.0)
    kc = P(0.46 + 0.01 * cheek_b, 0.58 + 0.035 * cheek_b)
    krx, kry = L(0.11 * (1 + 0.25 * cheek_b)), L(0.078 * (1 + 0.6 * cheek_b))
    pr.ellipse(kc, krx, kry, tilt + 6, fur, **F)

    pr.ellipse(P(0.385, 0.455), L(0.2), L(0.165 * animal.cranium), tilt + 12, fur + 2, **F)

    # --- snout group (rotates about the snout root by nose_down) -------------------------------
    s_len = animal.snout
    nose_down = act["nose_down"]
    root = P(0.50, 0.47)
    fwd = act["nose_forward"] * L(0.34 * s_len)
    s_deg = tilt + 19.0

    def S(x, y):
        """Snout-group point (canonical) -> animal point, rotated and pushed by the actions."""
        q = P(0.50 + (x - 0.50) * s_len, y)
        q = _along(q, s_deg, fwd * (x - 0.45) / 0.4)
        return _rot(q, root, nose_down)

    sd = s_deg + nose_down

    # mouth and lower jaw (the jaw follows the snout half-way)
    jaw_open = max(act["jaw_open"], 0.0)
    jaw_deg = 32.0 * jaw_open + 0.5 * nose_down
    pivot = P(0.50, 0.615)
    jf = act["jaw_forward"] * L(0.04)

    def J(x, y, frac=1.0):
        q = _along(P(x, y), tilt + 14, jf * frac)
        return _rot(q, pivot, jaw_deg * frac)

    if jaw_open > 0:  # the mouth interior shows between the jaws
        pr.capsule(J(0.52, 0.615, 0.5), J(0.68, 0.64, 0.5), L(0.04), L(0.026), 20.0,
                   alpha=min(1.0, 4.0 * jaw_open), soft=1.2)
    tongue = max(act["tongue"], 0.0)
    if tongue > 0:
        t0, t1 = J(0.55, 0.624, 0.5), J(0.645, 0.636, 0.5)
        t1 = _along(t1, math.degrees(math.atan2(t1[1] - t0[1], t1[0] - t0[0])),
                    L(0.02) * tongue)
        pr.capsule(t0, t1, L(0.02), L(0.016 + 0.004 * tongue), fur + 38,
                   alpha=min(1.0, tongue), soft=1.5)
    jaw0, jaw1 = J(0.52, 0.622), J(0.685, 0.646)
    pr.points["mouth"] = S(0.62, 0.62)          # upper lip, on the snout's lower edge
    pr.points["lip"] = J(0.62, 0.655)           # lower lip, on the jaw's lower edge
    pr.capsule(jaw0, jaw1, L(0.04), L(0.018), fur - 4, **F)
    pr.capsule(_along(jaw0, 90, L(0.035)), _along(jaw1, 90, L(0.016)), L(0.006), L(0.004), -22,
               alpha=0.6, soft=2.5, add=True)  # shadow under the chin

    # snout wedge: from the cranium to the nose tip
    tip = S(0.855, 0.595)
    sroot = S(0.47, 0.475)
    pad_b = max(act["whisker_pad"], 0.0)
    pr.capsule(sroot, tip, L(0.15), L(0.034 * (1 + 0.1 * pad_b)), fur + 3, **F)
    nb = max(act["nose_bulge"], 0.0)
    bridge = S(0.69, 0.505 - 0.015 * nb)
    pr.ellipse(bridge, L(0.1 * s_len), L(0.02 + 0.03 * nb), sd - 6, fur + 5 + 5 * nb, **F)
    pr.points["nose_tip"] = tip
    pr.points["nose_top"] = _along(bridge, sd - 96, L(0.02 + 0.03 * nb))  # top of the bridge
    pr.points["nose_bottom"] = _along(tip, sd + 90, L(0.034 * (1 + 0.1 * pad_b)))
    if nb > 0:
        pr.ellipse(S(0.69, 0.49 - 0.012 * nb), L(0.07), L(0.012), sd - 6, 14 * nb, soft=4.0,
                   add=True)

    # whisker pad with follicles
    pad_c = S(0.735, 0.575 + 0.008 * pad_b)
    prx, pry = L(0.075 * s_len), L(0.04 * (1 + 0.5 * pad_b))
    pr.ellipse(pad_c, prx, pry, sd, 12 + 14 * pad_b, soft=4.0, add=True)
    if pad_b > 0:
        pr.ellipse(_along(pad_c, sd + 90, 0.9 * pry), prx, 0.5 * pry, sd, -26 * pad_b,
                   soft=3.0, add=True)
    for i, fy in enumerate((-0.55, 0.0, 0.55)):  # a point on one whisker of each row
        p = _along(_along(pad_c, sd, 0.2 * prx), sd + 90, fy * pry)
        deg = sd + (-44.0, -10.0, 24.0)[i] - act["whisker_angle"]
        pr.points[f"whisker_{i + 1}"] = _along(p, deg, L(0.05))
    follicles = []
    for fy in (-0.55, 0.0, 0.55):
        for fx in (-0.6, -0.2, 0.2, 0.6):
            p = _along(_along(pad_c, sd, fx * prx), sd + 90, fy * pry)
            follicles.append(p)
            pr.ellipse(p, L(0.005), L(0.005), 0.0, -26, soft=1.0, add=True)

    # lip line: from the mouth corner along the lower edge of the snout
    lip = [S(0.54, 0.605), S(0.62, 0.62), S(0.70, 0.627), S(0.79, 0.63)]
    for p0, p1 in zip(lip[:-1], lip[1:], strict=True):
        pr.capsule(p0, p1, L(0.0035), L(0.003), -34, soft=1.5, add=True)

    # rhinarium and nostril
    nk = 1.0 + 0.3 * nb
    pr.ellipse(_along(tip, sd, -L(0.004)), L(0.032 * nk), L(0.029 * nk), sd + 20,
               fur + animal.nose, soft=1.3)
    pr.ellipse(_along(tip, sd - 30, L(0.006)), L(0.011 * nk), L(0.006 * nk), sd + 40,
               fur + animal.nose - 45, soft=1.0)
    pr.ellipse(_along(tip, sd - 100, L(0.02)), L(0.014), L(0.007), sd, 26, alpha=0.7,
               soft=2.0, add=True)

    # --- cheek: a highlight above, a shadow crescent below ----------------------------------------
    pr.ellipse(kc, krx, kry, tilt + 6, -12 - 26 * cheek_b, soft=2.5 + 1.5 * cheek_b, add=True)
    pr.ellipse(_along(kc, tilt - 84, L(0.014 + 0.006 * cheek_b)), 0.96 * krx, 0.92 * kry,
               tilt + 6, 14 + 30 * cheek_b, soft=4.0, add=True)

    # --- eye -------------------------------------------------------------------------------------
    o = min(max(act["eye_open"], 0.0), 1.8)
    ec = P(0.535 + animal.eye_x, 0.425 + animal.eye_y)
    erx = L(0.052 * animal.eye) * (0.8 + 0.2 * o if o < 1 else 1 + 0.25 * (o - 1))
    ery = L(0.042 * animal.eye) * max(o, 0.03)
    edeg = tilt + 8
    pr.points["eye_top"] = _along(ec, edeg - 90, ery)
    pr.points["eye_bottom"] = _along(ec, edeg + 90, ery)
    pr.points["eye_front"] = _along(ec, edeg, erx)
    pr.points["eye_back"] = _along(ec, edeg + 180, erx)
    pr.ellipse(ec, erx + L(0.014), max(ery, L(0.006)) + L(0.014), edeg, -20, soft=4.0,
               add=True)  # dark periocular fur
    pr.ellipse(ec, erx, ery, edeg, 14.0, soft=1.0)
    if o > 1:
        pr.ring(ec, erx + L(0.005), ery + L(0.005), edeg, L(0.003), fur + 50,
                alpha=min(1.0, 1.6 * (o - 1)), soft=1.2)
    if o > 0.2:
        pr.ellipse(_along(_along(ec, edeg, 0.35 * erx), edeg - 90, 0.4 * ery),
                   L(0.011), L(0.011), 0.0, 235.0, alpha=min(1.0, (o - 0.2) * 2), soft=1.2)
    if o < 0.9:  # orbital tightening: lid crease and wrinkles from the eye corners
        k = min(1.0, (0.9 - o) / 0.6)
        back = _along(ec, edeg + 180, erx)
        front = _along(ec, edeg, erx)
        pr.capsule(back, _along(back, edeg + 165, L(0.045)), L(0.004), L(0.0015), -45,
                   alpha=k, soft=1.2, add=True)
        pr.capsule(back, _along(back, edeg + 200, L(0.04)), L(0.004), L(0.0015), -40,
                   alpha=k, soft=1.2, add=True)
        pr.capsule(front, _along(front, edeg + 15, L(0.03)), L(0.004), L(0.0015), -40,
                   alpha=k, soft=1.2, add=True)
        top = [_on_ellipse(ec, erx * 1.2, L(0.03), edeg, t) for t in (200, 240, 270, 300, 340)]
        for p0, p1 in zip(top[:-1], top[1:], strict=True):
            pr.capsule(p0, p1, L(0.003), L(0.003), -35, alpha=k, soft=1.2, add=True)

    # --- ear -------------------------------------------------------------------------------------
    f = min(max(act["ear_flat"], 0.0), 1.0)
    base = P(0.315, 0.31)
    phi = -112.0 + tilt + act["ear_angle"] - 28.0 * f
    el = L(0.155 * animal.ear) * (1 - 0.22 * f)
    ew = L(0.125 * animal.ear) * (1 - 0.68 * f)
    ecen = _along(base, phi, 0.78 * el)
    pr.points["ear_base"] = base
    pr.points["ear_tip"] = _along(ecen, phi, el)
    pr.ellipse(ecen, el, ew, phi, fur - 10, **F)
    inner_c = _along(_along(ecen, phi, 0.1 * el), phi + 90, -0.12 * ew)
    pr.ellipse(inner_c, 0.74 * el, 0.66 * ew * (1 - 0.5 * f), phi, fur + animal.inner_ear,
               alpha=1.0 - 0.75 * f, soft=2.5)
    pr.ellipse(_along(base, phi, 0.25 * el), 0.35 * el, 0.4 * ew, phi, -35, soft=5.0,
               add=True)  # concha shadow
    pr.ring(ecen, el, ew, phi, L(0.004), fur - 40, alpha=0.7, soft=1.2)
    if f > 0:  # the fold of a flattened pinna
        pr.capsule(_along(ecen, phi, -0.6 * el), _along(ecen, phi, 0.8 * el), L(0.004),
                   L(0.002), -40, alpha=f, soft=1.5, add=True)

    # --- global shading: light from above --------------------------------------------------------
    pr.ellipse(P(0.45, 0.36), L(0.25), L(0.1), tilt + 10, 14, soft=14.0, add=True)
    pr.ellipse(P(0.40, 0.74), L(0.25), L(0.06), tilt, -20, soft=14.0, add=True)

    # --- whiskers --------------------------------------------------------------------------------
    w_rot = -act["whisker_angle"]
    for i, base_deg, k_len in _whisker_layout(animal.seed, animal.n_whiskers):
        length = L(0.3 * animal.whisker_length) * k_len
        d0 = sd + base_deg + w_rot
        p0 = follicles[i]
        p1 = _along(p0, d0, 0.55 * length)
        p2 = _along(p1, d0 + 12.0, 0.45 * length)
        pr.capsule(p0, p1, L(0.0026), L(0.002), 200.0, alpha=0.6, soft=1.0)
        pr.capsule(p1, p2, L(0.002), L(0.0012), 200.0, alpha=0.45, soft=1.0)

    # --- grooming paw ----------------------------------------------------------------------------
    if paw.amount > 0:
        a = min(paw.amount, 1.0)
        pc = (0.70 + paw.x, 0.66 + paw.y)
        pr.capsule((pc[0] - 0.09, 1.08), pc, 0.055, 0.05, fur + 25, alpha=a, soft=6.0, tex=0.5)
        pr.ellipse(pc, 0.085, 0.065, -20, fur + 55, alpha=a, soft=6.0)
        for t in (-150, -115, -80, -45):
            pr.ellipse(_on_ellipse(pc, 0.085, 0.065, -20, t), 0.026, 0.02, t - 20, fur + 65,
                       alpha=a, soft=4.0)
    return pr


@lru_cache(maxsize=256)
def _whisker_layout(seed: int, n: int) -> tuple[tuple[int, float, float], ...]:
    """Per animal: which follicles carry a whisker, its rest angle (relative to the snout) and
    relative length."""
    rng = np.random.default_rng([seed, 3])
    chosen = np.sort(rng.permutation(12)[:n])
    return tuple((int(i), {0: -44.0, 1: -10.0, 2: 24.0}[int(i) // 4] + float(rng.uniform(-10, 10)),
                  float(rng.uniform(0.75, 1.15))) for i in chosen)


# ---------------------------------------------------------------------------------------------
# public API


class FaceRenderer:
    """Draws one animal's face at one frame size; caches what does not change between frames.

    Parameters
    ----------
    animal
        The animal (``make_animal``); ``None`` for the canonical animal.
    size
        Frame size ``(height, width)`` in pixels.
    """

    def __init__(self, animal: Animal | None = None, size: tuple[int, int] = (256, 256)):
        self.animal = Animal() if animal is None else animal
        self.size = (int(size[0]), int(size[1]))
        if min(self.size) < 16:
            raise ValueError(f"size must be at least 16 x 16 pixels, got {self.size}")
        h, w = self.size
        a = self.animal
        self._tex = _fur_texture(a.seed, h, w, float(a.fur_contrast), float(a.fur_grain))
        self._bg = _background(a.seed, h, w, float(a.background))
        self._canvas = np.empty(self.size, dtype=np.float64)
        self._no_noise = np.zeros((0, 0), dtype=np.float32)

    def render(self, actions: Mapping[str, float], *, pose: Pose = Pose(), paw: Paw = Paw(),
               gain: float = 1.0, gradient: tuple[float, float] = (0.0, 0.0),
               offset: float = 0.0, noise: np.ndarray | None = None,
               noise_shift: tuple[int, int] = (0, 0), out: np.ndarray | None = None,
               keypoints: np.ndarray | None = None) -> np.ndarray:
        """Render one frame.

        Parameters
        ----------
        actions
            Face actions (all of ``states.ACTIONS``; e.g. from ``state_actions``).
        pose
            Head shift and rotation on the frame.
        paw
            Grooming paw over the snout.
        gain, gradient, offset
            Illumination: ``frame * gain * (1 + gx * (x/W - 0.5) + gy * (y/H - 0.5)) + offset``.
        noise
            Sensor noise (H, W) added before rounding, or ``None``.
        noise_shift
            Circular shift (rows, columns) of ``noise``, so that a small bank of noise fields
            gives a fresh field every frame.
        out
            Optional (H, W) uint8 array to write into.
        keypoints
            Optional (k, 2) array: filled with the pixel positions of :data:`KEYPOINTS` on
            the face drawn (what :func:`face_keypoints` gives, without computing the face
            twice).

        Returns
        -------
        (H, W) uint8
        """
        h, w = self.size
        table = _face_primitives(actions, self.animal, paw).to_pixels(h, w, pose, keypoints)
        canvas = self._canvas
        canvas[...] = self._bg
        r = math.radians(pose.rotation)
        _composite(canvas, table, self._tex, _PAD, (w - 1) / 2.0, (h - 1) / 2.0, float(pose.dx),
                   float(pose.dy), math.cos(r), math.sin(r))
        if out is None:
            out = np.empty(self.size, dtype=np.uint8)
        nz = self._no_noise if noise is None else np.asarray(noise, dtype=np.float32)
        _finish(canvas, nz, int(noise_shift[0]), int(noise_shift[1]), float(gain),
                float(gradient[0]), float(gradient[1]), float(offset),
                out)
        return out


#: the keypoints the face emits (in this order), named by their action-unit roles
KEYPOINTS = ("eye_top", "eye_bottom", "eye_front", "eye_back", "ear_base", "ear_tip",
             "nose_tip", "nose_top", "nose_bottom", "whisker_1", "whisker_2", "whisker_3",
             "mouth", "lip")


def face_keypoints(actions: Mapping[str, float], *, size: tuple[int, int] = (256, 256),
                   animal: Animal | None = None, pose: Pose | None = None) -> np.ndarray:
    """(k, 2) pixel positions of :data:`KEYPOINTS` on the face :func:`render_face` draws with
    the same actions, animal, size and pose: the corners and midpoints of the drawn eye, the
    ear's base and tip, the snout's tip, bridge and underside, a point on one whisker of each
    row, the upper and lower lip.

    Examples
    --------
    >>> from mouseface.synth.states import state_actions
    >>> rest = face_keypoints(state_actions("neutral"), size=(160, 160))
    >>> pain = face_keypoints(state_actions("pain"), size=(160, 160))
    >>> i, j = KEYPOINTS.index("eye_top"), KEYPOINTS.index("eye_bottom")
    >>> bool(abs(pain[i, 1] - pain[j, 1]) < 0.2 * abs(rest[i, 1] - rest[j, 1]))
    True
    """
    pr = _face_primitives(actions, Animal() if animal is None else animal, Paw())
    xy = pr.points_to_pixels(int(size[0]), int(size[1]), pose or Pose())
    order = list(pr.points)
    return xy[[order.index(k) for k in KEYPOINTS]]


def label_keypoints(xy: np.ndarray, rng: np.random.Generator, *, noise_px: float = 0.0,
                    dropout: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints as a tracker gives them: Gaussian label noise of ``noise_px`` pixels per
    coordinate, and a fraction ``dropout`` of points lost: placed wrong (10 px off) with a
    likelihood below 0.5, as a tracker reports a point it cannot see.

    Returns the noisy positions (same shape as ``xy``, ``(..., 2)``) and a likelihood per point
    (0-0.5 where lost, else 0.9-1).
    """
    xy = np.asarray(xy, dtype=np.float64)
    out = xy + rng.normal(0.0, noise_px, xy.shape) if noise_px > 0 else xy.copy()
    like = rng.uniform(0.9, 1.0, xy.shape[:-1])
    lost = rng.random(xy.shape[:-1]) < dropout
    out[lost] += rng.normal(0.0, 10.0, (int(lost.sum()), xy.shape[-1]))
    like[lost] = rng.uniform(0.0, 0.5, int(lost.sum()))
    return out, like


def render_face(state: str = "neutral", intensity: float = 1.0, *,
                size: tuple[int, int] = (256, 256), animal: Animal | None = None,
                rng: np.random.Generator | None = None, actions: Mapping[str, float] | None = None,
                pose: Pose | None = None, paw: Paw | None = None, noise_std: float = 0.0,
                ) -> np.ndarray:
    """Render a side-view mouse face showing ``state`` at ``intensity``.

    Parameters
    ----------
    state
        A key of ``STATES``.
    intensity
        0 gives the animal's neutral face exactly, 1 the full state.
    size
        ``(height, width)`` in pixels.
    animal
        The animal (``make_animal``); ``None`` for the canonical animal.
    rng
        Generator for the sensor noise (only used when ``noise_std > 0``).
    actions
        Further action changes added on top of the state (action -> delta).
    pose
        Head shift and rotation (see the module notes for the convention).
    paw
        A grooming paw over the snout.
    noise_std
        Standard deviation of Gaussian sensor noise in gray levels; 0 for none.

    Returns
    -------
    (H, W) uint8

    Examples
    --------
    >>> render_face("pain", 0.5, size=(160, 160)).shape
    (160, 160)
    """
    act = state_actions(state, intensity, actions)
    renderer = _renderer(animal, (int(size[0]), int(size[1])))
    noise = None
    if noise_std > 0:
        rng = np.random.default_rng() if rng is None else rng
        noise = rng.standard_normal(renderer.size, dtype=np.float32) * np.float32(noise_std)
    return renderer.render(act, pose=pose or Pose(), paw=paw or Paw(), noise=noise)


@lru_cache(maxsize=16)
def _renderer(animal: Animal | None, size: tuple[int, int]) -> FaceRenderer:
    return FaceRenderer(animal, size)


__all__ = ["ACTIONS", "KEYPOINTS", "FaceRenderer", "Paw", "Pose", "face_keypoints",
           "label_keypoints", "render_face"]
