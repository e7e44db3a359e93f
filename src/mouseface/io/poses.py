"""Pose files in, as ``movement`` datasets: DeepLabCut, SLEAP, Lightning Pose and Facemap.

Every pose file becomes one container, ``movement``'s poses dataset (``position`` with dims
``time, space, keypoints, individuals`` and ``confidence`` with ``time, keypoints,
individuals``; ``time`` in seconds when ``fps`` is given, else in frames). ``movement`` reads
the formats it knows; this module only picks the loader from the file and adds what
``movement`` lacks:

- **Facemap**'s keypoint ``.h5`` (``<video>_FacemapPose.h5``): an HDF5 group per scorer
  (``Facemap``), a group per keypoint, and ``x``, ``y``, ``likelihood`` arrays of one value
  per frame (:func:`from_facemap_file`; :func:`to_facemap_file` writes that layout);
- DeepLabCut's **labelled-data** tables (``CollectedData_<scorer>.csv/.h5``, hand labels of
  extracted frames: three index columns, no likelihood), which ``movement``'s file validators
  refuse: read with pandas and handed to ``movement.io.load_poses.from_dlc_style_df``.

Then :func:`clean_poses` turns points below a likelihood threshold into NaN and interpolates
gaps up to a limit, and reports what it did per keypoint; :func:`check_length` checks that the
poses and the video have as many frames.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError

#: the pose formats :func:`read_poses` reads, and the files each writes
FORMATS: dict[str, str] = {
    "DeepLabCut": ".h5 or .csv (analysed videos and labelled data, single or multi-animal)",
    "SLEAP": ".slp or analysis .h5",
    "LightningPose": ".csv",
    "Facemap": "_FacemapPose.h5",
}
#: DeepLabCut's default ``pcutoff`` (and ``movement``'s default threshold)
DEFAULT_MIN_LIKELIHOOD = 0.6
#: frames of a gap filled by interpolation (0.1-0.2 s at common frame rates)
DEFAULT_MAX_GAP = 5

_DLC_HEADER = ("scorer", "individuals", "bodyparts", "coords")


def _movement_quiet():
    """``movement``'s loaders log every refusal to stderr (loguru) before raising; the user
    gets our one line instead."""
    from loguru import logger

    logger.disable("movement")


def _unknown(path: Path, why: str = "") -> InputError:
    known = "; ".join(f"{k} {v}" for k, v in FORMATS.items())
    return InputError(f"unknown pose format{': ' + why if why else ''} (known: {known})", path)


def _h5_kind(path: Path) -> str:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            keys = set(f.keys())
            if "df_with_missing" in keys:
                return "dlc"
            if {"tracks", "node_names"} <= keys:
                return "sleap"
            for k in keys:  # Facemap: scorer / keypoint / x, y, likelihood
                g = f[k]
                if isinstance(g, h5py.Group) and g.keys() and all(
                        isinstance(g[b], h5py.Group) and {"x", "y"} <= set(g[b].keys())
                        for b in g):
                    return "facemap"
            if any("pandas_type" in f[k].attrs for k in keys):
                return "pandas"  # a DataFrame stored by pandas under another key
    except OSError as exc:
        raise InputError(f"not an HDF5 file ({exc})", path) from None
    return ""


def _csv_header(path: Path) -> tuple[int, int]:
    """(header rows, index columns) of a DeepLabCut-style CSV, or (0, 0)."""
    with open(path, newline="") as fh:
        rows = [r for _, r in zip(range(4), csv.reader(fh), strict=False)]
    n = 0
    while n < len(rows) and rows[n] and rows[n][0].strip().lower() in _DLC_HEADER:
        n += 1
    if n < 3 or rows[n - 1][0].strip().lower() != "coords":
        return 0, 0
    first = rows[0]
    k = 1
    while k < len(first) and not first[k].strip():
        k += 1
    return n, k


def _from_dlc_table(df: pd.DataFrame, fps, source: str):
    """A DeepLabCut-style table (any index) through ``movement``'s converter."""
    from movement.io import load_poses

    names = [n if n in _DLC_HEADER else None for n in df.columns.names]
    if len(names) == 3:
        names = ["scorer", "bodyparts", "coords"]
    elif len(names) == 4:
        names = ["scorer", "individuals", "bodyparts", "coords"]
    df = df.copy()
    df.columns = df.columns.set_names(names)
    frames = [str(i if not isinstance(i, tuple) else i[-1]) for i in df.index]
    ds = load_poses.from_dlc_style_df(df.astype(np.float64), fps=fps, source_software=source)
    ds.attrs["frame_labels"] = frames
    return ds


