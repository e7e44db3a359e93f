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
        The PNG.

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
    h, w = np.asarray(template).shape
    scale = 1.6 / max(h, w) * 100
    fig, axes = plt.subplots(len(rows), 4, figsize=(4 * w * scale / 100 + 1.5,
                                                    len(rows) * h * scale / 100 + 0.8),
                             squeeze=False)
    for r, i in enumerate(rows):
        b, a = np.asarray(before[i]), np.asarray(after[i])
        panels = [(_unit(template), "gray", "template"),
                  (overlay_rgb(b, template), None, "before"),
                  (overlay_rgb(a, template), None, "after"),
                  (np.abs(_unit(a) - _unit(template)), "magma", "|after - template|")]
        for c, (img, cmap, label) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(label, fontsize=8)
        axes[r, 0].set_ylabel(f"{names[i]}\nr {_corr(b, template):.2f} -> "
                              f"{_corr(a, template):.2f}", fontsize=7, rotation=0,
                              ha="right", va="center")
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()) if title else None)
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.1 / fig.get_figheight())
    buf = io.BytesIO()
    fig.savefig(buf, dpi=150, format="png")
    plt.close(fig)
    png = buf.getvalue()
    if path is not None:
        with atomic_path(Path(path)) as tmp:
            Path(tmp).write_bytes(png)
    return png
