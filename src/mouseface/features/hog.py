"""Histogram of oriented gradients, batched and compiled, equal to ``skimage.feature.hog``.

Public API (re-exported as ``mouseface.hog``)::

    hog(image, orientations=8, pixels_per_cell=(32, 32), cells_per_block=(1, 1),
        block_norm="L2-Hys", *, transform_sqrt=True, feature_vector=True) -> ndarray
      image (H, W) -> (D,) ; batch (N, H, W) -> (N, D); always float32.
      feature_vector=False -> (n_blocks_row, n_blocks_col, b_row, b_col, orientations) per image
      (batch: leading N). Same element order and values as skimage (max abs diff <= 1e-5).
    hog_shape(image_shape, orientations=8, pixels_per_cell=(32, 32), cells_per_block=(1, 1))
      -> the unflattened per-image shape (a 5-tuple).
    n_features(image_shape, ...) -> D, the length of one flattened vector.

How parity with scikit-image is kept (scikit-image 0.26, ``feature/_hoghistogram.pyx``):

- The image is cast to the working float dtype (float32 stays float32, float16 becomes float32,
  everything else float64), square-rooted in that dtype, and differenced in that dtype with
  zero gradients on the outermost rows and columns; the gradients are then cast to float64.
- A pixel votes its whole magnitude (no interpolation) into bin ``i`` when its orientation
  ``o = rad2deg(arctan2(g_row, g_col)) % 180`` satisfies ``edge[i] <= o < edge[i + 1]`` with
  ``edge[k] = (180.0 / orientations) * k`` in float64. A value that rounds to 180.0 votes nowhere.
- Cell ``(i, j)`` covers rows ``[i * c_row, (i + 1) * c_row)`` and columns likewise (the
  ``-(c // 2) .. (c + 1) // 2`` range around the centre ``c // 2`` of the Cython code); rows and
  columns beyond the last whole cell are ignored. Each bin is summed in a float32 accumulator in
  row-major pixel order and then divided, in float32, by the cell area.
- Blocks are normalised in float64 with ``eps = 1e-5``.

The kernel never calls ``arctan2``. A float32 polynomial arctan (error < 4e-7 rad) gives each
pixel's bin; pixels within 1e-5 rad of an edge are re-binned exactly in float64 from the signs
of cross products with the edges. Exact axis and diagonal gradients (very common in integer
images) get the bins of the orientations NumPy gives them (0, 90, 45 or 135 degrees). The rare
pixels within 1e-10 rad of an edge, and non-finite magnitudes, are binned afterwards with
NumPy's ``arctan2`` exactly as scikit-image bins them (their votes join the float32 sums last,
not in pixel order: a difference of a float32 rounding at most). A frame with more than
``_MAX_AMBIGUOUS`` of them is recomputed with NumPy orientations.

Integer inputs other than uint8 are converted to float64 first (as scikit-image does), so the
kernel is compiled for three input types only: uint8 (through a 256-entry table), float32 and
float64.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numba
import numpy as np

__all__ = ["MIN_CELLS", "hog", "hog_shape", "n_features"]

#: Fewer HOG cells than this over the face crop is too coarse a description of a face: the
#: paper's 32-px cells give 35-80 cells on a mouse face filmed at its resolution; a crop of
#: 2x2 cells (the der tutorial run without its config) loses most of what tells expressions
#: apart. `run`, `fit` and `score` warn below it (docs/your-data.md).
MIN_CELLS = 16

_BLOCK_NORMS = ("L1", "L1-sqrt", "L2", "L2-Hys")
_EPS = 1e-5
# Angles closer than this (radians) to a bin edge are binned with NumPy's arctan2 instead.
_AMBIGUITY = 1e-10
# The float32 polynomial arctan is within 4e-7 rad; angles closer than this (radians) to an
# edge are re-binned exactly in float64.
_MARGIN = 1e-5
# atan(q) ~ q * P(q**2) on [0, 1] (weighted least-squares fit, max error 3.3e-7 in float32).
_ATAN_COEF = np.array([0.99999611, -0.33317368, 0.19807816, -0.13233342, 0.07962366,
                       -0.03360421, 0.00681179], dtype=np.float32)
# Per-frame capacity for pixels left to NumPy (within _AMBIGUITY of an edge, or a non-finite
# magnitude); a frame with more is recomputed with NumPy orientations.
_MAX_AMBIGUOUS = 4096


def _pair(value, name: str) -> tuple[int, int]:
    """Validate a positive int or a pair of positive ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        pair = tuple(operator.index(v) for v in value)
    except TypeError:
        pair = ()
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{name} must be a pair of positive integers, e.g. (32, 32); "
                         f"got {value!r}")
    return pair


