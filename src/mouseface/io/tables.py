"""Sessions and events tables (CSV, TSV or Parquet), validated.

The format comes from the suffix: ``.csv``; ``.tsv`` or ``.tab`` (tab-separated); ``.parquet``
or ``.pq``. Column names are stripped of surrounding spaces; so are the text cells.

::

    read_sessions(table) -> pandas.DataFrame            table: a file's path, or a DataFrame
        session (str, unique), video (absolute path as str), animal (str),
        roi (tuple[int, int, int, int] | None), fps (float, NaN when not given); other columns
        kept after these.
    read_events(table, sessions=None) -> pandas.DataFrame
        session (str), onset (float s), duration (float s), trial_type (str), every other column
        unchanged, plus ``trial`` (int, 0.. within session and trial_type in onset order) and
        ``event`` (int, the row's 0-based position among the file's data rows).
    check_events_within(events, session, duration_s, path) -> None
    check_roi(roi, frame_shape, path) -> (x, y, w, h)
    region_names(sessions) -> [str]                    the regions roi_<name> columns name
    check_region(sessions, i, name, frame_shape, path) -> (x, y, w, h) | None
    read_speed(path) -> pandas.DataFrame               time (s) + speed, sorted, validated
    check_overlap(time, start, stop, path, what) -> None

``validate_sessions`` and ``validate_events`` take a DataFrame already in memory through the same
checks (synthetic data and tests use them); ``read_sessions`` and ``read_events`` hand a
DataFrame to them, relative video paths taken from the current folder and the table named
``sessions DataFrame`` / ``events DataFrame`` in messages (:func:`table_name`).

Sessions table: ``session`` and ``video`` are required. ``animal`` is expected; **when the column
is missing every session is its own animal** (animal = session). ``video`` is a video file or a
folder of image frames; a relative path is relative to the folder the table is in. ``roi`` is an
``"x,y,w,h"`` string in pixels (quote it in a CSV), or four columns ``roi_x``, ``roi_y``,
``roi_w``, ``roi_h``; empty means the whole frame. ``fps`` is optional, required for image
folders, and overrides the container's rate. ``mask`` is optional: regions of the crop whose HOG
cells are left out (``"x,y,w,h; x1,y1,x2,y2,x3,y3"``, see :mod:`mouseface.features.masks`).
Further regions whose movement is measured (body, running wheel) are optional columns
``roi_<name>`` (``roi_body``, ``roi_wheel``; ``<name>`` letters, digits and ``_``), each an
``"x,y,w,h"`` string in frame pixels like ``roi``; an empty cell means the session has no such
region. (``roi_x``, ``roi_y``, ``roi_w``, ``roi_h`` are the face ROI's four-column form, not
regions.) Whether a region lies inside the frame is checked where the video is opened
(:func:`check_region`). ``speed`` is optional: a running-speed or wheel-encoder table of the
session (:func:`read_speed`), relative to the sessions table. ``poses`` is optional: the
session's pose file (DeepLabCut, SLEAP, Lightning Pose, Facemap; relative to the sessions table),
from which ``run`` measures facial action units (the other way: a poses table,
:func:`read_poses_table`).

Events table (BIDS-style): ``session``, ``onset`` and ``duration`` in seconds from the first
frame, ``trial_type``; any other column is carried through unchanged.

Rows are numbered **as a spreadsheet shows them: the header is row 1, the first data row is
row 2** (for Parquet too). Every problem raises :class:`~mouseface._errors.InputError` with one
line naming the file, the row and the problem, e.g.
``sessions.csv: row 3: duplicate session 'm1_day1' (first at row 2)``.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.io.layout import unsafe_name

__all__ = [
    "read_sessions", "read_events", "validate_sessions", "validate_events",
    "NEUTRAL", "check_events_within", "check_roi", "motion_regions", "natural_key",
    "natural_sorted", "parse_roi", "parse_regions", "read_table",
    "region_names", "check_region", "read_speed", "check_overlap", "Table", "table_name",
    "read_poses_table",
]

#: A table as the workflows take it: a file (CSV, TSV, Parquet) or a DataFrame already in memory.
Table = str | os.PathLike | pd.DataFrame

#: The label of baseline frames (the seconds before each onset) and the neutral prototype's name.
NEUTRAL = "neutral"

SESSION_COLUMNS = ("session", "video", "animal", "roi", "fps")
EVENT_COLUMNS = ("session", "onset", "duration", "trial_type")
ROI_COLUMNS = ("roi_x", "roi_y", "roi_w", "roi_h")
REGION_PREFIX = "roi_"
_REGION_NAME = re.compile(r"[A-Za-z0-9_]+")
#: ``motion_`` columns of frames.parquet that are not extra regions.
_RESERVED_MOTION = frozenset({"motion_energy"})
_TEXT_COLUMNS = ("session", "video", "animal", "roi", "trial_type")
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".parquet": "parquet", ".pq": "parquet"}
_FIRST_ROW = 2  # spreadsheet numbering: the header is row 1


def _has_frames(folder: Path) -> bool:
    from mouseface.io.video import image_files  # video reads these tables' helpers

    return bool(image_files(folder))


def _row(i: int) -> str:
    return f"row {i + _FIRST_ROW}"


def check_unique(values: Sequence[str], what: str, path) -> None:
    """One line naming the first repeated value of a table's key column and both its rows."""
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        if v in seen:
            raise InputError(f"{_row(i)}: duplicate {what} '{v}' (first at {_row(seen[v])})",
                             path)
        seen[v] = i


