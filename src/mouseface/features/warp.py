"""One resampling of a batch of frames: drift undone, a session moved onto its template, the
ROI cut (:func:`warp_frames`), with the Numba kernels that do it.

Conventions (``(x, y)`` = (column, row), y down, as in scikit-image): a transform maps
*moving* (session) coordinates onto *template* coordinates;
``skimage.transform.warp(moving, tform.inverse)`` resamples the moving image onto the template
grid, and :func:`warp_frames` does the same for a batch of frames and only for the ROI's
pixels. A drift ``(dy, dx)`` is where the frame's content moved to
(:mod:`mouseface.features.drift`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numba
import numpy as np
from scipy import ndimage

from mouseface._parallel import over_frames

if TYPE_CHECKING:
    from skimage.transform import SimilarityTransform

__all__ = ["warp_frames", "expand_roi"]

_Roi = tuple[int, int, int, int]


def _as_batch(frames, name: str = "frames") -> tuple[np.ndarray, bool]:
    a = np.asarray(frames)
    if a.ndim not in (2, 3):
        raise ValueError(f"{name} must be a frame (H, W) or a batch of frames (N, H, W); got "
                         f"shape {a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {a.dtype}")
    return (a[None], True) if a.ndim == 2 else (a, False)


def _check_roi(roi, shape, name: str = "roi") -> _Roi:
    if roi is None:
        return (0, 0, int(shape[1]), int(shape[0]))
    try:
        x, y, w, h = (int(v) for v in roi)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be (x, y, w, h) in pixels; got {roi!r}") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > shape[1] or y + h > shape[0]:
        raise ValueError(f"{name} {(x, y, w, h)} does not fit in a {shape[1]} x {shape[0]} "
                         "(W x H) image")
    return x, y, w, h


def _out_dtype(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Cast interpolated float values back to ``dtype`` (round and clip integers)."""
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(dtype)
    if dtype == np.bool_:
        return values >= 0.5
    return values.astype(dtype, copy=False)


def expand_roi(roi: _Roi, margin: int, frame_shape: tuple[int, int]) -> _Roi:
    """The ROI ``(x, y, w, h)`` grown by ``margin`` pixels on every side, clipped to the frame.

    Read this larger region when frames are registered before cropping, so that a shifted or
    rotated ROI still finds image content (the extra pixels feed :func:`warp_frames`).

    Examples
    --------
    >>> expand_roi((10, 5, 80, 64), 8, (140, 233))
    (2, 0, 96, 77)
    """
    x, y, w, h = _check_roi(roi, frame_shape)
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(frame_shape[1], x + w + margin), min(frame_shape[0], y + h + margin)
    return x0, y0, x1 - x0, y1 - y0