def _check_params(orientations, pixels_per_cell, cells_per_block):
    try:
        n_orient = operator.index(orientations)
    except TypeError:
        n_orient = 0
    if isinstance(orientations, bool) or n_orient < 1:
        raise ValueError(f"orientations must be a positive integer (the paper uses 8); "
                         f"got {orientations!r}")
    return (n_orient, _pair(pixels_per_cell, "pixels_per_cell"),
            _pair(cells_per_block, "cells_per_block"))


def _grid(image_shape, pixels_per_cell, cells_per_block):
    """Cells and blocks that fit in one (H, W) frame; raises if not even one block fits."""
    s_row, s_col = (int(s) for s in image_shape)
    (c_row, c_col), (b_row, b_col) = pixels_per_cell, cells_per_block
    n_cells_row, n_cells_col = s_row // c_row, s_col // c_col
    n_blocks_row, n_blocks_col = n_cells_row - b_row + 1, n_cells_col - b_col + 1
    if n_blocks_row <= 0 or n_blocks_col <= 0:
        raise ValueError(
            f"image of {s_row}x{s_col} pixels is too small for pixels_per_cell="
            f"{pixels_per_cell} and cells_per_block={cells_per_block}: it needs at least "
            f"{b_row * c_row} rows and {b_col * c_col} columns; use a larger crop or smaller cells")
    return n_cells_row, n_cells_col, n_blocks_row, n_blocks_col


def hog_shape(
    image_shape: Sequence[int],
    orientations: int = 8,
    pixels_per_cell: tuple[int, int] = (32, 32),
    cells_per_block: tuple[int, int] = (1, 1),
) -> tuple[int, int, int, int, int]:
    """Unflattened HOG shape of one frame.

    Parameters
    ----------
    image_shape
        ``(H, W)`` of a frame, or ``(N, H, W)`` of a batch (the leading axis is ignored).
    orientations, pixels_per_cell, cells_per_block
        As in :func:`hog`.

    Returns
    -------
    tuple of int
        ``(n_blocks_row, n_blocks_col, b_row, b_col, orientations)``, the shape
        ``hog(..., feature_vector=False)`` gives per frame.

    Raises
    ------
    ValueError
        If ``image_shape`` has the wrong length, a parameter is invalid, or the frame is smaller
        than one block.

    Examples
    --------
    >>> hog_shape((330 - 150, 770 - 540))
    (5, 7, 1, 1, 8)
    """
    image_shape = tuple(image_shape)
    if len(image_shape) not in (2, 3):
        raise ValueError(f"image_shape must be (H, W) or (N, H, W); got {image_shape!r}")
    n_orient, ppc, cpb = _check_params(orientations, pixels_per_cell, cells_per_block)
    _, _, n_blocks_row, n_blocks_col = _grid(image_shape[-2:], ppc, cpb)
    return (n_blocks_row, n_blocks_col, cpb[0], cpb[1], n_orient)


def n_features(
    image_shape: Sequence[int],
    orientations: int = 8,
    pixels_per_cell: tuple[int, int] = (32, 32),
    cells_per_block: tuple[int, int] = (1, 1),
) -> int:
    """Length of one flattened HOG vector (the product of :func:`hog_shape`).

    Examples
    --------
    >>> n_features((64, 96))
    48
    """
    return math.prod(hog_shape(image_shape, orientations, pixels_per_cell, cells_per_block))