def read_poses(path: str | Path, *, source_software: str | None = None,
               fps: float | None = None, individual: str | None = None):
    """Read a pose file into a ``movement`` poses dataset.

    Parameters
    ----------
    path : path
        DeepLabCut ``.h5``/``.csv`` (analysed video or labelled data), SLEAP ``.slp`` or
        analysis ``.h5``, Lightning Pose ``.csv``, Facemap ``_FacemapPose.h5``.
    source_software : {"DeepLabCut", "SLEAP", "LightningPose", "Facemap"}, optional
        Default: from the file (a DeepLabCut-style CSV is read as DeepLabCut; Lightning Pose
        writes the same table, so say ``"LightningPose"`` for the dataset's attrs).
    fps : float, optional
        Frame rate: ``time`` in seconds; else in frames.
    individual : str, optional
        Keep only this individual (a multi-animal file); the dataset keeps the
        ``individuals`` dimension with one entry.

    Returns
    -------
    xarray.Dataset
        ``position`` (time, space, keypoints, individuals), ``confidence`` (time, keypoints,
        individuals; NaN where the file has no likelihood, e.g. hand labels).

    Raises
    ------
    InputError
        A missing file, an unknown format, or an individual the file does not hold.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("pose file not found", path)
    if source_software is not None and source_software not in FORMATS:
        raise InputError(f"unknown pose software {source_software!r}; known: "
                         f"{', '.join(FORMATS)}", path)
    _movement_quiet()
    from movement.io import load_poses

    suffix = path.suffix.lower()
    try:
        if suffix == ".slp":
            ds = load_poses.from_sleap_file(path, fps=fps)
        elif suffix in (".h5", ".hdf5"):
            kind = _h5_kind(path)
            if kind == "facemap" or source_software == "Facemap":
                ds = from_facemap_file(path, fps=fps)
            elif kind == "sleap":
                ds = load_poses.from_sleap_file(path, fps=fps)
            elif kind == "dlc":
                ds = load_poses.from_dlc_file(path, fps=fps)
            elif kind == "pandas":
                ds = _from_dlc_table(pd.read_hdf(path), fps, source_software or "DeepLabCut")
            else:
                raise _unknown(path, "an HDF5 file with neither DeepLabCut's, SLEAP's nor "
                               "Facemap's layout")
        elif suffix == ".csv":
            n_header, n_index = _csv_header(path)
            if not n_header:
                raise _unknown(path, "a CSV without DeepLabCut's header rows (scorer, "
                               "bodyparts, coords)")
            source = source_software or "DeepLabCut"
            if n_index == 1 and source in ("DeepLabCut", "LightningPose"):
                loader = load_poses.from_lp_file if source == "LightningPose" else \
                    load_poses.from_dlc_file
                ds = loader(path, fps=fps)
            else:
                df = pd.read_csv(path, header=list(range(n_header)),
                                 index_col=list(range(n_index)))
                ds = _from_dlc_table(df, fps, source)
        else:
            raise _unknown(path, f"'{suffix or path.name}' files")
    except InputError:
        raise
    except (ValueError, KeyError, OSError, TypeError) as exc:
        raise InputError(f"could not read the poses ({str(exc).splitlines()[0]})",
                         path) from None
    if source_software is not None:
        ds.attrs["source_software"] = source_software
    ds.attrs["source_file"] = str(path)
    if individual is not None:
        names = [str(i) for i in ds["individuals"].values]
        if individual not in names:
            raise InputError(f"no individual '{individual}' (the file has: "
                             f"{', '.join(names)})", path)
        ds = ds.sel(individuals=[individual])
    return ds


def one_individual(ds, path: str | Path | None = None):
    """The dataset's only individual, or an error naming them when there are several."""
    names = [str(i) for i in ds["individuals"].values]
    if len(names) > 1:
        raise InputError(f"{len(names)} individuals ({', '.join(names)}): choose one with "
                         "--individual", path)
    return ds