# --------------------------------------------------------------------------- reading


def table_name(table: Table | None, kind: str) -> Path | str | None:
    """What messages call a table: its file, or ``"<kind> DataFrame"`` for one in memory."""
    if table is None:
        return None
    return f"{kind} DataFrame" if isinstance(table, pd.DataFrame) else Path(table)


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet table (by suffix), text id columns as strings.

    Raises
    ------
    InputError
        Missing file, unknown suffix, unreadable or empty table.
    """
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"unknown table type '{path.suffix}': use .csv, .tsv or .parquet", path)
    if not path.is_file():
        raise InputError("file not found" if not path.exists() else "not a file", path)
    if path.stat().st_size == 0:
        raise InputError("empty file (0 bytes)", path)
    try:
        if kind == "parquet":
            df = pd.read_parquet(path)
        else:
            df = pd.read_csv(path, sep="\t" if kind == "tsv" else ",",
                             dtype=dict.fromkeys(_TEXT_COLUMNS, str), skipinitialspace=True)
    except Exception as e:  # pandas/pyarrow raise many types for a broken file
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"not a readable {kind.upper()} table ({first})", path) from None
    df.columns = [str(c).strip() for c in df.columns]
    return df


def read_sessions(path: Table) -> pd.DataFrame:
    """Read and validate a sessions table.

    Parameters
    ----------
    path
        CSV, TSV or Parquet file; see the module docstring for the columns. Or a DataFrame
        with these columns (relative video paths from the current folder).

    Returns
    -------
    pandas.DataFrame
        ``session``, ``video`` (absolute), ``animal``, ``roi`` (tuple or None), ``fps`` (float or
        NaN), then the other columns of the file. Index ``0..n-1``.

    Raises
    ------
    InputError
        One line naming the file, the row and the problem.
    """
    if isinstance(path, pd.DataFrame):
        return validate_sessions(path, path=table_name(path, "sessions"))
    path = Path(path)
    return validate_sessions(read_table(path), base_dir=path.parent, path=path)


def read_events(path: Table, sessions: pd.DataFrame | None = None) -> pd.DataFrame:
    """Read and validate an events table.

    Parameters
    ----------
    path
        CSV, TSV or Parquet file with ``session``, ``onset``, ``duration``, ``trial_type``,
        or a DataFrame with these columns.
    sessions
        The sessions table; when given, every event's session must be in it.

    Returns
    -------
    pandas.DataFrame
        The file's columns (the four required ones cleaned, the others unchanged) plus
        ``trial`` and ``event``.

    Raises
    ------
    InputError
        One line naming the file, the row and the problem.
    """
    if isinstance(path, pd.DataFrame):
        return validate_events(path, sessions, path=table_name(path, "events"))
    path = Path(path)
    return validate_events(read_table(path), sessions, path=path)


# --------------------------------------------------------------------------- sessions


def validate_sessions(
    df: pd.DataFrame, *, base_dir: str | Path = ".", path: str | Path | None = None
) -> pd.DataFrame:
    """Check and normalise a sessions table already in memory (see :func:`read_sessions`).

    ``base_dir`` is the folder relative video paths are taken from; ``path`` names the table in
    messages.
    """
    df = df.reset_index(drop=True)
    df.columns = [str(c).strip() for c in df.columns]
    _require(df, ("session", "video"), path)
    present_roi = [c for c in ROI_COLUMNS if c in df.columns]
    if present_roi and len(present_roi) < 4:
        _require(df, ROI_COLUMNS, path)
    if present_roi and "roi" in df.columns:
        raise InputError("header (row 1): both a roi column and roi_x..roi_h columns: keep one",
                         path)
    if len(df) == 0:
        raise InputError("no sessions: the table has a header but no rows", path)

    session = _text(df["session"], "session", path)
    check_unique(session, "session", path)
    _check_file_ids(session, "session", path)
    animal = _text(df["animal"], "animal", path) if "animal" in df.columns else list(session)
    _check_file_ids(animal, "animal", path)

    fps = _numbers(df["fps"], "fps", path, allow_empty=True) if "fps" in df.columns \
        else np.full(len(df), np.nan)
    for i, f in enumerate(fps):
        if not np.isnan(f) and not (f > 0 and math.isfinite(f)):
            raise InputError(f"{_row(i)}: fps must be a positive number, got {f:g}", path)

    if "roi" in df.columns:
        rois = [_roi_cell(v, i, path) for i, v in enumerate(df["roi"])]
    elif present_roi:
        rois = [_roi_cell(None if all(_empty(v) for v in vals) else
                          ",".join("" if _empty(v) else str(v) for v in vals), i, path)
                for i, vals in enumerate(zip(*(df[c] for c in ROI_COLUMNS), strict=True))]
    else:
        rois = [None] * len(df)

    base = Path(base_dir)
    videos = []
    for i, v in enumerate(_text(df["video"], "video", path)):
        p = Path(v).expanduser()
        p = Path(os.path.abspath(p if p.is_absolute() else base / p))
        if not p.exists():
            raise InputError(f"{_row(i)}: video not found: {p}", path)
        if p.is_dir() and not _has_frames(p):
            raise InputError(f"{_row(i)}: video {p} is a folder with no JPEG, PNG or TIFF "
                             "frames", path)
        if p.is_dir() and np.isnan(fps[i]):
            raise InputError(f"{_row(i)}: video {p} is a folder of frames: give its fps "
                             "(an fps column)", path)
        videos.append(str(p))

    out = pd.DataFrame({
        "session": pd.Series(session, dtype=object).astype(str),
        "video": pd.Series(videos, dtype=object).astype(str),
        "animal": pd.Series(animal, dtype=object).astype(str),
        "roi": pd.Series(rois, dtype=object),
        "fps": pd.Series(fps, dtype=np.float64),
    })
    for c in df.columns:
        if c not in SESSION_COLUMNS:
            out[c] = df[c].to_numpy()
    if "mask" in df.columns:
        out["mask"] = pd.Series([_mask_cell(v, i, path) for i, v in enumerate(df["mask"])],
                                dtype=object)
    for name in region_names(df):
        col = REGION_PREFIX + name
        out[col] = pd.Series([_region_cell(v, i, name, path) for i, v in enumerate(df[col])],
                             dtype=object)
    for col, what in (("speed", "speed table"), ("poses", "pose file")):
        if col in df.columns:
            out[col] = pd.Series([_file_cell(v, i, base, path, what)
                                  for i, v in enumerate(df[col])], dtype=object)
    return out


def _check_file_ids(values: list[str], what: str, path) -> None:
    """Session and animal ids name files (``features/<session>.zarr``, ``nwb/<session>.nwb``,
    ``registration/qc_<animal>.png``): each must be a safe file name, and no two may differ
    only in case (one file on macOS and Windows)."""
    seen: dict[str, int] = {}
    for i, v in enumerate(values):
        why = unsafe_name(v)
        if why is not None:
            raise InputError(f"{_row(i)}: {what} id {v!r} is not a safe file name ({why}): it "
                             f"names the {what}'s files in the results folder; use letters, "
                             "digits, '-', '_' and '.', e.g. m01_day1", path)
        first = seen.setdefault(v.casefold(), i)
        if values[first] != v:
            raise InputError(f"{_row(i)}: {what} '{v}' differs from '{values[first]}' "
                             f"({_row(first)}) only in case: their files would be one on "
                             "macOS and Windows", path)


def natural_key(text: object) -> list:
    """Sort key that orders the numbers inside names by value: ``frame2 < frame10``,
    ``50uA < 150uA``."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part.lower())
            for part in re.split(r"(\d+)", str(text)) if part]