def hog(
    image: np.ndarray,
    orientations: int = 8,
    pixels_per_cell: tuple[int, int] = (32, 32),
    cells_per_block: tuple[int, int] = (1, 1),
    block_norm: str = "L2-Hys",
    *,
    transform_sqrt: bool = True,
    feature_vector: bool = True,
) -> np.ndarray:
    """Histogram of oriented gradients of a grayscale frame or a batch of frames.

    The values and element order are those of ``skimage.feature.hog`` with the same
    arguments and ``channel_axis=None`` (max abs difference <= 1e-5), computed by a compiled
    kernel that runs frames in parallel on Numba's threads.

    Parameters
    ----------
    image : (H, W) or (N, H, W) array_like
        Grayscale frame, or a batch of frames of one size. Integer, boolean or float; it is
        used as is (uint8 is *not* rescaled to [0, 1], as in scikit-image).
    orientations
        Number of orientation bins over 0-180 degrees.
    pixels_per_cell
        Cell size ``(rows, cols)`` in pixels. An int means a square cell. Rows and columns
        beyond the last whole cell are ignored.
    cells_per_block
        Block size ``(rows, cols)`` in cells; blocks slide by one cell.
    block_norm : {'L1', 'L1-sqrt', 'L2', 'L2-Hys'}
        Block normalisation, as in scikit-image; default 'L2-Hys' (L2, clip at 0.2, L2 again).
    transform_sqrt
        Take the square root of the image first (power-law compression). Negative pixels give
        NaN, as in scikit-image.
    feature_vector
        Flatten each frame's descriptor to one vector.

    Returns
    -------
    ndarray of float32
        ``(D,)`` for a frame and ``(N, D)`` for a batch when ``feature_vector`` is true, where
        ``D = n_features(image.shape, ...)``; otherwise ``(n_blocks_row, n_blocks_col, b_row,
        b_col, orientations)`` per frame, with a leading ``N`` for a batch.

    Raises
    ------
    ValueError
        If the image is not 2-D or 3-D or not real-valued, is smaller than one block, or a
        parameter is invalid (``block_norm`` outside the allowed set, non-positive sizes).

    See Also
    --------
    hog_shape, n_features, skimage.feature.hog

    Notes
    -----
    Dolensek et al. [2]_ used 8 orientations, 32x32-pixel cells, 1x1-cell blocks and
    ``transform_sqrt=True``; those are the defaults here (scikit-image's own defaults
    differ). Their text names L2-Hys normalisation, but scikit-image's default was 'L1' before
    version 0.15 and the exact choice cannot be checked, so ``block_norm`` stays a parameter.
    With 1x1 blocks and 8 bins, L2-Hys clips many cells at 0.2.

    As in scikit-image and unlike Dalal & Triggs [1]_, each pixel votes its full gradient
    magnitude into one orientation bin (no interpolation between bins or cells), there is no
    Gaussian window in blocks, and the one-pixel border of the frame has zero gradient.

    References
    ----------
    .. [1] Dalal, N. and Triggs, B., "Histograms of Oriented Gradients for Human Detection",
           IEEE CVPR 2005, pp. 886-893, :DOI:`10.1109/CVPR.2005.177`
    .. [2] Dolensek, N., Gehrlach, D. A., Klein, A. S. and Gogolla, N., "Facial expressions of
           emotion states and their neuronal correlates in mice", Science 368 (2020) 89-94,
           :DOI:`10.1126/science.aaz9468`

    Examples
    --------
    >>> import numpy as np
    >>> from mouseface import hog
    >>> frame = np.zeros((64, 96), dtype=np.uint8)
    >>> frame[:, 40:] = 200  # one vertical edge
    >>> hog(frame).shape  # 2 x 3 cells x 8 orientations
    (48,)
    >>> hog(np.stack([frame, frame]), feature_vector=False).shape
    (2, 2, 3, 1, 1, 8)
    >>> int(hog(frame, feature_vector=False)[0, 1, 0, 0].argmax())  # horizontal gradient
    0
    """
    images = np.asarray(image)
    if images.ndim not in (2, 3):
        raise ValueError(
            f"image must be a grayscale frame (H, W) or a batch of frames (N, H, W); got "
            f"shape {images.shape}. Convert colour frames to gray first, e.g. "
            f"skimage.color.rgb2gray or av's frame.to_ndarray(format='gray').")
    if images.dtype.kind not in "biuf":
        raise ValueError(f"image must hold real numbers (bool, int or float); got dtype "
                         f"{images.dtype}")
    n_orient, ppc, cpb = _check_params(orientations, pixels_per_cell, cells_per_block)
    if block_norm not in _BLOCK_NORMS:
        raise ValueError(f"block_norm must be one of {set(_BLOCK_NORMS)}; got {block_norm!r}")
    n_cells_row, n_cells_col, n_blocks_row, n_blocks_col = _grid(images.shape[-2:], ppc, cpb)

    single = images.ndim == 2
    batch = images[np.newaxis] if single else images
    batch, work_dtype = _prepare(batch)
    edges = (180.0 / n_orient) * np.arange(n_orient + 1, dtype=np.float64)
    sums = _orientation_sums(batch, work_dtype, ppc, (n_cells_row, n_cells_col), edges,
                             bool(transform_sqrt))
    histograms = sums / np.float32(ppc[0] * ppc[1])
    out = _normalize_blocks(histograms, cpb[0], cpb[1], _BLOCK_NORMS.index(block_norm))
    if feature_vector:
        out = out.reshape(len(out), math.prod(out.shape[1:]))
    return out[0] if single else out


