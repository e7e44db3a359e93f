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

The kernel never calls ``arctan2``. Each row is read once into a working row whose layout is
the accumulation's order (the offset within a cell major, the cell minor; :func:`_layout`),
so that every loop after it runs over contiguous memory: float64 gradients and magnitudes and
each pixel's bin from float32 comparisons of the gradient with the tangents of the edges (one
vectorised loop for uint8 frames, two otherwise; with an even number of orientations folded
onto the octant below 45 degrees, so that 8 orientations need one tangent), and the float32
accumulation in scikit-image's order (scalar, the cells of a row interleaved). A pixel
whose float32 comparison is within its rounding error of an edge (about 1e-6 of the
gradient) is re-binned exactly in float64 from the signs of cross products with the edges.
Exact axis and diagonal gradients (very common in integer images) get the bins of the
orientations NumPy gives them (0, 90, 45 or 135 degrees), decided in float64. The rare pixels
within 1e-10 rad of an edge, and non-finite magnitudes, are binned afterwards with NumPy's
``arctan2`` exactly as scikit-image bins them (their votes join the float32 sums last, not in
pixel order: a difference of a float32 rounding at most). A frame with more than
``_MAX_AMBIGUOUS`` of them is recomputed with NumPy orientations.

Integer inputs other than uint8 are converted to float64 first (as scikit-image does), so the
kernel is compiled for three input types only: uint8 (through a 256-entry table), float32 and
float64.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Sequence

import numba
import numpy as np

from mouseface._parallel import over_frames

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
    kernel; the frames of a batch run side by side on Numba's thread count
    (``numba.get_num_threads()``), each frame's values the same on any number of threads.

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
    edges = _constants(n_orient, work_dtype.str, bool(transform_sqrt), batch.dtype == np.uint8)[0]
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


@functools.lru_cache(maxsize=64)
def _constants(n_orient: int, work_dtype: str, transform_sqrt: bool, uint8: bool) -> tuple:
    """What the kernels take besides the frames, for one parameter set (made once: a call
    per batch made them again, ~0.2 ms): the bin edges (degrees), their cosines and sines,
    the bins of exact axis and diagonal gradients, the uint8 table, an empty array of the
    working dtype, and :func:`_edge_tangents`. Shared: nothing may write to them."""
    work_dtype = np.dtype(work_dtype)
    edges = (180.0 / n_orient) * np.arange(n_orient + 1, dtype=np.float64)
    radians = np.deg2rad(edges)
    cos_e, sin_e = np.cos(radians), np.sin(radians)
    # Bins of the orientations that exact axis and diagonal gradients get from NumPy.
    special = np.array([_bin_of(o, edges) for o in (0.0, 90.0, 45.0, 135.0)], dtype=np.int32)
    assert special.min() >= 0  # edge n is 180 to within rounding, so these always vote
    assert special[0] == 0  # edge 0 is 0.0: uint8 frames leave g_row == 0 to the comparisons
    proto = np.empty(0, dtype=work_dtype)  # carries the working dtype into the kernel
    if uint8:  # a table is faster than converting (and rooting) each pixel
        lut = np.arange(256, dtype=work_dtype)
        if transform_sqrt:
            lut = np.sqrt(lut)
    else:
        lut = np.empty(0, dtype=work_dtype)
    return edges, cos_e, sin_e, special, lut, proto, _edge_tangents(edges)


