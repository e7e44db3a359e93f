"""Write the face ROI and the mask regions of chosen sessions into a sessions table.

::

    write_regions(table, roi=(x, y, w, h), mask="60,40,20,24; poly:0,0,12,0,0,12",
                  session="m1_s1")          # or animal="m1", or video="cam1.mp4"
        -> the sessions updated, in table order

The table is edited in place: only the ``roi`` (or ``roi_x``..``roi_h``) and ``mask`` cells of
the chosen rows change; every other cell, row and column keeps its text (CSV and TSV are read
as text, Parquet keeps its column types). The new table is checked as ``mouseface run`` checks
it (:func:`~mouseface.io.tables.validate_sessions`), each new ROI against the frame size of its
row's video (:func:`~mouseface.io.tables.check_roi`, the function the reader uses) and each
mask region against the crop, before anything is written; the file is then replaced atomically.
A problem is an :class:`~mouseface._errors.InputError` of one line naming the table, the row
and the problem, and the table on disk is left as it was.

Coordinates: ``roi`` is ``x, y, w, h`` in pixels of the full frame (x = column, y = row, from
the top-left corner); ``mask`` regions are in pixels of the crop, relative to the ROI's
top-left corner (see :mod:`mouseface.features.masks`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface.io.tables import (
    _SUFFIXES,
    ROI_COLUMNS,
    check_roi,
    parse_regions,
    parse_roi,
    read_table,
    validate_sessions,
)
from mouseface.io.video import open_video

__all__ = ["write_regions", "roi_text", "SCOPES"]

#: what a write may select: one session, every session of an animal, every session of a video
SCOPES = ("session", "animal", "video")


def roi_text(roi: Sequence[int]) -> str:
    """``(x, y, w, h)`` as the ``"x,y,w,h"`` text of a sessions table cell.

    Examples
    --------
    >>> roi_text((8, 25, 80, 64))
    '8,25,80,64'
    """
    return ",".join(str(int(v)) for v in roi)


def write_regions(
    table: str | Path,
    *,
    roi: Sequence[int] | str | None = None,
    mask: str | None = None,
    session: str | None = None,
    animal: str | None = None,
    video: str | Path | None = None,
) -> list[str]:
    """Set the ``roi`` and ``mask`` of one session, an animal's sessions or a video's sessions.

    Parameters
    ----------
    table
        A sessions table (CSV, TSV or Parquet) with at least ``session`` and ``video``.
    roi
        ``(x, y, w, h)`` or ``"x,y,w,h"`` in frame pixels; None leaves the ROI cells as they
        are.
    mask
        Regions of the crop to leave out, as in a ``mask`` cell (``"x,y,w,h; poly:x1,y1,..."``,
        crop pixels); ``""`` clears the mask; None leaves the mask cells as they are.
    session, animal, video
        Exactly one: the rows to change. ``video`` is compared as a file path (a relative
        path is relative to the current folder, as a user typed it; the table's own relative
        paths are relative to the table).

    Returns
    -------
    list of str
        The sessions changed, in table order.

    Raises
    ------
    InputError
        Unreadable table, no row selected, a malformed ROI or mask, an ROI outside its
        video's frame, a mask region entirely outside the crop. Nothing is written then.

    Examples
    --------
    >>> write_regions("sessions.csv", roi=(8, 25, 80, 64), mask="56,40,24,24",
    ...               animal="m1")  # doctest: +SKIP
    ['m1_s1', 'm1_s2']
    """
    path = Path(table)
    chosen = {k: v for k, v in (("session", session), ("animal", animal), ("video", video))
              if v is not None}
    if len(chosen) != 1:
        raise ValueError("give exactly one of session, animal or video")
    (scope, value), = chosen.items()
    if roi is None and mask is None:
        raise ValueError("nothing to write: give roi, mask or both")

    raw = _read_raw(path)
    checked = validate_sessions(read_table(path), base_dir=path.parent, path=path)
    rows = _select(checked, scope, value, path)

    new_roi = None
    if roi is not None:
        try:
            new_roi = parse_roi(roi)
        except ValueError as exc:
            raise InputError(f"bad ROI {roi!r}: {exc}", path) from None
        if new_roi is None:
            raise InputError("an empty ROI: draw the face as a rectangle", path)
    mask_text = None if mask is None else str(mask).strip()
    if mask_text:
        try:
            parse_regions(mask_text)
        except ValueError as exc:
            raise InputError(f"bad mask: {exc}", path) from None

    out = raw.copy()
    _set_cells(out, rows, new_roi, mask_text, kind=_SUFFIXES[path.suffix.lower()])
    # the edited table must read as `run` reads it, and every changed row must fit its video
    updated = validate_sessions(_typed(out, path), base_dir=path.parent, path=path)
    shapes: dict[str, tuple[int, int]] = {}
    for i in rows:
        r = updated.loc[i]
        where = f"row {i + 2} (session '{r['session']}')"
        if r["video"] not in shapes:
            fps = None if pd.isna(r["fps"]) else float(r["fps"])
            with open_video(r["video"], fps=fps) as reader:
                shapes[r["video"]] = reader.frame_shape
        try:
            crop = check_roi(r["roi"], shapes[r["video"]])
        except InputError as exc:
            raise InputError(f"{where}: {exc.problem} of {Path(r['video']).name}", path) from None
        text = r["mask"] if "mask" in updated.columns else None
        if isinstance(text, str) and text:
            _check_inside(text, crop, where, path)

    with atomic_path(path) as tmp:
        _write_raw(out, tmp, path)
    return [str(checked.loc[i, "session"]) for i in rows]


# --------------------------------------------------------------------------- helpers


def _read_raw(path: Path) -> pd.DataFrame:
    """The table with every cell as the file has it (text for CSV/TSV)."""
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None or not path.is_file():
        return read_table(path)  # raises the one-line error
    if kind == "parquet":
        return read_table(path)
    try:
        return pd.read_csv(path, sep="\t" if kind == "tsv" else ",", dtype=str,
                           keep_default_na=False)
    except Exception as exc:  # pandas raises many types for a broken file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(f"not a readable {kind.upper()} table ({first})", path) from None


def _typed(raw: pd.DataFrame, path: Path) -> pd.DataFrame:
    """The edited table as :func:`read_table` would give it, for validation."""
    if _SUFFIXES[path.suffix.lower()] == "parquet":
        return raw
    df = raw.replace("", np.nan)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def _select(checked: pd.DataFrame, scope: str, value, path: Path) -> list[int]:
    if scope == "video":
        target = os.path.abspath(Path(value).expanduser())
        hit = checked["video"].map(lambda v: os.path.samefile(v, target)
                                   if os.path.exists(target) else v == target)
        what = f"video {target}"
    else:
        hit = checked[scope].astype(str) == str(value)
        what = f"{scope} '{value}'"
    rows = [int(i) for i in np.flatnonzero(hit.to_numpy())]
    if not rows:
        known = sorted(set(checked[scope if scope != "video" else "video"].astype(str)))
        listed = ", ".join(known[:5]) + (", ..." if len(known) > 5 else "")
        raise InputError(f"no session of {what} (the table has: {listed})", path)
    return rows


def _set_cells(out: pd.DataFrame, rows: list[int], roi, mask: str | None, *, kind: str) -> None:
    stripped = {str(c).strip(): c for c in out.columns}
    if roi is not None:
        if "roi" not in stripped and all(c in stripped for c in ROI_COLUMNS):
            for name, v in zip(ROI_COLUMNS, roi, strict=True):
                col = stripped[name]
                if not (kind == "parquet" and pd.api.types.is_numeric_dtype(out[col])):
                    out[col] = out[col].astype(object)
                    v = str(v) if kind != "parquet" else v
                out.loc[rows, col] = v
        else:
            col = stripped.get("roi", "roi")
            if col not in out.columns:
                out[col] = "" if kind != "parquet" else None
            out[col] = out[col].astype(object)
            out.loc[rows, col] = roi_text(roi)
    if mask is not None:
        col = stripped.get("mask", "mask")
        if col not in out.columns:
            out[col] = "" if kind != "parquet" else None
        out[col] = out[col].astype(object)
        out.loc[rows, col] = mask if (mask or kind != "parquet") else None


def _check_inside(text: str, crop: tuple[int, int, int, int], where: str, path: Path) -> None:
    """A region wholly outside the crop masks nothing: almost surely drawn in the wrong place."""
    _, _, w, h = crop
    rects, polys = parse_regions(text)
    boxes = [(x, y, x + rw, y + rh) for x, y, rw, rh in rects]
    boxes += [(min(p[0] for p in poly), min(p[1] for p in poly),
               max(p[0] for p in poly), max(p[1] for p in poly)) for poly in polys]
    for x0, y0, x1, y1 in boxes:
        if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h:
            raise InputError(f"{where}: mask region ({x0:g}, {y0:g})-({x1:g}, {y1:g}) lies "
                             f"outside the {w}x{h} crop (mask regions are in crop pixels, "
                             "from the ROI's top-left corner)", path)


def _write_raw(df: pd.DataFrame, tmp: Path, path: Path) -> None:
    kind = _SUFFIXES[path.suffix.lower()]
    if kind == "parquet":
        df.to_parquet(tmp, index=False)
    else:
        df.to_csv(tmp, sep="\t" if kind == "tsv" else ",", index=False)