def natural_sorted(items) -> list:
    """``items`` sorted by :func:`natural_key`."""
    return sorted(items, key=natural_key)


def _region_columns(columns) -> list[str]:
    """``roi_<name>`` columns that name extra movement regions (not ``roi_x`` .. ``roi_h``)."""
    return [c for c in columns if str(c).startswith("roi_") and c not in ROI_COLUMNS
            and len(str(c)) > 4]


def motion_regions(row) -> tuple[tuple[str, tuple[int, int, int, int]], ...]:
    """The extra movement regions of one sessions-table row (a namedtuple or a Series):
    ``(name, (x, y, w, h))`` for each non-empty ``roi_<name>`` column, e.g. ``roi_body``."""
    fields = row._fields if hasattr(row, "_fields") else tuple(row.index)
    out = []
    for c in _region_columns(fields):
        v = getattr(row, c) if hasattr(row, "_fields") else row[c]
        if v is not None and not _empty(v):
            out.append((c[4:], tuple(int(x) for x in v)))
    return tuple(out)


def region_names(sessions: pd.DataFrame) -> list[str]:
    """The movement regions a sessions table names (its ``roi_<name>`` columns), in order.

    Raises
    ------
    InputError
        A ``roi_`` column whose name is empty or has characters other than letters, digits
        and ``_`` (the name becomes the ``motion_<name>`` column).

    Examples
    --------
    >>> region_names(pd.DataFrame(columns=["session", "roi", "roi_body", "roi_wheel"]))
    ['body', 'wheel']
    """
    out = []
    for c in map(str, sessions.columns):
        if not c.startswith(REGION_PREFIX) or c in ROI_COLUMNS:
            continue
        name = c.removeprefix(REGION_PREFIX)
        if not _REGION_NAME.fullmatch(name):
            raise InputError(f"header (row 1): column '{c}': a region's name (after roi_) "
                             "must be letters, digits or _, e.g. roi_body")
        if f"motion_{name}" in _RESERVED_MOTION:
            raise InputError(f"header (row 1): column '{c}': region '{name}' would write "
                             f"motion_{name}, a column mouseface writes itself (the face's "
                             "motion energy): rename it, e.g. roi_body")
        out.append(name)
    return out


def _region_cell(value: object, i: int, name: str, path) -> tuple[int, int, int, int] | None:
    try:
        return parse_roi(value)
    except ValueError as e:
        raise InputError(f"{_row(i)}: malformed roi_{name} '{value}' (region '{name}'): {e} "
                         "in frame pixels, e.g. 0,160,96,30", path) from None