def _orientation_sums(batch, work_dtype, ppc, n_cells, edges, transform_sqrt):
    """Float32 per-cell orientation sums (before division by the cell area), skimage's way."""
    n_orient = len(edges) - 1
    edges, cos_e, sin_e, special, lut, proto, (tans, tol) = _constants(
        n_orient, np.dtype(work_dtype).str, bool(transform_sqrt), batch.dtype == np.uint8)
    s_row, s_col = batch.shape[1:]
    rows = min(s_row, n_cells[0] * ppc[0] + 1)
    cols = min(s_col, n_cells[1] * ppc[1] + 1)
    cap = max(0, int(_MAX_AMBIGUOUS))
    parts = over_frames(lambda run: _cell_sums(
        batch[run], proto, rows, cols, lut, ppc[0], ppc[1], n_cells[0], n_cells[1],
        transform_sqrt, cos_e, sin_e, special, tans, tol, _AMBIGUITY, cap), len(batch))
    sums, pending, n_pending = (parts[0] if len(parts) == 1 else
                                (np.concatenate(a) for a in zip(*parts, strict=True)))
    if not n_pending.any():
        return sums
    overflow = np.flatnonzero(n_pending > cap)
    for f in overflow:
        sums[f] = _exact_frame_sums(batch[f], work_dtype, ppc, n_cells, edges, transform_sqrt)
    frame, cells, g_row, g_col = _pending_pixels(pending, n_pending)
    if frame.size:
        votes = _vote_with_numpy(g_row, g_col, edges)
        _add_pending(sums, frame, cells, votes, np.hypot(g_col, g_row))
    return sums


@numba.njit(cache=True)
def _pending_pixels(pending, n_pending):
    """The pixels :func:`_cell_sums` left for NumPy to bin, of the frames not recomputed (at most
    ``cap`` each), frame by frame in the order they were found: frame, (cell row, cell column),
    g_row, g_col."""
    cap = pending.shape[1]
    total = 0
    for f in range(n_pending.size):
        total += n_pending[f] if n_pending[f] <= cap else 0
    frame = np.empty(total, dtype=np.intp)
    cells = np.empty((total, 2), dtype=np.intp)
    g_row = np.empty(total, dtype=np.float64)
    g_col = np.empty(total, dtype=np.float64)
    p = 0
    for f in range(n_pending.size):
        if n_pending[f] > cap:
            continue
        for s in range(n_pending[f]):
            frame[p] = f
            cells[p, 0] = np.intp(pending[f, s, 0])
            cells[p, 1] = np.intp(pending[f, s, 1])
            g_row[p] = pending[f, s, 2]
            g_col[p] = pending[f, s, 3]
            p += 1
    return frame, cells, g_row, g_col


@numba.njit(cache=True)
def _add_pending(sums, frame, cells, votes, magnitude):
    """Add the votes of the pending pixels (``votes[k, p]``: pixel ``p`` votes into bin ``k``) to
    their frames' float32 sums in float64, in the order given, and round each touched frame's
    sums back to float32 (as skimage's float32 accumulator overflows, so does this). Where both
    the sum and the magnitude are NaN, the sum takes the magnitude's NaN, as ``np.add.at`` did
    here before (the bits of NaN features stay as they were)."""
    n_orient = sums.shape[3]
    p = 0
    while p < frame.size:
        f = frame[p]
        acc = sums[f].astype(np.float64)
        while p < frame.size and frame[p] == f:
            i, j = cells[p, 0], cells[p, 1]
            m = magnitude[p]
            for k in range(n_orient):
                if votes[k, p]:
                    a = acc[i, j, k]
                    acc[i, j, k] = m if (a != a and m != m) else a + m
            p += 1
        # element by element: a whole-array assignment would compile Numba's shape-mismatch
        # message (string formatting: seconds of compiling for a check that cannot fail)
        out = sums[f]
        for i in range(acc.shape[0]):
            for j in range(acc.shape[1]):
                for k in range(n_orient):
                    out[i, j, k] = np.float32(acc[i, j, k])


def load_pending_kernels() -> None:
    """Compile (or load from Numba's cache) the kernels that add the pixels :func:`_cell_sums`
    leaves pending (:func:`_pending_pixels`, :func:`_add_pending`), with the argument types
    :func:`hog` gives them: they run only on frames with gradients on a bin's edge, which a
    run may meet on any frame."""
    frame, cells, g_row, _ = _pending_pixels(np.zeros((1, 0, 4)), np.zeros(1, np.int64))
    _add_pending(np.zeros((1, 1, 1, 1), np.float32), frame, cells,
                 np.zeros((1, 0), np.bool_), g_row)