# ---------------------------------------------------------------------------- Facemap


def from_facemap_file(path: str | Path, fps: float | None = None):
    """Read Facemap's keypoint file (``<video>_FacemapPose.h5``) into a ``movement`` dataset.

    Facemap (Syeda et al. 2024) writes one HDF5 group per scorer (``Facemap``), in it one
    group per keypoint (``eye(back)``, ``nose(tip)``, ``whisker(I)``...) holding ``x``, ``y``
    and ``likelihood``, one value per frame. (Older Facemap versions wrote a DeepLabCut-style
    pandas table instead, which :func:`read_poses` reads as DeepLabCut.)

    Examples
    --------
    >>> import tempfile, os
    >>> xy = np.zeros((3, 2, 2)); xy[:, 1, 0] = 5.0               # (frames, keypoints, xy)
    >>> f = os.path.join(tempfile.mkdtemp(), "m_FacemapPose.h5")
    >>> _ = to_facemap_file(f, xy, ["eye(top)", "nose(tip)"], np.ones((3, 2)))
    >>> ds = from_facemap_file(f)
    >>> ds.position.sel(keypoints="nose(tip)", space="x").values.ravel().tolist()
    [5.0, 5.0, 5.0]
    """
    import h5py

    path = Path(path)
    _movement_quiet()
    from movement.io import load_poses

    with h5py.File(path, "r") as f:
        scorers = [k for k in f if isinstance(f[k], h5py.Group)]
        if len(scorers) != 1:
            raise InputError(f"expected one scorer group in a Facemap file, found "
                             f"{len(scorers)}", path)
        g = f[scorers[0]]
        names = list(g.keys())
        xy = np.stack([np.stack([np.asarray(g[n]["x"], np.float64),
                                 np.asarray(g[n]["y"], np.float64)], axis=-1)
                       for n in names], axis=1)              # (time, keypoints, space)
        conf = np.stack([np.asarray(g[n]["likelihood"], np.float64) if "likelihood" in g[n]
                         else np.full(len(xy), np.nan) for n in names], axis=1)
    ds = load_poses.from_numpy(xy.transpose(0, 2, 1)[..., None], conf[..., None],
                               individual_names=["individual_0"], keypoint_names=names,
                               fps=fps, source_software="Facemap")
    return ds


def to_facemap_file(path: str | Path, position: np.ndarray, keypoints: list[str],
                    likelihood: np.ndarray | None = None, *, scorer: str = "Facemap") -> Path:
    """Write keypoints in Facemap's ``.h5`` layout (what :func:`from_facemap_file` reads).

    ``position`` is (frames, keypoints, 2) in pixels; ``likelihood`` (frames, keypoints).
    """
    import h5py

    from mouseface._atomic import atomic_path

    position = np.asarray(position, np.float64)
    if likelihood is None:
        likelihood = np.ones(position.shape[:2])
    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for i, name in enumerate(keypoints):
            f[f"{scorer}/{name}/x"] = position[:, i, 0]
            f[f"{scorer}/{name}/y"] = position[:, i, 1]
            f[f"{scorer}/{name}/likelihood"] = np.asarray(likelihood)[:, i]
    return path


# ---------------------------------------------------------------------------- cleaning