def _prepare(batch: np.ndarray) -> tuple[np.ndarray, np.dtype]:
    """Native-endian, C-contiguous batch in a dtype Numba takes; the working float dtype."""
    if batch.dtype == np.float16:
        batch = batch.astype(np.float32)
    elif batch.dtype == np.bool_:
        batch = batch.view(np.uint8)
    elif batch.dtype.kind in "iu" and batch.dtype != np.uint8:
        batch = batch.astype(np.float64)
    work_dtype = np.dtype(np.float32 if batch.dtype == np.float32 else np.float64)
    batch = np.ascontiguousarray(batch, dtype=batch.dtype.newbyteorder("="))
    return batch, work_dtype


def _orientation_sums(batch, work_dtype, ppc, n_cells, edges, transform_sqrt):
    """Float32 per-cell orientation sums (before division by the cell area), skimage's way."""
    radians = np.deg2rad(edges)
    cos_e, sin_e = np.cos(radians), np.sin(radians)
    # Bins of the orientations that exact axis and diagonal gradients get from NumPy.
    special = np.array([_bin_of(o, edges) for o in (0.0, 90.0, 45.0, 135.0)], dtype=np.int32)
    assert special.min() >= 0  # edge n is 180 to within rounding, so these always vote
    s_row, s_col = batch.shape[1:]
    rows = min(s_row, n_cells[0] * ppc[0] + 1)
    cols = min(s_col, n_cells[1] * ppc[1] + 1)
    proto = np.empty(0, dtype=work_dtype)  # carries the working dtype into the kernel
    if batch.dtype == np.uint8:  # a table is faster than converting (and rooting) each pixel
        lut = np.arange(256, dtype=work_dtype)
        if transform_sqrt:
            lut = np.sqrt(lut)
    else:
        lut = np.empty(0, dtype=work_dtype)
    cap = max(0, int(_MAX_AMBIGUOUS))
    margin = _MARGIN * (len(edges) - 1) / np.pi  # radians -> bin units
    sums, pending, n_pending = _cell_sums(
        batch, proto, rows, cols, lut, ppc[0], ppc[1], n_cells[0], n_cells[1], transform_sqrt,
        cos_e, sin_e, special, _ATAN_COEF, _AMBIGUITY, margin, cap)
    if not n_pending.any():
        return sums
    overflow = np.flatnonzero(n_pending > cap)
    for f in overflow:
        sums[f] = _exact_frame_sums(batch[f], work_dtype, ppc, n_cells, edges, transform_sqrt)
    resolve = np.flatnonzero((n_pending > 0) & (n_pending <= cap))
    if resolve.size:
        frame = np.repeat(resolve, n_pending[resolve])
        slot = np.concatenate([np.arange(n_pending[f]) for f in resolve])
        cell_r, cell_c, g_row, g_col = pending[frame, slot].T
        votes = _vote_with_numpy(g_row, g_col, edges)
        acc = sums.astype(np.float64)
        for k in range(len(edges) - 1):
            hit = votes[k]
            np.add.at(acc, (frame[hit], cell_r[hit].astype(np.intp), cell_c[hit].astype(np.intp),
                            k), np.hypot(g_col[hit], g_row[hit]))
        with np.errstate(over="ignore"):  # as skimage's float32 accumulator overflows
            sums[resolve] = acc[resolve].astype(np.float32)
    return sums


def _bin_of(orientation: float, edges: np.ndarray) -> int:
    """skimage's bin for one orientation (degrees in [0, 180)); -1 where it votes nowhere."""
    inside = ~((orientation >= edges[1:]) | (orientation < edges[:-1]))
    hits = np.flatnonzero(inside)
    return int(hits[0]) if hits.size else -1


def _vote_with_numpy(g_row, g_col, edges):
    """(orientations, n) membership of each pixel in each bin, exactly as skimage decides it.

    NaN orientations fall in every bin (skimage's test ``o >= start or o < end`` is false for
    them), as in scikit-image.
    """
    with np.errstate(invalid="ignore"):
        orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
        return ~((orientation >= edges[1:, None]) | (orientation < edges[:-1, None]))