def _file_cell(value: object, i: int, base: Path, path, what: str) -> str | None:
    """A cell naming a file (relative to ``base``): its absolute path, None when empty."""
    if _empty(value):
        return None
    p = Path(str(value).strip()).expanduser()
    p = Path(os.path.abspath(p if p.is_absolute() else base / p))
    if not p.is_file():
        raise InputError(f"{_row(i)}: {what} not found: {p}", path)
    return str(p)


def read_poses_table(table: Table, sessions: pd.DataFrame) -> pd.DataFrame:
    """Read the table naming each session's pose file (``run --poses``).

    Parameters
    ----------
    table
        CSV, TSV or Parquet file (or a DataFrame) with ``session`` and ``poses`` (a pose file;
        a relative path is relative to the table's folder) and optionally ``individual`` (the
        animal of a multi-animal file). Sessions it does not name have no poses.
    sessions
        The sessions table (:func:`read_sessions`): every session named must be in it.

    Returns
    -------
    pandas.DataFrame
        ``session``, ``poses`` (absolute path), ``individual`` (str or None), one row per
        session with poses.

    Raises
    ------
    InputError
        One line naming the table, the row and the problem.
    """
    if isinstance(table, pd.DataFrame):
        df, base, path = table.reset_index(drop=True), Path("."), table_name(table, "poses")
        df.columns = [str(c).strip() for c in df.columns]
    else:
        path = Path(table)
        df, base = read_table(path), path.parent
    _require(df, ("session", "poses"), path)
    names = _text(df["session"], "session", path)
    check_unique(names, "session", path)
    known = set(sessions["session"].astype(str))
    rows = []
    for i, (s, f) in enumerate(zip(names, df["poses"], strict=True)):
        if s not in known:
            raise InputError(f"{_row(i)}: session '{s}' is not in the sessions table", path)
        pose = _file_cell(f, i, base, path, "pose file")
        if pose is None:
            continue
        ind = df["individual"].iloc[i] if "individual" in df.columns else None
        rows.append({"session": s, "poses": pose,
                     "individual": None if _empty(ind) else str(ind).strip()})
    return pd.DataFrame(rows, columns=["session", "poses", "individual"])


def check_region(
    sessions: pd.DataFrame, i: int, name: str, frame_shape: tuple[int, int],
    path: str | Path | None = None,
) -> tuple[int, int, int, int] | None:
    """Check that region ``name`` of row ``i`` of a sessions table lies inside its frame.

    Call it where the session's video is opened, with the frame's ``(H, W)``.

    Parameters
    ----------
    sessions : DataFrame
        The table from :func:`read_sessions` (index ``0..n-1`` as in the file).
    i : int
        Row position (0 = the first data row, row 2 of the file).
    name : str
        The region (column ``roi_<name>``).
    frame_shape : (int, int)
        ``(H, W)`` of the session's video frames.
    path : path, optional
        The sessions table, named in the message.

    Returns
    -------
    (x, y, w, h) or None
        None when the session has no such region (empty cell, or no such column).

    Raises
    ------
    InputError
        ``sessions.csv: row 3: roi_body (x, y, w, h) = (0, 150, 96, 30) lies outside the
        160x160 frame (width x height) of m1_fear.mp4``.
    """
    col = REGION_PREFIX + name
    if col not in sessions.columns:
        return None
    roi = sessions[col].iloc[i]
    if roi is None or (isinstance(roi, float) and math.isnan(roi)):
        return None
    x, y, w, h = (int(v) for v in (parse_roi(roi) if isinstance(roi, str) else roi))
    H, W = int(frame_shape[0]), int(frame_shape[1])
    if x + w > W or y + h > H:
        video = Path(str(sessions["video"].iloc[i])).name if "video" in sessions else "video"
        raise InputError(f"{_row(i)}: roi_{name} (x, y, w, h) = ({x}, {y}, {w}, {h}) lies "
                         f"outside the {W}x{H} frame (width x height) of {video}", path)
    return x, y, w, h


def _mask_cell(value: object, i: int, path) -> str | None:
    """A ``mask`` cell: regions of the crop to leave out (see :mod:`mouseface.features.masks`)."""
    if _empty(value):
        return None
    text = str(value).strip()
    try:
        parse_regions(text)
    except ValueError as e:
        raise InputError(f"{_row(i)}: bad mask: {e}", path) from None
    return text


def parse_roi(value: object) -> tuple[int, int, int, int] | None:
    """``"x,y,w,h"`` (spaces, brackets allowed) or a 4-sequence of integers -> tuple; empty -> None.

    Raises
    ------
    ValueError
        Not four integers, ``x`` or ``y`` negative, ``w`` or ``h`` not positive.
    """
    if _empty(value):
        return None
    if isinstance(value, str):
        parts = [p for p in re.split(r"[,\s;]+", value.strip().strip("()[]").strip()) if p]
    else:
        parts = list(value)  # type: ignore[call-overload]
    try:
        nums = [float(p) for p in parts]
    except (TypeError, ValueError):
        raise ValueError("expected four integers x,y,w,h") from None
    if len(nums) != 4 or not all(math.isfinite(n) and n == int(n) for n in nums):
        raise ValueError("expected four integers x,y,w,h")
    x, y, w, h = (int(n) for n in nums)
    if w <= 0 or h <= 0:
        raise ValueError(f"width and height must be positive, got w={w}, h={h}")
    if x < 0 or y < 0:
        raise ValueError(f"x and y must be 0 or more, got x={x}, y={y}")
    return x, y, w, h