def clean_poses(ds, *, min_likelihood: float | None = DEFAULT_MIN_LIKELIHOOD,
                max_gap: int | None = DEFAULT_MAX_GAP, path: str | Path | None = None):
    """Points below ``min_likelihood`` become NaN; gaps of up to ``max_gap`` frames are
    interpolated linearly (``movement.filtering``); what was done is reported.

    Parameters
    ----------
    ds : xarray.Dataset
        A ``movement`` poses dataset.
    min_likelihood : float or None, default=0.6
        DeepLabCut's default ``pcutoff``. Likelihoods are not comparable between trackers
        (Facemap's are heatmap peaks, often lower): set it per tracker. None, or a file with
        no likelihood (hand labels), keeps every point.
    max_gap : int or None, default=5
        Longest run of missing frames filled; longer gaps stay NaN. 0 or None fills nothing.

    Returns
    -------
    (xarray.Dataset, pandas.DataFrame)
        The cleaned dataset and one row per keypoint: ``keypoint``, ``frames``,
        ``below_threshold`` (frames dropped for low likelihood), ``missing`` (NaN before
        filling), ``filled``, ``left`` (NaN after).

    Raises
    ------
    InputError
        Every point is below the threshold (the message gives the highest likelihood).
    """
    import xarray as xr

    # numbagg (which movement brings) compiles xarray's filling in every process: minutes
    with xr.set_options(use_numbagg=False, use_bottleneck=True):
        return _clean_poses(ds, min_likelihood, max_gap, path)


def _clean_poses(ds, min_likelihood, max_gap, path):
    _movement_quiet()
    from movement.filtering import filter_by_confidence, interpolate_over_time

    pos = ds["position"]
    conf = ds.get("confidence", None)
    before = pos.isnull().any("space")
    has_conf = conf is not None and bool(np.isfinite(conf.values).any())
    if min_likelihood is not None and has_conf:
        finite = np.isfinite(pos.values).all(axis=1)
        ok = (conf.values >= min_likelihood) & finite
        if not ok.any():
            best = float(np.nanmax(np.where(finite, conf.values, np.nan)))
            raise InputError(f"every point is below the likelihood threshold {min_likelihood:g} "
                             f"(the highest is {best:.3g}): lower the threshold "
                             "(--min-likelihood)", path)
        pos = filter_by_confidence(pos, conf, threshold=min_likelihood)
    dropped = pos.isnull().any("space")
    filled_pos = interpolate_over_time(pos, max_gap=int(max_gap)) if max_gap else pos
    after = filled_pos.isnull().any("space")
    out = ds.copy()
    out["position"] = filled_pos
    below = (dropped & ~before).sum(("time", "individuals")).values
    report = pd.DataFrame({
        "keypoint": [str(k) for k in ds["keypoints"].values],
        "frames": ds.sizes["time"] * ds.sizes["individuals"],
        "below_threshold": below.astype(int),
        "missing": dropped.sum(("time", "individuals")).values.astype(int),
        "filled": (dropped & ~after).sum(("time", "individuals")).values.astype(int),
        "left": after.sum(("time", "individuals")).values.astype(int)})
    out.attrs["min_likelihood"] = (min_likelihood if has_conf and min_likelihood is not None
                                   else "none")
    out.attrs["max_gap"] = int(max_gap or 0)
    return out, report


def check_length(ds, n_frames: int, path: str | Path | None = None,
                 video: str | Path | None = None, *, tolerance: int = 0) -> None:
    """Raise when the poses and the video they belong to have different frame counts.

    ``tolerance``: how far ``n_frames`` may be off (a count estimated from the container's
    duration, :attr:`~mouseface.io.video.VideoReader.count_tolerance`): only a difference
    beyond it is refused, and the line says "about".
    """
    n = int(ds.sizes["time"])
    if abs(n - int(n_frames)) > tolerance:
        where = f" ({video})" if video else ""
        about = "about " if tolerance else ""
        raise InputError(f"the poses have {n} frames, the video{where} {about}{int(n_frames)}: "
                         "they must come from the same video, frame for frame", path)


# ---------------------------------------------------------------------------- aligned poses


def _netcdf_attr(value):
    """An attribute netCDF stores: numbers and strings as they are, the rest as JSON."""
    import json

    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float, str, np.integer, np.floating)):
        return value
    return json.dumps(value, default=str)


def _netcdf_engine() -> str:
    """The netCDF engine, imported with its compiled extension's numpy-size warning silenced
    (numpy ignores it by default; a stage that records every warning would keep it)."""
    import warnings

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="numpy.ndarray size changed",
                                category=RuntimeWarning)
        import netCDF4  # noqa: F401
    return "netcdf4"