def _exact_frame_sums(frame, work_dtype, ppc, n_cells, edges, transform_sqrt):
    """One frame's sums from NumPy gradients and orientations (skimage's own arithmetic)."""
    work = frame.astype(work_dtype)
    if transform_sqrt:
        with np.errstate(invalid="ignore"):
            work = np.sqrt(work)
    g_row = np.zeros(work.shape, dtype=work_dtype)
    g_col = np.zeros(work.shape, dtype=work_dtype)
    g_row[1:-1, :] = work[2:, :] - work[:-2, :]
    g_col[:, 1:-1] = work[:, 2:] - work[:, :-2]
    g_row = g_row.astype(np.float64)
    g_col = g_col.astype(np.float64)
    magnitude = np.hypot(g_col, g_row)
    with np.errstate(invalid="ignore"):
        orientation = np.rad2deg(np.arctan2(g_row, g_col)) % 180
    return _ordered_sums(magnitude, orientation, edges, ppc[0], ppc[1], n_cells[0], n_cells[1])


@numba.njit(cache=True)
def _ordered_sums(magnitude, orientation, edges, c_row, c_col, n_cells_row, n_cells_col):
    """skimage's cell loop: float32 sums of the magnitudes of each bin, in pixel order."""
    n_orient = edges.size - 1
    sums = np.zeros((n_cells_row, n_cells_col, n_orient), dtype=np.float32)
    for i in range(n_cells_row):
        for j in range(n_cells_col):
            for r in range(i * c_row, (i + 1) * c_row):
                for c in range(j * c_col, (j + 1) * c_col):
                    o = orientation[r, c]
                    m = magnitude[r, c]
                    for k in range(n_orient):
                        if not (o >= edges[k + 1] or o < edges[k]):
                            sums[i, j, k] = np.float32(np.float64(sums[i, j, k]) + m)
    return sums


@numba.njit(cache=True)
def _exact_bin(g_row, g_col, cos_e, sin_e, ambiguity):
    """Bin from the signs of cross products with the edges, in float64; -2 if too close."""
    n_orient = cos_e.size - 1
    if g_row < 0.0:
        u, v = -g_col, -g_row
    else:
        u, v = g_col, g_row
    tol = ambiguity * (abs(u) + v)
    # Edge 0 and edge n: an angle this close to 0 or 180 degrees may round to 180 (no vote).
    if v <= tol or abs(v * cos_e[n_orient] - u * sin_e[n_orient]) <= tol:
        return -2
    b = 0
    for k in range(1, n_orient):
        s = v * cos_e[k] - u * sin_e[k]  # |g| sin(angle - edge k)
        if abs(s) <= tol:
            return -2
        if s > 0.0:
            b += 1
    return b


@numba.njit(cache=True)
def _working_row(frame, r, n, ring, slot, lut, use_lut, transform_sqrt):
    """The first ``n`` pixels of row ``r`` of the frame into ``ring[slot]`` in the working float
    dtype, square-rooted if asked (skimage's order). Indexes 2-D arrays directly: a row view
    per call would cost two atomic reference-count updates."""
    if use_lut:
        for c in range(n):
            ring[slot, c] = lut[np.intp(frame[r, c])]
    else:
        for c in range(n):
            ring[slot, c] = frame[r, c]
        if transform_sqrt:
            for c in range(n):
                ring[slot, c] = np.sqrt(ring[slot, c])