def check_roi(
    roi: Sequence[int] | str | None, frame_shape: tuple[int, int], path: str | Path | None = None
) -> tuple[int, int, int, int]:
    """Check that ``roi = (x, y, w, h)`` lies inside a frame of ``frame_shape = (H, W)``.

    Returns the ROI as a tuple of ints; ``None`` means the whole frame ``(0, 0, W, H)``.

    Raises
    ------
    InputError
        Malformed ROI, or one reaching outside the frame (the message gives both).
    """
    H, W = int(frame_shape[0]), int(frame_shape[1])
    try:
        parsed = parse_roi(roi)
    except ValueError as e:
        raise InputError(f"bad ROI {roi!r}: {e}", path) from None
    if parsed is None:
        return 0, 0, W, H
    x, y, w, h = parsed
    if x + w > W or y + h > H:
        raise InputError(f"ROI (x, y, w, h) = ({x}, {y}, {w}, {h}) lies outside the {W}x{H} "
                         "frame (width x height)", path)
    return parsed


def _roi_cell(value: object, i: int, path) -> tuple[int, int, int, int] | None:
    try:
        return parse_roi(value)
    except ValueError as e:
        raise InputError(f"{_row(i)}: malformed roi '{value}': {e} in pixels, "
                         "e.g. 540,150,230,180", path) from None


# --------------------------------------------------------------------------- speed


def read_speed(path: str | Path) -> pd.DataFrame:
    """Read a running-speed or wheel-encoder table: ``time`` and one value column.

    Parameters
    ----------
    path
        CSV, TSV or Parquet with ``time`` in seconds **on the video clock** (0 = the video's
        first frame) and one numeric value column (running speed, wheel velocity, encoder
        counts per sample...; its sign is ignored). A column named ``speed`` is taken when
        there are several others.

    Returns
    -------
    DataFrame
        ``time`` (float64, increasing) and ``speed`` (float64, NaN where the cell is empty);
        ``attrs["column"]`` is the value column's name in the file.

    Raises
    ------
    InputError
        Missing ``time``, no or several value columns, non-numeric or non-finite times,
        times not increasing, fewer than 2 rows.
    """
    path = Path(path)
    df = read_table(path)
    _require(df, ("time",), path)
    others = [c for c in df.columns if c != "time"]
    if "speed" in others:
        others = ["speed"]
    if len(others) != 1:
        raise InputError(f"header (row 1): expected time and one value column (e.g. speed), "
                         f"got {', '.join(map(str, df.columns))}", path)
    if len(df) < 2:
        raise InputError("a speed table needs at least 2 rows", path)
    time = _numbers(df["time"], "time", path)
    speed = _numbers(df[others[0]], str(others[0]), path, allow_empty=True)
    steps = np.diff(time)
    if (steps <= 0).any():
        i = int(np.flatnonzero(steps <= 0)[0]) + 1
        raise InputError(f"{_row(i)}: time {time[i]:g} s does not increase (previous row "
                         f"{time[i - 1]:g} s)", path)
    out = pd.DataFrame({"time": time, "speed": speed})
    out.attrs["column"] = str(others[0])
    return out


def check_overlap(
    time: np.ndarray, start: float, stop: float, path: str | Path | None = None,
    what: str = "the video",
) -> float:
    """Fraction of ``[start, stop]`` (a video's span, seconds) that a table's ``time`` covers.

    Raises
    ------
    InputError
        When they do not overlap at all (one line naming both spans).
    """
    t = np.asarray(time, dtype=np.float64)
    lo, hi = float(t.min()), float(t.max())
    overlap = min(hi, stop) - max(lo, start)
    if overlap <= 0:
        raise InputError(f"covers {lo:g}-{hi:g} s but {what} runs {start:g}-{stop:g} s: they "
                         "do not overlap (time must be seconds on the video clock, 0 = its "
                         "first frame)", path)
    return overlap / max(stop - start, 1e-12)


# --------------------------------------------------------------------------- events