def write_session_poses(path: str | Path, ds, *, time: np.ndarray, frame: np.ndarray,
                        session: str, **attrs) -> Path:
    """Write one session's cleaned poses on its video's clock (``run --poses``).

    The file is a ``movement`` poses dataset in netCDF (``ds_type = "poses"``): ``position``
    (time, space, keypoints, individuals) and ``confidence``, with ``time`` the video's frame
    times in seconds (from ``frames.parquet``) and a ``frame`` coordinate along ``time`` (the
    frame index in the video, the ``frame`` column of ``frames.parquet``). ``movement`` reads it
    back with ``xarray.open_dataset`` (its napari widget loads it as "movement (netCDF)");
    :func:`read_session_poses` does the same and loads it into memory.

    Parameters
    ----------
    path : path
        Where (``ResultsLayout.pose_file(session)``).
    ds : xarray.Dataset
        The cleaned poses of one individual, one row per video frame.
    time, frame : array
        The video's time (s) and frame index of each row.
    session : str
        The session id (an attribute, with ``attrs``: values other than numbers and strings
        are stored as JSON).
    """
    from mouseface._atomic import atomic_path

    time = np.asarray(time, dtype=np.float64)
    if len(time) != ds.sizes["time"] or len(frame) != len(time):
        raise ValueError(f"{ds.sizes['time']} pose frames, {len(time)} times, {len(frame)} "
                         "frame indices")
    out = ds.assign_coords(time=time, frame=("time", np.asarray(frame, dtype=np.int64)))
    out.attrs = {k: _netcdf_attr(v) for k, v in {**ds.attrs, "session": str(session),
                                                  "time_unit": "seconds", **attrs}.items()
                 if v is not None}
    out.attrs["ds_type"] = "poses"
    with atomic_path(path) as tmp:
        out.to_netcdf(tmp, engine=_netcdf_engine())
    return Path(path)


def read_session_poses(path: str | Path):
    """A session's aligned poses (what :func:`write_session_poses` wrote), loaded into
    memory (the file is closed): a ``movement`` poses dataset with a ``frame`` coordinate."""
    import xarray as xr

    path = Path(path)
    if not path.is_file():
        raise InputError("no aligned poses (run with --poses writes them)", path)
    return xr.load_dataset(path, engine=_netcdf_engine())


def recorded_au_units(run: Mapping | None) -> dict[str, str]:
    """The unit of each ``au_<name>`` column as the run recorded it (``run.json``'s
    ``poses.animals.<animal>.units``: ``ratio``, ``deg``, ``px`` or ``mm`` with a scale).

    Examples
    --------
    >>> recorded_au_units({"poses": {"animals": {"m1": {"units": {"au_ear_angle": "deg"}}}}})
    {'au_ear_angle': 'deg'}
    """
    units: dict[str, str] = {}
    for a in (((run or {}).get("poses") or {}).get("animals") or {}).values():
        units.update(a.get("units") or {})
    return units


def position_array(ds, individual: int = 0) -> tuple[np.ndarray, list[str]]:
    """(time, keypoints, 2) float array of one individual and the keypoint names."""
    pos = ds["position"].isel(individuals=individual).transpose("time", "keypoints", "space")
    return (np.asarray(pos.values[..., :2], dtype=np.float64),
            [str(k) for k in ds["keypoints"].values])


def summary(report: pd.DataFrame) -> Mapping[str, int]:
    """Totals of a :func:`clean_poses` report."""
    return {k: int(report[k].sum()) for k in ("frames", "below_threshold", "missing",
                                              "filled", "left")}


__all__ = ["DEFAULT_MAX_GAP", "DEFAULT_MIN_LIKELIHOOD", "FORMATS", "check_length",
           "clean_poses", "from_facemap_file", "one_individual", "position_array",
           "read_poses", "read_session_poses", "recorded_au_units", "summary",
           "to_facemap_file", "write_session_poses"]