@numba.njit(cache=True, error_model="numpy", inline="always")
def _classify(gr, gc, cell_base, k, bins, top):
    """Magnitude and vote index (``cell_base + bin``; -1: re-bin exactly; -2: NumPy) of a pixel.

    Branch-free so that the loop calling it vectorises (all constants are scalars: an array
    read in the loop could alias the outputs). ``k`` holds the float32 arctan coefficients,
    the bin scale and the margin; ``bins`` the bins of the orientations NumPy gives exact
    axis and diagonal gradients (0, 90, 45, 135 degrees), which override the polynomial's.
    """
    k0, k1, k2, k3, k4, k5, k6, scale, margin = k
    bin_0, bin_90, bin_45, bin_135 = bins
    mag = np.sqrt(gr * gr + gc * gc)
    ax = np.float32(abs(gc))
    ay = np.float32(abs(gr))
    steep = ay > ax
    q = (ax if steep else ay) / (ay if steep else ax)
    z = q * q
    a = q * (k0 + z * (k1 + z * (k2 + z * (k3 + z * (k4 + z * (k5 + z * k6))))))
    a = np.float32(np.pi / 2) - a if steep else a
    a = np.float32(np.pi) - a if (gr < 0.0) != (gc < 0.0) else a  # fold onto [0, pi)
    t = a * scale  # in bin units: the bin is floor(t); edges at integers
    b = min(max(np.int32(t), np.int32(0)), top)
    near = not (abs(t - np.rint(t)) >= margin)  # NaN (0/0 after underflow) is near too
    if gr == 0.0:
        b = bin_0
        near = False
    elif gc == 0.0:
        b = bin_90
        near = False
    elif abs(gr) == abs(gc):
        b = bin_45 if (gr > 0.0) == (gc > 0.0) else bin_135
        near = False
    code = cell_base + b
    code = np.int32(-1) if near else code
    # Non-finite gradients, or so large that the magnitude overflows: NumPy decides.
    code = code if mag < np.inf else np.int32(-2)
    return mag, code


@numba.njit(parallel=True, cache=True)
def _cell_sums(batch, proto, rows, cols, lut, c_row, c_col, n_cells_row, n_cells_col,
               transform_sqrt, cos_e, sin_e, special, atan_coef, ambiguity, margin, cap):
    """Per-cell float32 orientation sums of each frame (before division by the cell area).

    ``proto`` is an empty array of the working float dtype; ``rows`` and ``cols`` are the
    pixels read (the cells, plus one row and column for the gradient). Frames run in parallel
    on Numba's threads (see :func:`_frame_sums`). Returns the sums, the pixels left for NumPy
    to bin (cell row, cell column, g_row, g_col) and how many each frame has (more than
    ``cap``: recompute that frame).
    """
    n_frames = batch.shape[0]
    n_orient = cos_e.size - 1
    sums = np.zeros((n_frames, n_cells_row, n_cells_col, n_orient), dtype=np.float32)
    pending = np.empty((n_frames, cap, 4), dtype=np.float64)
    n_pending = np.zeros(n_frames, dtype=np.int64)
    # Polynomial coefficients, then the bin scale and the margin, in float32.
    c = atan_coef
    consts = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], np.float32(n_orient / np.pi),
              np.float32(margin))
    bins = (np.int32(special[0]), np.int32(special[1]), np.int32(special[2]),
            np.int32(special[3]))
    for f in numba.prange(n_frames):
        n_pending[f] = _frame_sums(batch[f], proto, rows, cols, lut, c_row, c_col,
                                   transform_sqrt, cos_e, sin_e, bins, consts, ambiguity,
                                   sums[f], pending[f])
    return sums, pending, n_pending