def warp_frames(
    frames: np.ndarray,
    transform: SimilarityTransform | None,
    roi: _Roi | None = None,
    *,
    shifts: np.ndarray | None = None,
    output_shape: tuple[int, int] | None = None,
    order: int = 1,
    mode: str = "edge",
    cval: float = 0.0,
) -> np.ndarray:
    """Resample frames onto the template grid and cut the ROI, in one interpolation.

    Output pixel ``(x, y)`` of the ROI (template coordinates) takes the frame's value at
    ``transform.inverse((x, y)) + (dx_i, dy_i)``: the session-to-template transform, then the
    frame's own drift ``shifts[i]`` (measured in the frame's coordinates against the session's
    reference face) removed.

    Parameters
    ----------
    frames : (N, H, W) or (H, W) array
        Full frames (or a region read around the ROI, in the same coordinates the transform
        was estimated in).
    transform : skimage.transform.SimilarityTransform or None
        Maps frame (moving) coordinates onto template coordinates, as returned by
        :func:`estimate_similarity_transform`; None is the identity.
    roi : (x, y, w, h), optional
        The crop in template coordinates; default the whole ``output_shape``.
    shifts : (N, 2) array, optional
        Per-frame displacements ``(dy, dx)`` from :func:`estimate_shifts`.
    output_shape : (H, W), optional
        Template frame size, used only to check ``roi``; default the frames' size.
    order : {0, 1, 3}
        Interpolation order; 1 (bilinear) is vectorised over the batch. Integer translations
        are exact copies.
    mode : {'edge', 'constant'}
        What pixels from outside the frame take: the nearest edge pixel, or ``cval``.

    Returns
    -------
    (N, h, w) array of the frames' dtype (integers rounded and clipped)

    Examples
    --------
    >>> from skimage.transform import SimilarityTransform
    >>> frames = np.arange(2 * 6 * 8, dtype=np.uint8).reshape(2, 6, 8)
    >>> t = SimilarityTransform(translation=(-1, -2))  # content sits 1 px right, 2 px down
    >>> bool((warp_frames(frames, t, (0, 0, 4, 3)) == frames[:, 2:5, 1:5]).all())
    True
    """
    batch, single = _as_batch(frames)
    n, h_in, w_in = batch.shape
    if mode not in ("edge", "constant"):
        raise ValueError(f"mode must be 'edge' or 'constant'; got {mode!r}")
    if order not in (0, 1, 3):
        raise ValueError(f"order must be 0, 1 or 3; got {order!r}")
    shape = tuple(output_shape) if output_shape is not None else (h_in, w_in)
    x0, y0, w, h = _check_roi(roi, shape)
    s = None
    if shifts is not None:
        s = np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
        if len(s) != n:
            raise ValueError(f"got {len(s)} shifts for {n} frames")
    if order == 1:
        # one compiled pass: output pixel -> source coordinates -> bilinear sample
        inv = (np.eye(3) if transform is None
               else np.linalg.inv(np.asarray(transform.params, dtype=np.float64)))
        src = batch.view(np.uint8) if batch.dtype == np.bool_ else batch
        integer = np.issubdtype(batch.dtype, np.integer)
        if not integer and src.dtype != np.float64:
            # the kernels sample in float64 (a float32 pixel enters exactly): float64 pixels
            # give the same values, and one compiled variant of each kernel serves all floats
            src = src.astype(np.float64)
        # integers are rounded and clipped in the kernel; other types go through float64
        values = np.empty((n, h, w), dtype=batch.dtype if integer else np.float64)
        lo, hi = ((float(np.iinfo(batch.dtype).min), float(np.iinfo(batch.dtype).max))
                  if integer else (0.0, 0.0))
        shifts_ = np.zeros((n, 2)) if s is None else s
        if np.array_equal(inv[:2, :2], np.eye(2)) and mode == "edge":
            # a translation: one fractional offset per frame, coordinates per row and column
            src, tx, ty = np.ascontiguousarray(src), float(inv[0, 2]), float(inv[1, 2])
            over_frames(lambda run: _bilinear_translate(
                src[run], tx, ty, shifts_[run], x0, y0, integer, lo, hi, values[run]), n)
        else:
            src, m = np.ascontiguousarray(src), np.ascontiguousarray(inv[:2])
            constant = mode == "constant"
            over_frames(lambda run: _bilinear_affine(
                src[run], m, shifts_[run], x0, y0, constant, float(cval), integer, lo, hi,
                values[run]), n)
        out = values if integer else _out_dtype(values, batch.dtype)
        return out[0] if single else out
    yy, xx = np.mgrid[y0:y0 + h, x0:x0 + w].astype(np.float64)
    if transform is not None:
        src = transform.inverse(np.column_stack([xx.ravel(), yy.ravel()]))
        xx, yy = src[:, 0].reshape(h, w), src[:, 1].reshape(h, w)
    if s is not None:
        yy = yy[None] + s[:, 0, None, None]
        xx = xx[None] + s[:, 1, None, None]
    else:
        yy, xx = yy[None], xx[None]
    yy = np.broadcast_to(yy, (n, h, w))
    xx = np.broadcast_to(xx, (n, h, w))
    values = np.empty((n, h, w), dtype=np.float64)
    nd_mode = "nearest" if mode == "edge" else "constant"
    for i in range(n):
        values[i] = ndimage.map_coordinates(batch[i].astype(np.float64),
                                            [yy[i], xx[i]], order=order, mode=nd_mode,
                                            cval=cval)
    out = _out_dtype(values, batch.dtype)
    return out[0] if single else out


def block_means(frames: np.ndarray, b: int, out: np.ndarray, y0: int = 0, x0: int = 0,
                select: np.ndarray | None = None) -> np.ndarray:
    """Means of ``b`` x ``b`` pixel blocks of frames, float32, into ``out`` (n, h, w).

    The blocks tile ``frames[select][:, y0:y0 + h * b, x0:x0 + w * b]`` (``select``: the frames
    to use, default all), read in place: a crop of a larger frame and a subset of a batch cost
    no copy. For uint8 frames a block's sum is an integer below 2 ** 24 whatever the order
    of its terms, exact in float32 as in integers, so both kernels give the same bits (blocks
    of up to 16 x 16 uint8 pixels go to the integer kernel, whose sums fit 16 bits).
    """
    n, h, w = out.shape
    a = np.asarray(frames)
    idx = (np.arange(len(a), dtype=np.int64) if select is None
           else np.asarray(select, np.int64))
    if len(idx) != n:
        raise ValueError(f"{len(idx)} frames for {n} outputs")
    if a.dtype == np.uint8 and b * b * 255 < 1 << 16:
        a = np.ascontiguousarray(a)
        over_frames(lambda run: _block_means_u8(a, idx[run], y0, x0, b, out[run]), n)
    else:
        crop = np.ascontiguousarray(
            a[idx if select is not None else slice(None), y0:y0 + h * b, x0:x0 + w * b])
        over_frames(lambda run: _block_means(crop[run], b, out[run]), n)
    return out