def _edge_tangents(edges):
    """The tangents :func:`_quadrant_bin` compares with (float32), and the tolerance (relative
    to ``|g_row| + |g_col|``) beyond which its comparisons are exact."""
    n = len(edges) - 1
    if n % 2 == 0:
        inner = edges[(edges > 0) & (edges < 45)]
        head = [2.0 * inner.size + (n % 4 == 0), float(n % 4 == 0)]
    else:
        inner = edges[(edges > 0) & (edges < 90)]
        head = [-1.0, 0.0]
    t = np.tan(np.deg2rad(inner))
    t_max = float(t.max()) if t.size else 1.0
    tol = 8 * 2.0 ** -24 * max(1.0, t_max)
    if not t.size:  # no such edge: a tangent that no gradient exceeds keeps the tuple typed
        t = np.array([np.inf])
    return tuple(np.float32(v) for v in [*head, *t]), tol


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
def _layout(n_cells_col, c_col, cols):
    """The column each slot of a working row holds: slot ``(t + 1) * n_cells_col + j`` holds
    column ``j * c_col + t`` for ``t`` in ``-1 .. c_col`` (clamped to the ``cols`` read; the
    clamped slots feed only the border pixels, whose gradients are set apart).

    In this layout the offset ``t`` is major and the cell ``j`` minor, the order in which
    :func:`_frame_sums` accumulates a row (the cells of the row interleaved), and the columns
    left and right of a pixel are ``n_cells_col`` slots before and after it, so the gradient
    loops read, and write the magnitudes and vote indices, contiguously in that order.
    """
    span = (c_col + 2) * n_cells_col
    src = np.empty(span, dtype=np.intp)
    for p in range(span):
        c = (p % n_cells_col) * c_col + p // n_cells_col - 1
        src[p] = min(max(c, 0), cols - 1)
    return src


@numba.njit(cache=True)
def _working_row(frame, r, src, c_col, ring, slot, lut, use_lut, transform_sqrt):
    """Row ``r`` of the frame into ``ring[slot]`` in the working float dtype, square-rooted if
    asked (skimage's order), in the layout of :func:`_layout` (slot ``p`` holds column
    ``src[p]``). uint8 frames go through ``lut``, and only the two clamped ends through
    ``src`` (one load fewer a pixel). Indexes 2-D arrays directly: a row view per call would
    cost two atomic reference-count updates."""
    span = src.size
    if use_lut:
        nc = span // (c_col + 2)
        for p in range(nc):
            ring[slot, p] = lut[np.intp(frame[r, src[p]])]
        for p in range(span - nc, span):
            ring[slot, p] = lut[np.intp(frame[r, src[p]])]
        for t in range(c_col):
            o = np.uintp((t + 1) * nc)
            for j in range(nc):
                ring[slot, o + np.uintp(j)] = lut[np.intp(frame[r, np.uintp(j * c_col + t)])]
    else:
        for p in range(span):
            ring[slot, p] = frame[r, src[p]]
        if transform_sqrt:
            for p in range(span):
                ring[slot, p] = np.sqrt(ring[slot, p])


@numba.njit(cache=True, error_model="numpy")
def _gradients(ring, ra, rb, rh, n, step, mag, g32r, g32c, special, bins):
    """Float64 gradients of the ``n`` pixels of a row (in the layout of :func:`_layout`, whose
    horizontal neighbours are ``step`` slots apart): the magnitude, the gradients in float32
    for binning, and in ``special``, as float32, the bin of an exact axis or diagonal gradient
    (the orientations NumPy gives them: 0, 90, 45, 135 degrees), -1 for none and -3 for a
    non-finite magnitude (NumPy bins it). Vectorised (float64 lanes). For frames of any float
    values; uint8 frames go through :func:`_gradient_bins_uint8`."""
    bin_0, bin_90, bin_45, bin_135 = bins
    for q in range(n):
        p = np.uintp(q) + np.uintp(step)
        gr = np.float64(ring[rb, p] - ring[ra, p])
        gc = np.float64(ring[rh, p + np.uintp(step)] - ring[rh, p - np.uintp(step)])
        m = np.sqrt(gr * gr + gc * gc)
        mag[q] = m
        g32r[q] = np.float32(gr)
        g32c[q] = np.float32(gc)
        s = np.float32(-1.0)
        s = (bin_45 if (gr > 0.0) == (gc > 0.0) else bin_135) if abs(gr) == abs(gc) else s
        s = bin_90 if gc == 0.0 else s
        s = bin_0 if gr == 0.0 else s
        s = s if m < np.inf else np.float32(-3.0)
        special[q] = s


