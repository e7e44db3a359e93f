"""The compiled drawing of the synthetic faces: the faster kernels give the same numbers as the
plain per-pixel ones they replace (the demo's videos are byte-identical through them)."""

import math

import numba
import numpy as np
import pytest

from mouseface.synth import STATES, Paw, Pose, behaviour, face, make_animal, state_actions


@numba.njit(cache=True, fastmath=True, error_model="numpy", nogil=True)
def _composite_per_pixel(canvas, prims, tex, pad, cx, cy, dx, dy, cos_r, sin_r):
    """The kernel as it was: every pixel of each primitive's bounding box, one at a time."""
    h, w = canvas.shape
    th, tw = tex.shape
    for k in range(prims.shape[0]):
        kind, x0, y0, p1, p2, p3, p4, value, alpha, soft, tamt, mode = prims[k]
        if alpha <= 0.0:
            continue
        margin = 0.5 * soft + 1.0
        ux = uy = ll = ct = st = 0.0
        if kind == 2:
            rmax = max(p3, p4) + margin
            xlo, xhi = min(x0, p1) - rmax, max(x0, p1) + rmax
            ylo, yhi = min(y0, p2) - rmax, max(y0, p2) + rmax
            ux = p1 - x0
            uy = p2 - y0
            ll = ux * ux + uy * uy
        else:
            ct = math.cos(p3)
            st = math.sin(p3)
            extra = margin + (p4 if kind == 1 else 0.0)
            hx = math.sqrt((p1 * ct) ** 2 + (p2 * st) ** 2) + extra
            hy = math.sqrt((p1 * st) ** 2 + (p2 * ct) ** 2) + extra
            xlo, xhi, ylo, yhi = x0 - hx, x0 + hx, y0 - hy, y0 + hy
        inv_soft = 1.0 / soft
        for y in range(max(int(math.floor(ylo)), 0), min(int(math.ceil(yhi)) + 1, h)):
            for x in range(max(int(math.floor(xlo)), 0), min(int(math.ceil(xhi)) + 1, w)):
                px = x - x0
                py = y - y0
                if kind == 2:
                    t = 0.0
                    if ll > 0.0:
                        t = (px * ux + py * uy) / ll
                        t = min(max(t, 0.0), 1.0)
                    ex = px - t * ux
                    ey = py - t * uy
                    d = math.sqrt(ex * ex + ey * ey) - (p3 + t * (p4 - p3))
                else:
                    lx = (px * ct + py * st) / p1
                    ly = (-px * st + py * ct) / p2
                    k0 = math.sqrt(lx * lx + ly * ly)
                    qx = lx / p1
                    qy = ly / p2
                    k1 = math.sqrt(qx * qx + qy * qy)
                    d = -min(p1, p2) if k1 < 1e-12 else k0 * (k0 - 1.0) / k1
                    if kind == 1:
                        d = abs(d) - p4
                a = 0.5 - d * inv_soft
                if a <= 0.0:
                    continue
                a = min(a, 1.0) * alpha
                if mode == 1:
                    canvas[y, x] += a * value
                else:
                    target = value
                    if tamt != 0.0:
                        qx = x - cx - dx
                        qy = y - cy - dy
                        fx = cx + cos_r * qx - sin_r * qy
                        fy = cy + sin_r * qx + cos_r * qy
                        tx = min(max(int(fx + 0.5) + pad, 0), tw - 1)
                        ty = min(max(int(fy + 0.5) + pad, 0), th - 1)
                        target += tamt * tex[ty, tx]
                    canvas[y, x] += a * (target - canvas[y, x])


def _random_table(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Primitives of every kind and mode: thin, turned, tapered, off the edge, of length 0."""
    rows = []
    for _ in range(n):
        kind = int(rng.integers(0, 3))
        x0, y0 = rng.uniform(-10, size + 10, 2)
        soft = float(rng.choice([0.6, 1.0, 4.0, 14.0]))
        if kind == 2:
            x1, y1 = (x0, y0) if rng.random() < 0.1 else rng.uniform(-10, size + 10, 2)
            if rng.random() < 0.2:
                y1 = y0  # level
            p = (x1, y1, rng.uniform(0.2, 20), rng.uniform(0.2, 20))
        else:
            p = (rng.uniform(1e-3, 40), rng.uniform(1e-3, 40), rng.uniform(-4, 4),
                 rng.uniform(0.3, 3) if kind == 1 else 0.0)
        rows.append((kind, x0, y0, *p, rng.uniform(-60, 200), rng.uniform(0.2, 1), soft,
                     float(rng.choice([0.0, 1.0])), int(rng.integers(0, 2))))
    return np.array(rows, dtype=np.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_composite_gives_the_per_pixel_kernels_numbers(seed):
    rng = np.random.default_rng(seed)
    tex = rng.normal(0, 10, (96 + 2 * face._PAD, 96 + 2 * face._PAD))
    for _ in range(20):
        table = _random_table(rng, 12, 96)
        base = rng.uniform(0, 255, (96, 96))
        args = (tex, face._PAD, 47.5, 47.5, *rng.normal(0, 2, 2), math.cos(0.1), math.sin(0.1))
        want, got = base.copy(), base.copy()
        _composite_per_pixel(want, table, *args)
        face._composite(got, table, *args)
        assert np.array_equal(got, want)
        assert not np.array_equal(got, base)


def test_composite_of_faces_gives_the_per_pixel_kernels_numbers():
    rng = np.random.default_rng(4)
    for a, (h, w) in enumerate([(128, 128), (160, 200)]):
        animal = make_animal(np.random.default_rng([a, 9, 0]))
        tex = face._fur_texture(animal.seed, h, w, float(animal.fur_contrast),
                                float(animal.fur_grain))
        for i, state in enumerate(STATES):
            pose = Pose(*rng.normal(0, [2, 2, 3]).tolist())
            table = face._face_primitives(state_actions(state, 0.3 + 0.2 * i), animal,
                                          Paw(0.7 * (i % 2))).to_pixels(h, w, pose)
            r = math.radians(pose.rotation)
            args = (tex, face._PAD, (w - 1) / 2, (h - 1) / 2, pose.dx, pose.dy, math.cos(r),
                    math.sin(r))
            want = face._background(animal.seed, h, w, float(animal.background)).copy()
            got = want.copy()
            _composite_per_pixel(want, table, *args)
            face._composite(got, table, *args)
            assert np.array_equal(got, want)


def test_body_strip_is_lit_as_the_rows_below_the_face():
    """The strip's light and noise, by numpy: the formula the compiled finish replaced."""
    rng = np.random.default_rng(0)
    animal = make_animal(rng)
    body = behaviour.BodyRenderer(animal, 128, face._background(animal.seed, 128, 128, 100.0))
    noise = rng.normal(0, 2.5, (body.height, 128)).astype(np.float32)
    for gain, gx, gy, offset, noisy in [(1.0, 0.0, 0.0, 0.0, False),
                                        (1.04, 0.03, -0.05, 1.7, True)]:
        got = body.render(gait=0.5, gait_phase=1.0, gain=gain, gradient=(gx, gy),
                          offset=offset, noise=noise if noisy else None, face_height=128)
        xx = np.arange(128)[None, :] / 128 - 0.5
        fy = gy * ((128 + np.arange(body.height)[:, None]) / 128 - 0.5)
        v = body._canvas * gain * (1.0 + gx * xx + fy) + offset
        if noisy:
            v += noise
        assert np.array_equal(got, np.clip(np.floor(v + 0.5), 0, 255).astype(np.uint8))
