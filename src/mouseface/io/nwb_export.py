"""NWB export of a results folder: one file per session, for archives (DANDI) and NWB tools.

What goes where in each ``<session>.nwb``:

=======================================================  ======================================
``acquisition/face_video``                               :class:`~pynwb.image.ImageSeries`,
                                                         ``format="external"``: a link to the
                                                         source video (``external_file``, path
                                                         relative to the NWB file) with the
                                                         video's frame timestamps (s); the ROI
                                                         in its description
``processing/behavior/expression_similarity/similarity_<p>``  one :class:`~pynwb.TimeSeries` per
                                                         prototype: Pearson r of each frame's
                                                         HOG with prototype ``p``; timestamps
                                                         linked to ``face_video``'s
``processing/behavior/expression_prototypes``            table: prototype name and its HOG
                                                         array (cells_y, cells_x, orientations)
``intervals/trials``                                     one row per event: ``start_time`` =
                                                         onset, ``stop_time`` = onset +
                                                         duration, every other events column,
                                                         ``score_<p>`` and ``peak_<p>``
``subject``                                              ``subject_id`` = the animal
=======================================================  ======================================

The HOG and prototype parameters (``hog``, ``prototypes`` settings of the run, the model's mode
and key, the mouseface version) are stored as JSON in each similarity series' ``comments``
(the NWB field for free-form notes about a series) and in the description of the
``expression_prototypes`` table.

The true start time of a recording is not in a results folder: by default
``session_start_time`` is the video file's modification time (UTC), and the file's ``notes``
say so; pass ``session_start_time`` to set it.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout
from mouseface.io.results import Results
from mouseface.io.store import FeatureStore

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
START_NOTE = ("session_start_time is the video file's modification time: the results folder "
              "does not record when the session was recorded")


def export_nwb(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    sessions: list[str] | None = None,
    session_start_time: _dt.datetime | Mapping[str, _dt.datetime] | None = None,
    species: str = "Mus musculus",
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """Write one NWB file per session of a results folder.

    Parameters
    ----------
    results_dir
        A folder ``mouseface run`` or ``score`` wrote (``frames.parquet``, ``features/``,
        ``model/``; ``trials.csv`` when there were events).
    out
        Folder for the ``<session>.nwb`` files; default ``results_dir/nwb``.
    sessions
        Sessions to export; default all.
    session_start_time
        One time for all sessions, or a mapping session to time; timezone-aware (a naive time
        is taken as UTC). Default: each video file's modification time.
    species
        ``Subject.species`` (Latin binomial, as DANDI asks).
    progress
        Called with each session id before it is written.

    Returns
    -------
    list of Path
        The files written, each to a temporary name first and then renamed into place.

    Raises
    ------
    InputError
        Not a results folder, an unknown session, or a session without feature store.
    """
    res = Results(results_dir, require=("frames",))
    out = Path(out) if out is not None else res.layout.nwb
    frames = res.frames
    known = list(dict.fromkeys(frames["session"]))
    sessions = known if sessions is None else [str(s) for s in sessions]
    missing = [s for s in sessions if s not in known]
    if missing:
        raise InputError(f"no sessions {missing} in frames.parquet", res.path)
    trials = res.trials if res.layout.trials.is_file() else None
    models, model_meta = _models(res.path)
    written = []
    for session in sessions:
        if progress is not None:
            progress(session)
        f = frames[frames["session"] == session]
        t = None if trials is None else trials[trials["session"] == session]
        start = (session_start_time.get(session) if isinstance(session_start_time, Mapping)
                 else session_start_time)
        nwbfile = session_nwb(res, session, f, t, models, model_meta, start, out,
                              species=species)
        path = out / ResultsLayout(out).nwb_file(session).name  # out: nwb/ or the user's
        _write(nwbfile, path)
        written.append(path)
    return written


def _models(path: Path) -> tuple[dict, dict]:
    from mouseface.io.model import has_model, load_model

    if not has_model(path):
        return {}, {}
    return load_model(path)


def _utc(t: _dt.datetime) -> _dt.datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=_dt.timezone.utc)


def _external_files(video: Path, n_frames: int) -> tuple[list[str], list[int]]:
    """``external_file`` and ``starting_frame`` of a video file or a folder of images."""
    if video.is_dir():
        import re

        def key(p: Path) -> list:
            return [int(x) if x.isdigit() else x.lower() for x in re.split(r"(\d+)", p.name)]

        images = sorted((p for p in video.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES),
                        key=key)[:n_frames]
        return [str(p) for p in images], list(range(len(images)))
    return [str(video)], [0]


def session_nwb(res: Results, session: str, frames: pd.DataFrame, trials: pd.DataFrame | None,
                models: dict, model_meta: dict, start: _dt.datetime | None, out: Path, *,
                species: str = "Mus musculus"):
    """The in-memory :class:`~pynwb.NWBFile` of one session (see the module for its layout).

    ``out`` is the folder the file will be written to: ``external_file`` paths are relative
    to it.
    """
    from hdmf.common import DynamicTable, VectorData
    from pynwb import NWBFile, TimeSeries
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.file import Subject
    from pynwb.image import ImageSeries

    store_path = res.layout.store(session)
    if not store_path.exists():
        raise InputError(f"session {session!r} has no features/{session}.zarr: its video, ROI "
                         "and HOG parameters are unknown", res.path)
    attrs = FeatureStore(store_path).attrs
    video = Path(str(attrs.get("video", "")))
    animal = str(frames["animal"].iloc[0])
    notes = []
    if start is None:
        if video.exists():
            start = _dt.datetime.fromtimestamp(video.stat().st_mtime, _dt.timezone.utc)
        else:
            start = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        notes.append(START_NOTE)
    run = res.run
    version = run.get("mouseface", "unknown")  # the version that made the results
    settings = run.get("settings") or model_meta.get("settings") or {}
    key = "pooled" if "pooled" in models else animal
    params = {
        "mouseface": version,
        "hog": attrs.get("params") or settings.get("hog"),
        "prototypes": settings.get("prototypes"),
        "model_mode": model_meta.get("mode"),
        "model_key": key if key in models else None,
        "feature_shape": model_meta.get("feature_shape"),
        "frames_note": run.get("frames_note"),
    }
    identity = json.dumps([session, attrs.get("fingerprint"), params], sort_keys=True)
    if run.get("frames_note"):
        notes.append(f"similarities: {run['frames_note']}")
    nwbfile = NWBFile(
        session_description=f"Facial expression similarities (mouseface {version}, "
                            f"method of Dolensek et al. 2020) of session {session}, "
                            f"animal {animal}",
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mouseface:{identity}")),
        session_start_time=_utc(start),
        session_id=session,
        notes="; ".join(notes) or None,
        source_script=f"mouseface {version} export-nwb",
        source_script_file_name="mouseface",
        subject=Subject(subject_id=animal, species=species),
    )
    time = frames["time"].to_numpy(dtype=np.float64)
    roi = attrs.get("roi")
    files, starting = _external_files(video, len(time))
    out = Path(out).resolve()
    rel = [os.path.relpath(Path(p).resolve(), start=out) for p in files]
    face = ImageSeries(
        name="face_video",
        external_file=rel,
        format="external",
        starting_frame=starting,
        timestamps=time,
        description=(f"Face camera video, external file(s): {', '.join(files[:3])}"
                     f"{' ...' if len(files) > 3 else ''}. mouseface used the ROI x,y,w,h = "
                     f"{roi} px (crop height x width {attrs.get('crop_shape')}). Timestamps: "
                     "seconds from the first frame, as decoded."),
        unit="n.a.",
    )
    nwbfile.add_acquisition(face)
    behavior = nwbfile.create_processing_module(
        "behavior", "Facial expressions of emotion states (mouseface): similarity of each "
        "frame's HOG to prototype expressions")
    comments = json.dumps(params)
    series = []
    names = [c.removeprefix("sim_") for c in frames.columns if c.startswith("sim_")]
    for name in names:
        series.append(TimeSeries(
            name=f"similarity_{name}",
            data=frames[f"sim_{name}"].to_numpy(dtype=np.float32),
            unit="Pearson r",
            timestamps=face,
            description=(f"Expression strength: Pearson r between each frame's HOG (of the "
                         f"face crop) and the '{name}' prototype"
                         + (f" of {key}" if key in models else "") + "; -1 to 1, NaN where "
                         "the animal has no such prototype."),
            comments=comments,
        ))
    behavior.add(BehavioralTimeSeries(name="expression_similarity", time_series=series))
    if key in models:
        proto_names, protos = models[key]
        shape = tuple(model_meta.get("feature_shape") or (protos.shape[1],))
        behavior.add(DynamicTable(
            name="expression_prototypes",
            description=("HOG prototypes the similarities were computed with, one row each; "
                         f"hog has shape (cells_y, cells_x, orientations) = {shape}. "
                         f"Parameters: {comments}"),
            columns=[
                VectorData(name="prototype", description="prototype name",
                           data=list(proto_names)),
                VectorData(name="hog", description="the prototype: mean HOG (float64)",
                           data=np.asarray(protos, np.float64).reshape(len(protos), *shape)),
            ]))
    if trials is not None and len(trials):
        _add_trials(nwbfile, trials)
    return nwbfile


_TRIAL_DESCRIPTIONS = {
    "trial_type": "condition of the event (events table)",
    "event": "row of the event in the events table (0-based)",
    "trial": "trial number within the animal's condition",
    "session": "session id",
    "animal": "animal id",
}


def _column_values(s: pd.Series) -> list:
    if pd.api.types.is_bool_dtype(s):
        return [bool(v) for v in s]
    if pd.api.types.is_integer_dtype(s):
        return [int(v) for v in s]
    if pd.api.types.is_numeric_dtype(s):
        return [float(v) for v in s]
    return ["" if pd.isna(v) else str(v) for v in s]


def _add_trials(nwbfile, trials: pd.DataFrame) -> None:
    t = trials.sort_values("onset", kind="stable")
    skip = {"onset", "duration"}
    columns = [c for c in t.columns if c not in skip]
    values = {c: _column_values(t[c]) for c in columns}
    for c in columns:
        if c.startswith("score_"):
            desc = (f"trial score for prototype {c[6:]}: mean similarity in the stimulus "
                    "window minus the mean in the baseline window (cross-fitted)")
        elif c.startswith("peak_"):
            desc = (f"peak similarity to prototype {c[5:]} in the stimulus window minus the "
                    "baseline mean")
        else:
            desc = _TRIAL_DESCRIPTIONS.get(c, f"events column {c!r}")
        nwbfile.add_trial_column(name=c, description=desc)
    onset = t["onset"].to_numpy(dtype=float)
    stop = onset + t["duration"].to_numpy(dtype=float)
    for i in range(len(t)):
        nwbfile.add_trial(start_time=float(onset[i]), stop_time=float(stop[i]),
                          **{c: values[c][i] for c in columns})


def _write(nwbfile, path: Path) -> None:
    """Write ``nwbfile`` to ``path`` atomically (a temporary name, then renamed)."""
    from pynwb import NWBHDF5IO

    with atomic_path(path) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)


def read_session(path: str | Path) -> dict[str, Any]:
    """Read back what :func:`export_nwb` wrote (for checks): similarities, trials, video.

    Returns a dict with ``time`` (n,), ``similarity`` (name to (n,) float32), ``trials``
    (DataFrame or None), ``external_file`` (absolute paths), ``params`` (the JSON comments),
    ``subject_id`` and ``session_id``.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        face = nwb.acquisition["face_video"]
        sims = nwb.processing["behavior"]["expression_similarity"].time_series
        out = {
            "time": np.asarray(face.timestamps[:]),
            "similarity": {k.removeprefix("similarity_"): np.asarray(v.data[:])
                           for k, v in sims.items()},
            "series_time": {k.removeprefix("similarity_"): np.asarray(v.timestamps[:])
                            for k, v in sims.items()},
            "trials": None if nwb.trials is None else nwb.trials.to_dataframe(),
            "external_file": [str((path.parent / f).resolve()) for f in face.external_file[:]],
            "params": json.loads(next(iter(sims.values())).comments) if sims else {},
            "subject_id": nwb.subject.subject_id if nwb.subject else None,
            "session_id": nwb.session_id,
        }
        if "expression_prototypes" in nwb.processing["behavior"].data_interfaces:
            table = nwb.processing["behavior"]["expression_prototypes"]
            out["prototypes"] = {str(n): np.asarray(h) for n, h in
                                 zip(table["prototype"][:], table["hog"][:], strict=True)}
    return out


__all__ = ["START_NOTE", "export_nwb", "read_session", "session_nwb"]