@numba.njit(cache=True, error_model="numpy")
def _frame_sums(frame, proto, rows, cols, lut, c_row, c_col, transform_sqrt, cos_e, sin_e,
                bins, consts, ambiguity, sums, pending):
    """One frame's float32 orientation sums, without arctan2; returns the pending count.

    Row by row, a vectorised loop finds each pixel's gradient, magnitude and bin
    (:func:`_classify`); pixels whose angle is within a margin of an edge are re-binned
    exactly in float64 (:func:`_exact_bin`), and the few still undecided are written to
    ``pending`` for NumPy. A scalar loop then adds the magnitudes into the cells' float32
    accumulators in skimage's order, cells interleaved so that their accumulation chains
    overlap.
    """
    s_row, s_col = frame.shape
    n_cells_row, n_cells_col, n_orient = sums.shape
    cap = pending.shape[0]
    width = n_cells_col * c_col
    last = min(width, s_col - 1)
    top = np.int32(n_orient - 1)
    use_lut = lut.size > 0
    # Rows r - 1, r and r + 1 of the working image in slots r % 3 of a ring; slot 3 stays
    # zero (the border rows' g_row). No row views in the loops: see _working_row.
    # The vectorised loop runs over columns 1 .. stop - 1, a multiple of 16 of them so that no
    # scalar remainder runs; the padding columns are computed and then ignored.
    stop = 1 + -(-(last - 1) // 16) * 16 if last > 1 else 1
    ring = np.zeros((4, max(cols, stop + 1)), dtype=proto.dtype)
    for r in range(min(2, rows)):
        _working_row(frame, r, cols, ring, r, lut, use_lut, transform_sqrt)
    mag = np.empty(max(width, stop), dtype=np.float64)
    # Index of each pixel's vote in the frame's flat accumulator, or -1: re-bin exactly,
    # -2: NumPy decides.
    code = np.empty(max(width, stop), dtype=np.int32)
    cell_base = np.zeros(max(width, stop), dtype=np.int32)
    for c in range(width):
        cell_base[c] = (c // c_col) * n_orient
    acc = sums.reshape(n_cells_row * n_cells_col * n_orient)
    count = 0
    for r in range(n_cells_row * c_row):
        i = r // c_row
        if r + 1 < rows and r >= 1:
            _working_row(frame, r + 1, cols, ring, (r + 1) % 3, lut, use_lut, transform_sqrt)
        if r == 0 or r == s_row - 1:
            ra = rb = 3
        else:
            ra, rb = (r - 1) % 3, (r + 1) % 3
        rh = r % 3
        for c in range(1, stop):
            gr = np.float64(ring[rb, c] - ring[ra, c])
            gc = np.float64(ring[rh, c + 1] - ring[rh, c - 1])
            mag[c], code[c] = _classify(gr, gc, cell_base[c], consts, bins, top)
        # Column 0 and, if used, column s_col - 1 have a zero g_col.
        for c in (0, last):
            if c < width:
                gr = np.float64(ring[rb, c] - ring[ra, c])
                mag[c], code[c] = _classify(gr, 0.0, cell_base[c], consts, bins, top)
        row_base = i * n_cells_col * n_orient
        for off in range(c_col):
            c = off
            for j in range(n_cells_col):
                k = code[c]
                if k < 0:  # rare: recompute the gradient
                    gr = np.float64(ring[rb, c] - ring[ra, c])
                    gc = 0.0
                    if c != 0 and c != s_col - 1:
                        gc = np.float64(ring[rh, c + 1] - ring[rh, c - 1])
                    b = -2
                    if k == -1:
                        b = _exact_bin(gr, gc, cos_e, sin_e, ambiguity)
                    if b < 0:
                        if count < cap:
                            pending[count, 0] = i
                            pending[count, 1] = j
                            pending[count, 2] = gr
                            pending[count, 3] = gc
                        count += 1
                        c += c_col
                        continue
                    k = j * n_orient + b
                k += row_base
                acc[k] = np.float32(np.float64(acc[k]) + mag[c])
                c += c_col
    return count


@numba.njit(cache=True)
def _normalize_blocks(histograms, b_row, b_col, method):
    """skimage's block normalisation in float64; method indexes _BLOCK_NORMS."""
    n_frames, n_cells_row, n_cells_col, n_orient = histograms.shape
    n_blocks_row = n_cells_row - b_row + 1
    n_blocks_col = n_cells_col - b_col + 1
    out = np.empty((n_frames, n_blocks_row, n_blocks_col, b_row, b_col, n_orient),
                   dtype=np.float32)
    eps = _EPS
    block = np.empty((b_row, b_col, n_orient), dtype=np.float64)
    for f in range(n_frames):
        for br in range(n_blocks_row):
            for bc in range(n_blocks_col):
                for i in range(b_row):
                    for j in range(b_col):
                        for k in range(n_orient):
                            block[i, j, k] = histograms[f, br + i, bc + j, k]
                if method <= 1:  # L1, L1-sqrt
                    total = 0.0
                    for i in range(b_row):
                        for j in range(b_col):
                            for k in range(n_orient):
                                total += abs(block[i, j, k])
                    block /= total + eps
                    if method == 1:
                        block[...] = np.sqrt(block)
                else:  # L2, L2-Hys
                    total = 0.0
                    for i in range(b_row):
                        for j in range(b_col):
                            for k in range(n_orient):
                                total += block[i, j, k] * block[i, j, k]
                    block /= np.sqrt(total + eps * eps)
                    if method == 3:
                        total = 0.0
                        for i in range(b_row):
                            for j in range(b_col):
                                for k in range(n_orient):
                                    x = min(block[i, j, k], 0.2)
                                    block[i, j, k] = x
                                    total += x * x
                        block /= np.sqrt(total + eps * eps)
                for i in range(b_row):
                    for j in range(b_col):
                        for k in range(n_orient):
                            out[f, br, bc, i, j, k] = block[i, j, k]
    return out
