"""Registration QC: each session's reference face over the template, before and after.

Draws what :mod:`mouseface.features.similarity_fit` computed; computes nothing but the overlay
colours and a correlation printed beside each row.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from PIL import Image  # noqa: E402

import mouseface.report.style  # noqa: E402, F401  (the figures' look)
from mouseface._atomic import atomic_path  # noqa: E402

__all__ = ["overlay_rgb", "registration_qc"]


def _unit(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img, dtype=np.float64)
    lo, hi = np.percentile(img, [1, 99])
    return np.clip((img - lo) / (hi - lo), 0, 1) if hi > lo else np.zeros_like(img)


def overlay_rgb(image: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Template in magenta, image in green: aligned structure is gray, misalignment colours.

    Examples
    --------
    >>> overlay_rgb(np.zeros((2, 2)), np.ones((2, 2))).shape
    (2, 2, 3)
    """
    t, m = _unit(template), _unit(image)
    return np.stack([t, m, t], axis=-1)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else float("nan")


#: the figure's dots per inch; a panel's longer side is about :data:`PANEL_PX` pixels
DPI, PANEL_PX = 150, 240
#: the figure's margins and the gaps between panels, in pixels
_GAP_X, _GAP_Y, _EDGE = 30, 20, 12


def _panels(before: np.ndarray, after: np.ndarray, template: np.ndarray) -> list[np.ndarray]:
    """One row's four panels as RGB images in [0, 1]: the template, the session over it
    before and after, and the absolute difference after."""
    gray = _unit(template)
    diff = matplotlib.colormaps["magma"](np.abs(_unit(after) - gray))[..., :3]
    return [np.repeat(gray[..., None], 3, axis=-1), overlay_rgb(before, template),
            overlay_rgb(after, template), diff]


def _fit(img: np.ndarray, size: int) -> np.ndarray:
    """``img`` scaled by a whole factor so that its longer side is near ``size`` pixels:
    each pixel repeated (a small face), or blocks of pixels averaged (a large one)."""
    longer = max(img.shape[:2])
    if longer <= size:
        k = max(1, round(size / longer))
        return np.repeat(np.repeat(img, k, axis=0), k, axis=1)
    k = round(longer / size)
    if k == 1:
        return img
    h, w = img.shape[0] // k * k, img.shape[1] // k * k
    return img[:h, :w].reshape(h // k, k, w // k, k, -1).mean(axis=(1, 3))


def _mosaic(grid: list[list[np.ndarray]], columns: Sequence[str], labels: Sequence[str],
            title: str) -> np.ndarray:
    """The rows of panels in ``grid`` laid out pixel for pixel on one RGB image (uint8), with
    column titles, a label left of each row and a title.

    Matplotlib draws only the text; the panels are pasted into its pixels, each face pixel a
    square of screen pixels. (An axes per panel, laid out by matplotlib, took ~0.8 s for a
    figure of 12 sessions.)
    """
    grid = [[(np.clip(_fit(p, PANEL_PX), 0, 1) * 255).round().astype(np.uint8) for p in row]
            for row in grid]
    ph, pw = grid[0][0].shape[:2]
    fig = plt.figure(dpi=DPI, facecolor="white")
    renderer = fig.canvas.get_renderer()

    def text_width(text: str, size: float) -> int:
        font = FontProperties(size=size)
        return int(np.ceil(max(renderer.get_text_width_height_descent(
            line, font, ismath=False)[0] for line in text.splitlines())))

    left = max(text_width(t, 7) for t in labels) + 2 * _EDGE
    pitch = max(pw, *(text_width(c, 8) + 6 for c in columns)) + _GAP_X
    top = (40 if title else 0) + 28
    width = left + len(columns) * pitch - _GAP_X + _EDGE
    height = top + len(grid) * (ph + _GAP_Y) - _GAP_Y + _EDGE
    if title:
        width = max(width, text_width(title, 9) + 2 * _EDGE)
    fig.set_size_inches(width / DPI, height / DPI)
    # panels centred in columns as wide as the widest of them and their titles
    xs = [left + c * pitch + (pitch - _GAP_X - pw) // 2 for c in range(len(columns))]
    for x, name in zip(xs, columns, strict=True):
        fig.text((x + pw / 2) / width, 1 - (top - 8) / height, name, ha="center",
                 va="bottom", fontsize=8)
    for r, text in enumerate(labels):
        fig.text((left - _EDGE) / width, 1 - (top + r * (ph + _GAP_Y) + ph / 2) / height, text,
                 ha="right", va="center", fontsize=7)
    if title:
        fig.text(0.5, 1 - 10 / height, title, ha="center", va="top", fontsize=9)
    fig.canvas.draw()
    image = np.array(fig.canvas.buffer_rgba())[..., :3]
    plt.close(fig)
    for r, row in enumerate(grid):
        y = top + r * (ph + _GAP_Y)
        for x, panel in zip(xs, row, strict=True):
            image[y:y + ph, x:x + pw] = panel
    return image


def registration_qc(
    before: Sequence[np.ndarray],
    after: Sequence[np.ndarray],
    template: np.ndarray,
    path: str | Path | None = None,
    *,
    names: Sequence[str] | None = None,
    max_rows: int = 12,
    title: str = "",
) -> bytes:
    """A PNG with one row per session: the face over the template before and after.

    Parameters
    ----------
    before, after : sequences of (h, w) arrays
        Each session's reference face cut at the ROI without registration, and warped onto
        the template (``warp_frames(reference, transform, roi)``).
    template : (h, w) array
        The template face at the ROI.
    path
        Where to write the PNG too (atomically); None: only return it.
    names
        Row labels (sessions); default numbers.
    max_rows
        At most this many sessions are drawn (evenly spaced).
    title
        Figure title.

    Returns
    -------
    bytes
        The PNG (RGB).

    Notes
    -----
    Columns: the template; the session before registration over the template; the same after
    (magenta = template only, green = session only, gray = both); and the absolute difference
    after. ``r`` is the Pearson correlation with the template before -> after.
    """
    if len(before) != len(after):
        raise ValueError(f"{len(before)} faces before registration but {len(after)} after")
    n = len(before)
    if n == 0:
        raise ValueError("no sessions to draw")
    names = list(names) if names is not None else [str(i) for i in range(n)]
    rows = np.unique(np.linspace(0, n - 1, min(n, max_rows)).round().astype(int))
    template = np.asarray(template)
    labels = [f"{names[i]}\nr {_corr(before[i], template):.2f} -> "
              f"{_corr(after[i], template):.2f}" for i in rows]
    grid = [_panels(np.asarray(before[i]), np.asarray(after[i]), template) for i in rows]
    image = _mosaic(grid, ["template", "before", "after", "|after - template|"], labels, title)
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", dpi=(DPI, DPI))
    png = buf.getvalue()
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            Path(tmp).write_bytes(png)
    return png