@numba.njit(cache=True, nogil=True)
def _block_means(batch, b, out):  # pragma: no cover - numba
    """Means of ``b`` x ``b`` pixel blocks of every frame, into ``out`` (n, H // b, W // b)."""
    n, h, w = out.shape
    scale = np.float32(1.0 / (b * b))
    for i in range(n):
        for r in range(h):
            for c in range(w):
                acc = np.float32(0.0)
                for u in range(b):
                    for v in range(b):
                        acc += np.float32(batch[i, r * b + u, c * b + v])
                out[i, r, c] = acc * scale


@numba.njit(cache=True, nogil=True)
def _block_means_u8(batch, idx, y0, x0, b, out):  # pragma: no cover - numba
    """:func:`_block_means` of uint8 frames ``batch[idx]`` from ``(y0, x0)``, blocks of at
    most 16 x 16 pixels: a block's rows summed as uint16 over whole rows (vectorised), then
    its columns (with a constant stride for the usual 2-5 px blocks, which vectorises too);
    the same bits."""
    n, h, w = out.shape
    scale = np.float32(1.0 / (b * b))
    wb = w * b
    for k in range(n):
        i = idx[k]
        acc = np.empty(wb, np.uint16)
        for r in range(h):
            src = batch[i, y0 + r * b, x0:x0 + wb]
            for c in range(wb):
                acc[c] = src[c]
            for u in range(1, b):
                src = batch[i, y0 + r * b + u, x0:x0 + wb]
                for c in range(wb):
                    acc[c] += src[c]
            o = out[k, r]
            if b == 2:
                for c in range(w):
                    o[c] = np.float32(acc[2 * c] + acc[2 * c + 1]) * scale
            elif b == 3:
                for c in range(w):
                    o[c] = np.float32(acc[3 * c] + acc[3 * c + 1] + acc[3 * c + 2]) * scale
            elif b == 4:
                for c in range(w):
                    o[c] = np.float32(acc[4 * c] + acc[4 * c + 1] + acc[4 * c + 2]
                                      + acc[4 * c + 3]) * scale
            elif b == 5:
                for c in range(w):
                    o[c] = np.float32(acc[5 * c] + acc[5 * c + 1] + acc[5 * c + 2]
                                      + acc[5 * c + 3] + acc[5 * c + 4]) * scale
            else:
                for c in range(w):
                    s = 0
                    for v in range(b):
                        s += acc[c * b + v]
                    o[c] = np.float32(s) * scale


@numba.njit(cache=True, nogil=True)
def _axis_weights(start, offset, size, n_in):  # pragma: no cover - numba
    """Clamped source indices (a, b) and weights of b along one axis, as _bilinear_affine."""
    a = np.empty(size, np.int64)
    b = np.empty(size, np.int64)
    f = np.empty(size, np.float64)
    top = max(n_in - 2, 0)
    for k in range(size):
        v = start + k + offset
        rv = np.rint(v)
        if abs(v - rv) < 1e-9:
            v = rv
        v = min(max(v, 0.0), n_in - 1.0)
        a[k] = min(int(v), top)
        f[k] = v - a[k]
        b[k] = min(a[k] + 1, n_in - 1)
    return a, b, f


@numba.njit(cache=True, nogil=True)
def _bilinear_translate(batch, tx, ty, shifts, x0, y0, integer, lo, hi,
                        out):  # pragma: no cover - numba
    """:func:`_bilinear_affine` for a translation (edge mode): the same values, separably.

    A translation gives every column the same fractional weight except where the edge clamps
    it, so the columns between the clamped ones read contiguous pixels with one weight: that
    loop vectorises. The values are the affine kernel's up to the last bit of that weight (a
    sample exactly halfway between two gray levels may round the other way). A source row's
    horizontal interpolation depends on the row alone, so each one is computed once per frame
    and serves as the top of one output row and the bottom of the one above it.
    """
    n, hi_, wi = batch.shape
    h, w = out.shape[1], out.shape[2]
    for i in range(n):
        ya, yb, fy = _axis_weights(y0, ty + shifts[i, 0], h, hi_)
        xa, xb, fx = _axis_weights(x0, tx + shifts[i, 1], w, wi)
        # interior columns: unclamped, xa advancing by one; their fractional weights are one
        # number (fx differs between them only in its last bits)
        lo_c = 0
        while lo_c < w and not (xb[lo_c] == xa[lo_c] + 1 and 0 < xa[lo_c] < wi - 2):
            lo_c += 1
        hi_c = lo_c
        while (hi_c < w and xb[hi_c] == xa[hi_c] + 1 and 0 < xa[hi_c] < wi - 2
               and xa[hi_c] == xa[lo_c] + hi_c - lo_c):
            hi_c += 1
        off = xa[lo_c] - lo_c if hi_c > lo_c else 0
        g = fx[lo_c] if hi_c > lo_c else 0.0
        rows = np.empty((2, w), np.float64)  # two interpolated source rows and which they are
        held0 = -1
        held1 = -1
        for r in range(h):
            a_row, b_row, wy = ya[r], yb[r], fy[r]
            if a_row == held0:
                ka = 0
            elif a_row == held1:
                ka = 1
            else:
                ka = 0 if held1 == b_row else 1
                _row_weights(batch[i, a_row], rows[ka], xa, xb, fx, lo_c, hi_c, off, g)
                if ka == 0:
                    held0 = a_row
                else:
                    held1 = a_row
            if b_row == held0:
                kb = 0
            elif b_row == held1:
                kb = 1
            else:
                kb = 1 - ka
                _row_weights(batch[i, b_row], rows[kb], xa, xb, fx, lo_c, hi_c, off, g)
                if kb == 0:
                    held0 = b_row
                else:
                    held1 = b_row
            top = rows[ka]
            bottom = rows[kb]
            w1 = 1.0 - wy
            dst = out[i, r]
            if integer:  # a convex combination: clipping changes nothing but the clamped edge
                for c in range(w):
                    dst[c] = min(max(np.rint(top[c] * w1 + bottom[c] * wy), lo), hi)
            else:
                for c in range(w):
                    dst[c] = top[c] * w1 + bottom[c] * wy


