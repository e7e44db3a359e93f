"""Masks: regions of the face crop (a lick spout, a head-plate screw) whose HOG cells are dropped.

Regions are rectangles ``(x, y, w, h)`` or polygons ``[(x, y), ...]`` in ROI pixel coordinates
(x = column, y = row, origin at the crop's top-left corner). :func:`cell_mask` turns them into
a boolean grid over the HOG cells (True = excluded); :func:`apply_cell_mask` drops the excluded
cells' entries from HOG vectors.

Dropping, not zeroing: a zeroed entry still counts in the mean and the norm of a Pearson
correlation, so a masked cell would still pull every similarity towards the prototypes' value
there. Dropped entries are simply not part of the vectors: similarities, prototypes and
classifiers never see them. Apply the same mask to the frames and to the prototypes (a model
saves its mask with its prototypes).

Which cells: a cell is excluded when any pixel of the region, grown by one pixel, falls in it.
The growth is needed because a pixel's gradient uses its neighbours: whatever happens inside
the region changes the gradients of the pixels just outside it, and those must be in excluded
cells too. With 1 x 1-cell blocks (the paper's HOG) each cell is normalised on its own, so the
remaining entries do not depend on the masked pixels at all; with larger blocks every block
that touches an excluded cell is dropped, for the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from skimage.draw import polygon2mask

from mouseface.io.tables import parse_regions

__all__ = ["cell_mask", "region_pixels", "feature_keep", "apply_cell_mask", "parse_regions"]

_Rect = tuple[float, float, float, float]
_Poly = Sequence[tuple[float, float]]


def _pair(value, name) -> tuple[int, int]:
    if isinstance(value, int | np.integer):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{name} must be a positive integer or a pair of them; got {value!r}")
    return value


def cell_mask(
    crop_shape: tuple[int, int],
    pixels_per_cell: int | tuple[int, int],
    rectangles: Sequence[_Rect] = (),
    polygons: Sequence[_Poly] = (),
) -> np.ndarray:
    """HOG cells to exclude, from rectangles and polygons in ROI pixel coordinates.

    Parameters
    ----------
    crop_shape : (H, W)
        Size of the face crop (the ROI) in pixels.
    pixels_per_cell : int or (rows, cols)
        The HOG cell size. Rows and columns beyond the last whole cell are not part of any
        cell, as in HOG.
    rectangles : sequence of (x, y, w, h)
        Rectangles: top-left corner (column, row), width and height, in pixels.
    polygons : sequence of [(x, y), ...]
        Polygons given by their vertices (column, row), at least three each.

    Returns
    -------
    (cells_y, cells_x) bool array
        True for the cells whose entries :func:`apply_cell_mask` drops.

    Raises
    ------
    ValueError
        A malformed rectangle or polygon, or a mask that would exclude every cell.

    Examples
    --------
    >>> m = cell_mask((64, 80), 8, rectangles=[(64, 40, 16, 24)])  # the lower-right corner
    >>> m.shape, int(m.sum())  # 2 x 3 cells, grown by one pixel: 3 x 4
    ((8, 10), 12)
    """
    h, w = (int(v) for v in crop_shape)
    cy, cx = _pair(pixels_per_cell, "pixels_per_cell")
    ny, nx = h // cy, w // cx
    if ny < 1 or nx < 1:
        raise ValueError(f"a {h} x {w} crop holds no whole {cy} x {cx} cell")
    region = region_pixels((h, w), rectangles, polygons)
    if region.any():
        region = ndimage.binary_dilation(region, structure=np.ones((3, 3), bool))
    cells = region[: ny * cy, : nx * cx].reshape(ny, cy, nx, cx).any(axis=(1, 3))
    if cells.all():
        raise ValueError("the mask excludes every HOG cell: nothing would be left to compare")
    return cells


def region_pixels(
    crop_shape: tuple[int, int],
    rectangles: Sequence[_Rect] = (),
    polygons: Sequence[_Poly] = (),
) -> np.ndarray:
    """The pixels of a crop that rectangles and polygons cover, (H, W) bool.

    A pixel counts when the region covers any part of it (a polygon's outline included).
    Registration fills these pixels before it measures or warps anything, so that what
    happens inside a mask never moves the face.

    Examples
    --------
    >>> region_pixels((4, 5), rectangles=[(1, 1, 2, 1.5)]).astype(int).tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]]
    """
    h, w = (int(v) for v in crop_shape)
    region = np.zeros((h, w), dtype=bool)
    for rect in rectangles:
        try:
            x, y, rw, rh = (float(v) for v in rect)
        except (TypeError, ValueError):
            raise ValueError(f"a rectangle is (x, y, w, h); got {rect!r}") from None
        if rw <= 0 or rh <= 0:
            raise ValueError(f"rectangle {rect!r} has no area (w and h must be > 0)")
        y0, y1 = int(np.floor(max(y, 0))), int(np.ceil(min(y + rh, h)))
        x0, x1 = int(np.floor(max(x, 0))), int(np.ceil(min(x + rw, w)))
        region[y0:y1, x0:x1] = True
    for poly in polygons:
        pts = np.asarray(poly, dtype=np.float64)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
            raise ValueError(f"a polygon is a list of at least 3 (x, y) vertices; got {poly!r}")
        region |= polygon2mask((h, w), pts[:, ::-1])
        # polygon2mask keeps pixel centres only; add the pixels the outline passes through
        for (xa, ya), (xb, yb) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
            n = int(np.ceil(max(abs(xb - xa), abs(yb - ya)))) * 2 + 2
            xs = np.clip(np.linspace(xa, xb, n), 0, w - 1).astype(int)
            ys = np.clip(np.linspace(ya, yb, n), 0, h - 1).astype(int)
            region[ys, xs] = True
    return region


def feature_keep(
    mask: np.ndarray, orientations: int, cells_per_block: int | tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Boolean over a flattened HOG vector: True for the entries :func:`apply_cell_mask` keeps.

    The vector's order is scikit-image's ``(blocks_y, blocks_x, cells_y, cells_x,
    orientations)``; a block is dropped entirely when any of its cells is masked.

    Examples
    --------
    >>> m = np.zeros((2, 3), bool); m[0, 1] = True
    >>> feature_keep(m, 2).astype(int).tolist()
    [1, 1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]
    """
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2:
        raise ValueError(f"mask must be a (cells_y, cells_x) grid; got shape {m.shape}")
    by, bx = _pair(cells_per_block, "cells_per_block")
    ny, nx = m.shape[0] - by + 1, m.shape[1] - bx + 1
    if ny < 1 or nx < 1:
        raise ValueError(f"a {m.shape} cell grid holds no {by} x {bx} block")
    blocked = np.zeros((ny, nx), dtype=bool)
    for i in range(by):
        for j in range(bx):
            blocked |= m[i:i + ny, j:j + nx]
    per_block = by * bx * int(orientations)
    return np.repeat(~blocked.ravel(), per_block)