@numba.njit(cache=True, error_model="numpy", inline="always")
def _quadrant_bin(gr, gc, tans, last_bin, tol, folded, uint8):
    """Bin (float32), nearness to an edge (1 or 0) and opposite signs (bool) of a float32
    gradient, from comparisons with the tangents of the edges; no arctan.

    ``tans`` is ``(steep_base, diagonal, t_1, ..., t_m)``. ``folded`` (an even number of
    orientations): the edges inside a quadrant are symmetric about 45 degrees, so the gradient
    is folded onto the octant below 45 degrees (``lo / hi``) and compared with the tangents of
    the ``m`` edges below 45 degrees only; ``steep_base`` is ``2 m`` plus one if 45 degrees is
    an edge (then ``diagonal`` is 1 and nearness to it is checked too). Otherwise the ``t_k``
    are the tangents of all the edges inside the quadrant.

    ``uint8``: the gradients of a uint8 frame, zero or at least sqrt(255) - sqrt(254) and at
    most 2 * 255, so that no denormal can occur and the signs differ exactly where
    ``gr * gc < 0`` (one product instead of two comparisons and an exclusive or) except where
    one is zero, whose bin the caller decides anyway.
    """
    one = np.float32(1.0)
    zero = np.float32(0.0)
    ax = abs(gc)
    ay = abs(gr)
    total = ax + ay
    lim = tol * total
    if uint8:
        near = zero
        differ = gr * gc < zero
    else:
        near = zero if total >= np.float32(1e-30) else one  # denormal or NaN: no error bound
        differ = (gr < zero) != (gc < zero)
    if folded:
        lo = min(ax, ay)
        hi = max(ax, ay)
        x = zero
        for t in tans[2:]:
            d = lo - t * hi
            x += one if d > zero else zero
            near = one if not (abs(d) > lim) else near
        if tans[1] > zero:
            near = one if not (abs(ay - ax) > lim) else near
        cnt = tans[0] - x if ay > ax else x
    else:
        cnt = zero
        for t in tans[2:]:
            d = ay - t * ax
            cnt += one if d > zero else zero
            near = one if not (abs(d) > lim) else near
    b = last_bin - cnt if differ else cnt
    return b, near, differ


@numba.njit(cache=True, error_model="numpy")
def _bins(g32r, g32c, special, base, n, tans, last_bin, tol, code):
    """Each pixel's vote index (``base + bin``; -1: re-bin exactly in float64; -2: NumPy) from
    :func:`_gradients`. All float32 so that it vectorises 8 lanes wide; returns whether any
    pixel needs more work. One loop per case, so that each vectorises without computing the
    other."""
    if tans[0] >= 0:
        return _bins_careful(g32r, g32c, special, base, n, tans, last_bin, tol, True, code)
    return _bins_careful(g32r, g32c, special, base, n, tans, last_bin, tol, False, code)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _bins_careful(g32r, g32c, special, base, n, tans, last_bin, tol, folded, code):
    zero = np.float32(0.0)
    odd = False
    for q in range(n):
        b, near, _ = _quadrant_bin(g32r[q], g32c[q], tans, last_bin, tol, folded, False)
        s = special[q]
        k = base[q] + b
        k = np.float32(-1.0) if near > zero else k
        k = base[q] + s if s >= zero else k
        k = np.float32(-2.0) if s < np.float32(-2.0) else k
        code[q] = np.int32(k)
        odd |= k < zero
    return odd