@numba.njit(cache=True, nogil=True)
def _row_weights(src, out, xa, xb, fx, lo_c, hi_c, off, g):  # pragma: no cover - numba
    """One source row interpolated along x: the edge-clamped columns each with its own
    sources and weight, columns ``lo_c:hi_c`` at ``c + off`` and ``c + off + 1`` with ``g``."""
    for c in range(lo_c):
        out[c] = src[xa[c]] * (1.0 - fx[c]) + src[xb[c]] * fx[c]
    f1 = 1.0 - g
    # views indexed from 0 by the loop counter: no negative-index check, so the loop vectorises
    a = src[lo_c + off:hi_c + off + 1]
    t = out[lo_c:hi_c]
    for k in range(hi_c - lo_c):
        t[k] = np.float64(a[k]) * f1 + np.float64(a[k + 1]) * g
    for c in range(hi_c, out.shape[0]):
        out[c] = src[xa[c]] * (1.0 - fx[c]) + src[xb[c]] * fx[c]


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _bilinear_affine(batch, inv, shifts, x0, y0, constant, cval, integer, lo, hi,
                     out):  # pragma: no cover
    """Bilinear samples of ``batch`` at ``inv @ (x, y, 1) + (dx_i, dy_i)`` for every output
    pixel ``(x0 + c, y0 + r)``; coordinates within 1e-9 of an integer snap to it (whole-pixel
    moves are exact copies); outside the frame: the nearest edge, or ``cval``. With
    ``integer`` the values are rounded and clipped to ``[lo, hi]``."""
    n, hi_, wi = batch.shape
    h, w = out.shape[1], out.shape[2]
    ymax, xmax = max(hi_ - 2, 0), max(wi - 2, 0)
    for i in range(n):
        dy, dx = shifts[i, 0], shifts[i, 1]
        for r in range(h):
            yo = y0 + r
            for c in range(w):
                xo = x0 + c
                xs = inv[0, 0] * xo + inv[0, 1] * yo + inv[0, 2] + dx
                ys = inv[1, 0] * xo + inv[1, 1] * yo + inv[1, 2] + dy
                rx, ry = np.rint(xs), np.rint(ys)
                if abs(xs - rx) < 1e-9:
                    xs = rx
                if abs(ys - ry) < 1e-9:
                    ys = ry
                if constant and (ys < 0 or ys > hi_ - 1 or xs < 0 or xs > wi - 1):
                    v = cval
                else:
                    yc = min(max(ys, 0.0), hi_ - 1.0)
                    xc = min(max(xs, 0.0), wi - 1.0)
                    ya = min(int(yc), ymax)
                    xa = min(int(xc), xmax)
                    fy, fx = yc - ya, xc - xa
                    yb, xb = min(ya + 1, hi_ - 1), min(xa + 1, wi - 1)
                    top = batch[i, ya, xa] * (1.0 - fx) + batch[i, ya, xb] * fx
                    bottom = batch[i, yb, xa] * (1.0 - fx) + batch[i, yb, xb] * fx
                    v = top * (1.0 - fy) + bottom * fy
                if integer:
                    v = min(max(np.rint(v), lo), hi)
                out[i, r, c] = v


def _crop(img: np.ndarray, roi: _Roi) -> np.ndarray:
    x, y, w, h = roi
    return img[y:y + h, x:x + w]