def validate_events(
    df: pd.DataFrame, sessions: pd.DataFrame | None = None, *, path: str | Path | None = None
) -> pd.DataFrame:
    """Check and complete an events table already in memory (see :func:`read_events`)."""
    df = df.reset_index(drop=True).copy()
    df.columns = [str(c).strip() for c in df.columns]
    _require(df, EVENT_COLUMNS, path)
    session = _text(df["session"], "session", path)
    if sessions is not None:
        known = set(sessions["session"].astype(str))
        for i, s in enumerate(session):
            if s not in known:
                listed = ", ".join(sorted(known)[:5]) + (", ..." if len(known) > 5 else "")
                raise InputError(f"{_row(i)}: unknown session '{s}' (the sessions table has: "
                                 f"{listed})", path)
    onset = _numbers(df["onset"], "onset", path)
    duration = _numbers(df["duration"], "duration", path)
    for i, d in enumerate(duration):
        if d < 0:
            raise InputError(f"{_row(i)}: negative duration {d:g} s", path)
        if d == 0:
            raise InputError(f"{_row(i)}: duration 0 s: a trial is scored over its stimulus "
                             "window [onset, onset + duration), and an empty one has no frames "
                             "(BIDS impulse events): give each event the seconds its stimulus "
                             "or response lasts", path)
    trial_type = _text(df["trial_type"], "trial_type", path)
    for i, t in enumerate(trial_type):
        if t.casefold() == NEUTRAL:
            raise InputError(f"{_row(i)}: trial_type '{t}' is reserved: '{NEUTRAL}' names the "
                             "baseline frames before every onset and their prototype; rename "
                             "the condition (e.g. neutral_stimulus)", path)
    _check_reserved_columns(df, path)
    kinds = set(trial_type)
    for i, t in enumerate(trial_type):
        if t.startswith("mean_") and t.removeprefix("mean_") in kinds:
            raise InputError(f"{_row(i)}: trial_type '{t}' beside '{t.removeprefix('mean_')}': "
                             f"both would write the column grade_{t} of trials.csv; rename "
                             "one", path)
    if sessions is not None and "animal" in df.columns:
        _check_animals(df["animal"], session, sessions, path)
    df["session"] = pd.Series(session, dtype=object).astype(str)
    df["onset"] = onset
    df["duration"] = duration
    df["trial_type"] = pd.Series(trial_type, dtype=object).astype(str)

    event = np.arange(len(df), dtype=np.int64)
    order = df.assign(_event=event).sort_values(["session", "trial_type", "onset", "_event"],
                                                kind="stable")
    trial = np.empty(len(df), np.int64)
    trial[order.index.to_numpy()] = order.groupby(["session", "trial_type"], sort=False)\
        .cumcount().to_numpy()
    for name, values in (("trial", trial), ("event", event)):
        if name in df.columns:
            given = pd.to_numeric(df[name], errors="coerce").to_numpy()
            if not np.array_equal(given, values):
                raise InputError(f"header (row 1): column '{name}' is reserved (mouseface "
                                 "numbers trials and events itself): rename it", path)
        df[name] = values
    _check_windows_apart(df, path)
    if sessions is not None:
        _check_frames_not_shared(df, sessions, path)
    return df


#: Columns ``trials.csv`` writes beside the events' own (see :mod:`mouseface.expressions.windows`
#: for the window counts): an events table may not bring its own.
TRIAL_OUTPUT_COLUMNS = ("n_frames", "n_baseline", "window_flag")
#: the paper's scores (``score_``, ``peak_``, per prototype), the expression-axis grades
#: (``grade_``, ``grade_mean_``, per condition) and the facial action units (``au_``, per unit)
TRIAL_OUTPUT_PREFIXES = ("score_", "peak_", "grade_", "au_")


def event_columns(trials: pd.DataFrame) -> list[str]:
    """The columns of ``trials`` that came with the events (not written by a run)."""
    return [c for c in trials.columns if not (str(c).startswith(TRIAL_OUTPUT_PREFIXES)
                                              or c in TRIAL_OUTPUT_COLUMNS)]


def _check_reserved_columns(df: pd.DataFrame, path) -> None:
    for c in map(str, df.columns):
        if c in TRIAL_OUTPUT_COLUMNS or c.startswith(TRIAL_OUTPUT_PREFIXES):
            raise InputError(f"header (row 1): column '{c}' is reserved (trials.csv writes "
                             "it: score_<p>, peak_<p>, grade_<c>, au_<name>, n_frames, n_baseline, "
                             "window_flag): "
                             "rename it", path)


def _check_animals(animal: pd.Series, session: list[str], sessions: pd.DataFrame,
                   path) -> None:
    """An events ``animal`` column must say what the sessions table says (prototypes are fitted
    per the sessions table's animal; trials.csv carries the events' column)."""
    known = dict(zip(sessions["session"].astype(str), sessions["animal"].astype(str),
                     strict=True))
    for i, (s, a) in enumerate(zip(session, animal.tolist(), strict=True)):
        a = str(a).strip()
        if s in known and a != known[s]:
            raise InputError(f"{_row(i)}: animal '{a}' but the sessions table gives session "
                             f"'{s}' animal '{known[s]}': drop the events' animal column or "
                             "make them agree", path)