@numba.njit(cache=True, error_model="numpy")
def _gradient_bins_uint8(ring, ra, rb, rh, n, step, base, tans, last_bin, tol, bins, mag,
                         code):
    """:func:`_gradients` and :func:`_bins` in one loop, for uint8 frames, whose gradients are
    zero or at least sqrt(255) - sqrt(254) and finite: float32 gradients tell zeros exactly,
    and only ``|g_row| == |g_col|`` is decided in float64 (float32 may round unequal
    gradients to equal ones), as ``g_row ** 2 == g_col ** 2`` from the squares the magnitude
    needs anyway: no two gradient magnitudes of a uint8 frame (through either table, rooted or
    not) have equal float64 squares (``tests/unit/features/test_hog.py`` checks all of them).
    ``g_row == 0`` needs no case of its own: the comparisons with the edges give it bin 0, the
    bin of 0 degrees, when ``g_col != 0``, and a zero gradient (which adds +0.0, so its bin does
    not matter) takes the 90-degree case. Returns whether any pixel needs re-binning (code
    -1)."""
    if tans[0] >= 0:
        return _fused_uint8(ring, ra, rb, rh, n, step, base, tans, last_bin, tol, bins, True,
                            mag, code)
    return _fused_uint8(ring, ra, rb, rh, n, step, base, tans, last_bin, tol, bins, False,
                        mag, code)


@numba.njit(cache=True, error_model="numpy", inline="always")
def _fused_uint8(ring, ra, rb, rh, n, step, base, tans, last_bin, tol, bins, folded, mag,
                 code):
    zero = np.float32(0.0)
    _, bin_90, bin_45, bin_135 = bins
    odd = False
    for q in range(n):
        p = np.uintp(q) + np.uintp(step)
        gr = np.float64(ring[rb, p] - ring[ra, p])
        gc = np.float64(ring[rh, p + np.uintp(step)] - ring[rh, p - np.uintp(step)])
        rr = gr * gr
        cc = gc * gc
        mag[q] = np.sqrt(rr + cc)
        fr = np.float32(gr)
        fc = np.float32(gc)
        b, near, differ = _quadrant_bin(fr, fc, tans, last_bin, tol, folded, True)
        b = np.float32(-1.0) if near > zero else b
        b = (bin_135 if differ else bin_45) if rr == cc else b
        b = bin_90 if fc == zero else b
        k = base[q] + b if b >= zero else b
        code[q] = np.int32(k)
        odd |= b < zero
    return odd


@numba.njit(cache=True, nogil=True)
def _cell_sums(batch, proto, rows, cols, lut, c_row, c_col, n_cells_row, n_cells_col,
               transform_sqrt, cos_e, sin_e, special, tans, tol, ambiguity, cap):
    """Per-cell float32 orientation sums of each frame (before division by the cell area).

    ``proto`` is an empty array of the working float dtype; ``rows`` and ``cols`` are the
    pixels read (the cells, plus one row and column for the gradient); ``special`` the bins of
    exact 0, 90, 45 and 135 degree gradients; ``tans`` and ``tol`` from :func:`_edge_tangents`.
    Frames one after another (:func:`_frame_sums`); the caller gives runs of frames to threads
    (:func:`~mouseface._parallel.over_frames`). Returns the sums, the
    pixels left for NumPy to bin (cell row, cell column, g_row, g_col) and how many each frame
    has (more than ``cap``: recompute that frame).
    """
    n_frames = batch.shape[0]
    n_orient = cos_e.size - 1
    sums = np.zeros((n_frames, n_cells_row, n_cells_col, n_orient), dtype=np.float32)
    pending = np.empty((n_frames, cap, 4), dtype=np.float64)
    n_pending = np.zeros(n_frames, dtype=np.int64)
    bins = (np.float32(special[0]), np.float32(special[1]), np.float32(special[2]),
            np.float32(special[3]))
    for f in range(n_frames):
        n_pending[f] = _frame_sums(batch[f], proto, rows, cols, lut, c_row, c_col,
                                   transform_sqrt, cos_e, sin_e, bins, tans,
                                   np.float32(tol), ambiguity, sums[f], pending[f])
    return sums, pending, n_pending