def apply_cell_mask(
    hog_features: np.ndarray,
    mask: np.ndarray | None,
    orientations: int,
    cells_per_block: int | tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Drop the masked cells' entries from HOG vectors.

    Parameters
    ----------
    hog_features : (..., D) or (..., cells_y, cells_x, orientations) array
        Flattened HOG vectors (``D = cells_y * cells_x * orientations`` for 1 x 1 blocks), or
        HOG cell arrays as the feature store keeps them (1 x 1 blocks).
    mask : (cells_y, cells_x) bool array or None
        From :func:`cell_mask`; None keeps everything (the input, flattened).
    orientations
        Orientation bins of the HOG.
    cells_per_block
        Block size the HOG was computed with.

    Returns
    -------
    (..., D_kept) array of the input dtype

    Examples
    --------
    >>> from mouseface import hog
    >>> rng = np.random.default_rng(0)
    >>> crop = rng.integers(0, 255, (32, 32)).astype(np.uint8)
    >>> mask = cell_mask(crop.shape, 8, rectangles=[(20, 20, 6, 6)])
    >>> painted = crop.copy(); painted[20:26, 20:26] = rng.integers(0, 255, (6, 6))
    >>> a, b = (apply_cell_mask(hog(c, pixels_per_cell=8), mask, 8) for c in (crop, painted))
    >>> bool(np.array_equal(a, b)), a.shape
    (True, (96,))
    """
    x = np.asarray(hog_features)
    m = None if mask is None else np.asarray(mask, dtype=bool)
    cells = x.ndim >= 3 and x.shape[-1] == orientations and (m is None
                                                             or x.shape[-3:-1] == m.shape)
    if cells:
        x = x.reshape(*x.shape[:-3], -1)
    if m is None:
        return x
    keep = feature_keep(m, orientations, cells_per_block)
    if x.shape[-1] != len(keep):
        raise ValueError(f"HOG vectors have {x.shape[-1]} entries but a {m.shape} cell mask "
                         f"with {orientations} orientations and {cells_per_block} blocks "
                         f"expects {len(keep)}: was the mask made for this crop size and "
                         "cell size?")
    return x[..., keep]