def _check_windows_apart(events: pd.DataFrame, path) -> None:
    """No two events of a session share stimulus frames: a duplicated row would be scored with
    a prototype built from its own copy (cross-fitting defeated), and a frame of two windows has
    no one label."""
    for session, ev in events.groupby("session", sort=False):
        ev = ev.sort_values(["onset", "event"], kind="stable")
        on, end = ev["onset"].to_numpy(), (ev["onset"] + ev["duration"]).to_numpy()
        rows, kinds = ev["event"].to_numpy(), ev["trial_type"].to_numpy()
        last = 0  # the earlier event reaching furthest
        for k in range(1, len(ev)):
            j = last
            if on[k] == on[j] and end[k] == end[j] and kinds[k] == kinds[j]:
                a, b = sorted((rows[j], rows[k]))
                raise InputError(f"{_row(b)}: duplicate event: same session, onset and "
                                 f"trial_type as {_row(a)} (a duplicated trial would be "
                                 "cross-fitted against its own copy): remove one", path)
            if on[k] < end[j]:
                a, b = sorted((j, k), key=lambda x: rows[x])
                raise InputError(
                    f"{_row(rows[b])}: stimulus window {on[b]:g}-{end[b]:g} s overlaps "
                    f"{_row(rows[a])}'s ({on[a]:g}-{end[a]:g} s) in session '{session}'"
                    ": each frame belongs to one trial (onsets and durations are seconds, "
                    "not ms)", path)
            if end[k] > end[last]:
                last = k


def _overlap(a: tuple | None, b: tuple | None) -> bool:
    """Whether two ROIs ``(x, y, w, h)`` share pixels (None: the whole frame)."""
    if a is None or b is None:
        return True
    return (max(a[0], b[0]) < min(a[0] + a[2], b[0] + b[2])
            and max(a[1], b[1]) < min(a[1] + a[3], b[1] + b[3]))


def _check_frames_not_shared(events: pd.DataFrame, sessions: pd.DataFrame, path) -> None:
    """Two sessions of one animal on one video with overlapping ROIs and stimulus windows read
    the same frames: a trial of one would be cross-fitted against its copy in the other."""
    info = sessions.set_index(sessions["session"].astype(str))
    real = {v: os.path.realpath(v) for v in info["video"].unique()}
    by_key: dict[tuple, list[str]] = {}
    for s in info.index:
        by_key.setdefault((real[info.at[s, "video"]], str(info.at[s, "animal"])), []).append(s)
    groups = [g for g in by_key.values() if len(g) > 1]
    if not groups:
        return
    spans = {s: (ev["onset"].to_numpy(), (ev["onset"] + ev["duration"]).to_numpy(),
                 ev["event"].to_numpy())
             for s, ev in events.groupby("session", sort=False)}
    for group in groups:
        for i, a in enumerate(group):
            for b in group[i + 1:]:
                if a not in spans or b not in spans or \
                        not _overlap(info.at[a, "roi"], info.at[b, "roi"]):
                    continue
                (on_a, end_a, ev_a), (on_b, end_b, ev_b) = spans[a], spans[b]
                hit = (on_a[:, None] < end_b[None, :]) & (end_a[:, None] > on_b[None, :])
                if hit.any():
                    j, k = np.argwhere(hit)[0]
                    r1, r2 = sorted((int(ev_a[j]), int(ev_b[k])))
                    raise InputError(
                        f"rows {r1 + _FIRST_ROW} and {r2 + _FIRST_ROW}: sessions '{a}' and "
                        f"'{b}' of animal '{info.at[a, 'animal']}' read the same frames "
                        f"(video {Path(info.at[a, 'video']).name}, overlapping ROIs and "
                        "stimulus windows): a trial would be cross-fitted against its own "
                        "copy; keep one session, or give them ROIs or times that do not "
                        "overlap", path)


def check_events_within(
    events: pd.DataFrame, session: str, duration_s: float, path: str | Path | None = None
) -> None:
    """Raise when an event of ``session`` starts before the first frame or after the video ends,
    or lasts longer than the whole video (durations in ms).

    ``events`` is the table from :func:`read_events` (or its rows for ``session``);
    ``duration_s`` the video's length in seconds.
    """
    rows = events[events["session"].astype(str) == str(session)]
    for pos, (idx, onset) in enumerate(zip(rows.index, rows["onset"], strict=True)):
        i = int(rows["event"].iloc[pos]) if "event" in rows.columns else int(idx)
        if onset > duration_s:
            raise InputError(f"{_row(i)}: onset {onset:g} s is beyond the end of session "
                             f"'{session}' (its video lasts {duration_s:g} s)", path)
        if onset < 0:
            raise InputError(f"{_row(i)}: onset {onset:g} s is before the first frame of "
                             f"session '{session}'", path)
        d = float(rows["duration"].iloc[pos])
        if d > duration_s:
            raise InputError(f"{_row(i)}: duration {d:g} s is longer than the whole video of "
                             f"session '{session}' ({duration_s:g} s): onsets and durations "
                             "are seconds (not ms or frames)", path)