@numba.njit(cache=True, error_model="numpy")
def _frame_sums(frame, proto, rows, cols, lut, c_row, c_col, transform_sqrt, cos_e, sin_e,
                bins, tans, tol, ambiguity, sums, pending):
    """One frame's float32 orientation sums, without arctan2; returns the pending count.

    Row by row, in the layout of :func:`_layout` (the pixels of a row in accumulation order):
    :func:`_gradients` (float64 magnitudes) and :func:`_bins` (each pixel's vote index in the
    frame's flat accumulator), fused in :func:`_gradient_bins_uint8` for uint8 frames; the two
    border columns, whose column gradient is zero; a fix-up of the rare pixels near an edge
    (:func:`_exact_bin`; those it cannot decide go to ``pending`` for NumPy and vote into a
    spare slot), then a branch-free scalar loop adds the magnitudes into the float32
    accumulators in scikit-image's order, the cells of the row interleaved so that their
    accumulation chains overlap.
    """
    s_row, s_col = frame.shape
    n_cells_row, n_cells_col, n_orient = sums.shape
    nc = n_cells_col
    cap = pending.shape[0]
    n = nc * c_col  # the pixels of a row that fall in cells
    use_lut = lut.size > 0
    careful = not use_lut  # uint8 frames: gradients are 0 or >= sqrt(255) - sqrt(254), finite
    src = _layout(nc, c_col, cols)
    ring = np.zeros((4, src.size), dtype=proto.dtype)  # row 3 stays zero (border rows)
    for r in range(min(2, rows)):
        _working_row(frame, r, src, c_col, ring, r, lut, use_lut, transform_sqrt)
    mag = np.empty(n, dtype=np.float64)
    code = np.empty(n, dtype=np.int32)
    base = np.empty(n, dtype=np.float32)
    n_aux = n if careful else 0
    g32r = np.zeros(n_aux, dtype=np.float32)
    g32c = np.zeros(n_aux, dtype=np.float32)
    special = np.empty(n_aux, dtype=np.float32)
    # the border columns in the cells (their column gradient is zero), as positions in a row
    last = s_col - 1
    border = (0, (last % c_col) * nc + last // c_col if last < n else 0)
    n_acc = n_cells_row * nc * n_orient
    junk = n_acc  # votes of pixels NumPy bins afterwards land here
    acc = np.zeros(n_acc + 1, dtype=np.float32)
    last_bin = np.float32(n_orient - 1)
    count = 0
    for r in range(n_cells_row * c_row):
        i = r // c_row
        if r % c_row == 0:
            for t in range(c_col):
                for j in range(nc):
                    base[t * nc + j] = (i * nc + j) * n_orient
        if r + 1 < rows and r >= 1:
            _working_row(frame, r + 1, src, c_col, ring, (r + 1) % 3, lut, use_lut,
                         transform_sqrt)
        if r == 0 or r == s_row - 1:
            ra = rb = 3
        else:
            ra, rb = (r - 1) % 3, (r + 1) % 3
        rh = r % 3
        if careful:
            _gradients(ring, ra, rb, rh, n, nc, mag, g32r, g32c, special, bins)
            for q in border:
                gr = np.float64(ring[rb, q + nc] - ring[ra, q + nc])
                m = np.sqrt(gr * gr)
                mag[q] = m
                g32r[q] = np.float32(gr)
                g32c[q] = np.float32(0.0)
                special[q] = bins[0] if gr == 0.0 else bins[1]
                if not m < np.inf:
                    special[q] = -3.0
            odd = _bins(g32r, g32c, special, base, n, tans, last_bin, tol, code)
        else:
            odd = _gradient_bins_uint8(ring, ra, rb, rh, n, nc, base, tans, last_bin, tol,
                                       bins, mag, code)
            for q in border:
                gr = np.float64(ring[rb, q + nc] - ring[ra, q + nc])
                mag[q] = np.sqrt(gr * gr)
                code[q] = np.int32(base[q] + (bins[0] if gr == 0.0 else bins[1]))
        if odd:
            for q in range(n):  # the accumulation's order, for the pending list
                k = code[q]
                if k < 0:
                    j = q % nc
                    c = j * c_col + q // nc
                    p = q + nc
                    gr = np.float64(ring[rb, p] - ring[ra, p])
                    gc = 0.0
                    if c != 0 and c != s_col - 1:
                        gc = np.float64(ring[rh, p + nc] - ring[rh, p - nc])
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
                        code[q] = junk
                    else:
                        code[q] = np.int32(base[q]) + b
        for q in range(n):
            k = np.uintp(code[q])
            acc[k] = np.float32(np.float64(acc[k]) + mag[q])
    flat = sums.reshape(n_acc)
    for k in range(n_acc):
        flat[k] = acc[k]
    return count


@numba.njit(cache=True, nogil=True, error_model="numpy")
def _normalize_blocks(histograms, b_row, b_col, method):
    """skimage's block normalisation in float64; method indexes _BLOCK_NORMS.

    The blocks of a frame are SIMD lanes: each value of a block (cell ``i, j``, bin ``k``, in
    that order) is a row of ``vals`` over the blocks, so that each block's sums run in its own
    lane in skimage's order (bit for bit the arithmetic of one block at a time) while the
    divisions and square roots of many blocks share vector instructions. A sum that is NaN
    stays the NaN it first became (the NaN bits of the one-block loop this replaced).
    """
    n_frames, n_cells_row, n_cells_col, n_orient = histograms.shape
    n_blocks_row = n_cells_row - b_row + 1
    n_blocks_col = n_cells_col - b_col + 1
    n_blocks = n_blocks_row * n_blocks_col
    size = b_row * b_col * n_orient
    out = np.empty((n_frames, n_blocks_row, n_blocks_col, b_row, b_col, n_orient),
                   dtype=np.float32)
    flat = out.reshape(n_frames, n_blocks, size)
    eps = _EPS
    vals = np.empty((size, n_blocks), dtype=np.float64)
    total = np.empty(n_blocks, dtype=np.float64)
    for f in range(n_frames):
        for i in range(b_row):
            for j in range(b_col):
                for k in range(n_orient):
                    e = (i * b_col + j) * n_orient + k
                    for br in range(n_blocks_row):
                        for bc in range(n_blocks_col):
                            vals[e, br * n_blocks_col + bc] = histograms[f, br + i, bc + j, k]
        total[:] = 0.0
        if method <= 1:  # L1, L1-sqrt
            for e in range(size):
                for b in range(n_blocks):
                    total[b] += abs(vals[e, b])
            for b in range(n_blocks):
                total[b] = total[b] + eps
            for e in range(size):
                for b in range(n_blocks):
                    vals[e, b] = vals[e, b] / total[b]
            if method == 1:
                for e in range(size):
                    for b in range(n_blocks):
                        vals[e, b] = np.sqrt(vals[e, b])
        else:  # L2, L2-Hys
            for e in range(size):
                for b in range(n_blocks):
                    t = total[b]
                    total[b] = t + vals[e, b] * vals[e, b] if t == t else t
            for b in range(n_blocks):
                total[b] = np.sqrt(total[b] + eps * eps)
            for e in range(size):
                for b in range(n_blocks):
                    vals[e, b] = vals[e, b] / total[b]
            if method == 3:
                total[:] = 0.0
                for e in range(size):
                    for b in range(n_blocks):
                        x = min(vals[e, b], 0.2)
                        vals[e, b] = x
                        t = total[b]
                        total[b] = t + x * x if t == t else t
                for b in range(n_blocks):
                    total[b] = np.sqrt(total[b] + eps * eps)
                for e in range(size):
                    for b in range(n_blocks):
                        vals[e, b] = vals[e, b] / total[b]
        for b in range(n_blocks):
            for e in range(size):
                flat[f, b, e] = vals[e, b]
    return out