def check_sessions_in_video(rows, info, events: pd.DataFrame, *,
                            pixels_per_cell: tuple[int, int], cells_per_block: tuple[int, int],
                            sessions_path: str | Path, events_path=None) -> None:
    """The sessions of one video against the open video, before any frame is decoded: every
    ROI (and extra region) inside the frame and at least one HOG block large, every event of
    theirs inside the video.

    ``rows`` are the sessions' table rows (named tuples), ``info`` the video's
    :class:`~mouseface.io.video.VideoInfo`.
    """
    duration = info.n_frames / info.fps if info.fps else float("inf")
    for row in rows:
        video = Path(row.video).name
        roi = parse_roi(getattr(row, "roi", None))
        for name, region in (("ROI", roi), *((f"roi_{n}", r) for n, r in motion_regions(row))):
            try:
                check_roi(region, info.frame_shape)
            except InputError as exc:
                raise InputError(f"session {row.session!r}: {name} of video {video}: "
                                 f"{exc.problem}", sessions_path) from None
        h, w = info.frame_shape if roi is None else (roi[3], roi[2])
        cell, cells = pixels_per_cell, cells_per_block
        need_h, need_w = cell[0] * cells[0], cell[1] * cells[1]
        if h < need_h or w < need_w:
            raise InputError(f"session {row.session!r}: its ROI of {w}x{h} px (video {video}) "
                             f"is smaller than one HOG block of {need_w}x{need_h} px "
                             f"(pixels_per_cell {cell[1]}x{cell[0]}, cells_per_block "
                             f"{cells[1]}x{cells[0]}): give a larger ROI or smaller "
                             "[hog] pixels_per_cell", sessions_path)
        if events_path is not None:
            check_events_within(events, row.session, duration, events_path)


def check_events_in_frames(events: pd.DataFrame, times: dict[str, np.ndarray],
                           path: str | Path) -> None:
    """Every event inside its session's frames, from the frame times the decoder found
    (``times``: session -> seconds; a truncated file ends before its container says)."""
    for session, ev in events.groupby("session", sort=False):
        t = times[session]
        duration = float(t[-1] + (np.median(np.diff(t)) if len(t) > 1 else 0.0)) if len(t) else 0
        check_events_within(ev, session, duration, path)


# --------------------------------------------------------------------------- helpers


def _require(df: pd.DataFrame, columns: Sequence[str], path) -> None:
    missing = sorted(set(columns) - set(df.columns))
    if missing:
        present = ", ".join(map(str, df.columns)) or "no columns"
        raise InputError(f"header (row 1): missing column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (the table has: {present})", path)


def _empty(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _text(column: pd.Series, name: str, path) -> list[str]:
    """Cells as stripped strings; an empty cell is an error naming its row."""
    out = []
    for i, v in enumerate(column.tolist()):
        if _empty(v):
            raise InputError(f"{_row(i)}: empty {name}", path)
        if isinstance(v, float) and math.isfinite(v) and v == int(v):
            v = int(v)  # a numeric id column read as float
        out.append(str(v).strip())
    return out


def _numbers(column: pd.Series, name: str, path, *, allow_empty: bool = False) -> np.ndarray:
    """Cells as float64; non-numeric (or empty, unless allowed) cells are errors."""
    values = column.tolist()
    out = np.empty(len(values), np.float64)
    for i, v in enumerate(values):
        if _empty(v):
            if not allow_empty:
                raise InputError(f"{_row(i)}: {name} is empty", path)
            out[i] = np.nan
            continue
        try:
            f = float(v.strip() if isinstance(v, str) else v)
        except (TypeError, ValueError):
            raise InputError(f"{_row(i)}: {name} '{v}' is not a number", path) from None
        if math.isnan(f) and not allow_empty:
            raise InputError(f"{_row(i)}: {name} is NaN", path)
        if math.isinf(f):
            raise InputError(f"{_row(i)}: {name} is infinite", path)
        out[i] = f
    return out


_NUM = r"-?\d+(?:\.\d+)?"


_Regions = tuple[list[tuple[float, float, float, float]], list[list[tuple[float, float]]]]


def parse_regions(text: str | None) -> _Regions:
    """Read masks written in a table cell or a config string.

    Regions are separated by ``;``. Four numbers ``x,y,w,h`` are a rectangle; an even number
    of six or more are the vertices ``x1,y1,x2,y2,...`` of a polygon. A rectangle may also be
    written ``rect:x,y,w,h`` and a polygon ``poly:x1,y1,...``. Empty text gives no regions.

    Examples
    --------
    >>> parse_regions("60,40,20,24; poly:0,0,10,0,0,10")
    ([(60.0, 40.0, 20.0, 24.0)], [[(0.0, 0.0), (10.0, 0.0), (0.0, 10.0)]])
    """
    rects: list[tuple[float, float, float, float]] = []
    polys: list[list[tuple[float, float]]] = []
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return rects, polys
    for part in str(text).split(";"):
        part = part.strip()
        if not part:
            continue
        kind = None
        if ":" in part:
            kind, part = (s.strip() for s in part.split(":", 1))
            if kind not in ("rect", "poly"):
                raise ValueError(f"unknown region kind {kind!r} in {text!r}: use rect: or poly:")
        nums = re.findall(_NUM, part)
        if len(re.sub(_NUM, "", part).replace(",", "").split()) or not nums:
            raise ValueError(f"cannot read region {part!r} in {text!r}: expected numbers "
                             "separated by commas")
        v = [float(n) for n in nums]
        if (kind == "rect" or (kind is None and len(v) == 4)) and len(v) == 4:
            rects.append((v[0], v[1], v[2], v[3]))
        elif kind != "rect" and len(v) >= 6 and len(v) % 2 == 0:
            polys.append(list(zip(v[0::2], v[1::2], strict=True)))
        else:
            raise ValueError(f"region {part!r} in {text!r}: a rectangle has 4 numbers "
                             "(x,y,w,h), a polygon an even number >= 6 (x1,y1,x2,y2,...)")
    return rects, polys

