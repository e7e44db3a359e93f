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
``processing/behavior/action_units/au_<name>``           a run with poses: one
                                                         :class:`~pynwb.TimeSeries` per action
                                                         unit (ratio, degrees, px or mm against
                                                         the animal's neutral)
``processing/behavior/PoseEstimation``                   a run with poses: ndx-pose
                                                         ``PoseEstimation``, one
                                                         ``PoseEstimationSeries`` per keypoint
                                                         (x, y in px of the video frame,
                                                         confidence) on the video's frame times;
                                                         its ``Skeleton`` in
                                                         ``processing/behavior/Skeletons``
``processing/behavior/expression_prototypes``            table: prototype name and its HOG
                                                         array (cells_y, cells_x, orientations)
``intervals/trials``                                     one row per event: ``start_time`` =
                                                         onset, ``stop_time`` = onset +
                                                         duration, every other events column,
                                                         ``score_<p>`` and ``peak_<p>``
``subject``                                              ``subject_id`` = the animal, species,
                                                         sex, age or date of birth, strain,
                                                         genotype (see below)
=======================================================  ======================================

Where the video's frames come at a regular rate (every frame time within 1 ms and 5 % of a
period of ``t0 + i / rate``), the series store ``starting_time`` and ``rate``; otherwise (dropped
frames, a variable frame rate) the frame timestamps.

Subject and session metadata (sex, age, strain, experimenter, institution, start time...) come
from optional columns of the sessions table that made the results (``run.json`` records where it
is; another can be passed) and of a subjects table (see :mod:`mouseface.io.nwb_metadata` for the
columns). DANDI requires the subject's sex and age or date of birth: without them the export
warns once and each file's ``notes`` say what is missing.

The HOG and prototype parameters (``hog``, ``prototypes`` settings of the run, the model's mode
and key, the mouseface version) are stored as JSON in each similarity series' ``comments``
(the NWB field for free-form notes about a series) and in the description of the
``expression_prototypes`` table.

The true start time of a recording is not in a results folder: unless the sessions table has a
``session_start_time`` column (or ``session_start_time`` is passed), it is the video file's
modification time (UTC), and the file's ``notes`` say so.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface.io import nwb_metadata as md
from mouseface.io.layout import ModelFiles, ResultsLayout
from mouseface.io.results import Results
from mouseface.io.store import FeatureStore

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
START_NOTE = ("session_start_time is the video file's modification time: the results folder "
              "does not record when the session was recorded")
KEYWORDS = ("facial expression", "emotion", "behavior", "HOG", "mouseface")
EXPERIMENT = ("Facial expressions of emotion states measured from face video with mouseface: "
              "each frame's histogram of oriented gradients (HOG) of the face crop is "
              "compared with prototype expressions by Pearson correlation (Dolensek et al., "
              "Science 368:89-94, 2020).")
#: frame times within this of ``t0 + i / rate`` (and within 5 % of a period) count as regular
RATE_TOLERANCE_S = 1e-3


def export_nwb(
    results_dir: str | Path,
    out: str | Path | None = None,
    *,
    sessions: list[str] | None = None,
    session_start_time: _dt.datetime | Mapping[str, _dt.datetime] | None = None,
    species: str = "Mus musculus",
    sessions_table: str | Path | None = None,
    subjects: str | Path | None = None,
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
        is taken as UTC). Default: the sessions table's ``session_start_time``, else each
        video file's modification time.
    species
        ``Subject.species`` (Latin binomial, as DANDI asks) where the tables give none.
    sessions_table
        Sessions table whose metadata columns to use (see :mod:`mouseface.io.nwb_metadata`);
        default the one ``run.json`` records, when it is still there.
    subjects
        Subjects table: one row per ``animal`` with subject columns (sex, age,
        date_of_birth, strain, genotype...).
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
    models, model_meta = _models(res)
    table, gone = _sessions_table(res, sessions_table)
    subject_table = md.read_subjects(subjects) if subjects is not None else None
    metas = {s: md.session_metadata(table, subject_table, s,
                                    str(frames.loc[frames["session"] == s, "animal"].iloc[0]))
             for s in sessions}
    _warn_missing(metas, gone)
    files = {s: out / ResultsLayout(out).nwb_file(s).name for s in sessions}  # out: nwb/ or
    one = {}                                                                  # the user's
    for s, f in files.items():  # one file per session, also where names differ only in case
        if one.setdefault(f.name.casefold(), s) != s:
            raise InputError(f"sessions {one[f.name.casefold()]!r} and {s!r} would write one "
                             "NWB file on macOS and Windows: export them to separate "
                             "folders (--session, --out)", res.path)
    written = []
    for session in sessions:
        if progress is not None:
            progress(session)
        f = frames[frames["session"] == session]
        t = None if trials is None else trials[trials["session"] == session]
        start = (session_start_time.get(session) if isinstance(session_start_time, Mapping)
                 else session_start_time)
        nwbfile = session_nwb(res, session, f, t, models, model_meta, start, out,
                              species=species, metadata=metas[session])
        path = files[session]
        _write(nwbfile, path)
        written.append(path)
    return written


def _models(res: Results) -> tuple[dict, dict]:
    """The prototypes that made the similarities: the results' own ``model/`` (``run``,
    ``fit``), else the model ``run.json`` says ``score`` applied, when it is still there."""
    from mouseface.io.model import has_model, load_model

    if has_model(res.path):
        return load_model(res.path)
    applied = res.run.get("model")
    if applied and (ModelFiles(applied).meta.is_file() or has_model(applied)):
        return load_model(applied)
    return {}, {}


def _sessions_table(res: Results, path: str | Path | None):
    """The metadata columns of the sessions table (given, or where ``run.json`` says it
    was); also the recorded path when that file is gone."""
    if path is not None:
        return md.read_sessions_metadata(path), None
    recorded = res.sessions_table
    if recorded is None:
        return None, None
    if not recorded.is_file():
        return None, str(recorded)
    return md.read_sessions_metadata(recorded), None


def _warn_missing(metas: dict[str, md.SessionMetadata], gone: str | None) -> None:
    """One warning for the whole export: what DANDI will ask for that no table gave."""
    lacking = {s: m.missing() for s, m in metas.items() if m.missing()}
    if not lacking:
        return
    fields = list(dict.fromkeys(f for fs in lacking.values() for f in fs))
    where = (f"the sessions table recorded in run.json ({gone}) is gone; " if gone else "")
    warnings.warn(
        f"NWB: {' and '.join(md.REQUIRED[f] for f in fields)} missing for {len(lacking)} of "
        f"{len(metas)} sessions, which DANDI requires: {where}add columns "
        f"{', '.join(_COLUMN_HINT[f] for f in fields)} to the sessions table or to a subjects "
        "table (one row per animal, export-nwb --subjects)", stacklevel=3)


_COLUMN_HINT = {"sex": "sex (M/F/U/O)", "age": "age (ISO 8601, e.g. P90D) or date_of_birth"}


def regular_rate(time: np.ndarray, tolerance: float = RATE_TOLERANCE_S
                 ) -> tuple[float, float] | None:
    """``(starting_time, rate)`` when every frame time is ``t0 + i / rate`` within
    ``tolerance`` seconds and 5 % of a period; None otherwise (dropped frames, variable rate).

    Examples
    --------
    >>> regular_rate(np.arange(5) / 20.0)
    (0.0, 20.0)
    >>> regular_rate(np.array([0.0, 0.05, 0.15, 0.2])) is None  # a dropped frame
    True
    """
    t = np.asarray(time, dtype=np.float64)
    if t.size < 2 or not np.all(np.isfinite(t)) or not np.all(np.diff(t) > 0):
        return None
    period = (t[-1] - t[0]) / (t.size - 1)
    fit = t[0] + np.arange(t.size) * period
    if np.max(np.abs(t - fit)) > min(tolerance, 0.05 * period):
        return None
    return float(t[0]), float(f"{1.0 / period:.12g}")


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
                species: str = "Mus musculus", metadata: md.SessionMetadata | None = None):
    """The in-memory :class:`~pynwb.NWBFile` of one session (see the module for its layout).

    ``out`` is the folder the file will be written to: ``external_file`` paths are relative
    to it. ``metadata`` (:func:`mouseface.io.nwb_metadata.session_metadata`) fills the
    subject and session fields; ``start``, when given, wins over its start time.
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
    meta = metadata or md.SessionMetadata()
    notes = []
    if start is None:
        start = meta.session.get("session_start_time")
    if start is None:
        if video.exists():
            start = _dt.datetime.fromtimestamp(video.stat().st_mtime, _dt.timezone.utc)
        else:
            start = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
        notes.append(START_NOTE)
    run = res.run
    version = run.get("mouseface", "unknown")  # the version that made the results
    settings = run.get("settings") or model_meta.get("settings") or {}
    shared = [k for k in ("pooled", "transfer") if k in models]
    key = shared[0] if shared else animal
    mode = model_meta.get("mode") or run.get("model_mode")
    prototypes = settings.get("prototypes")
    if prototypes and mode:  # the settings' mode is fit's; say what made these prototypes
        prototypes = {**prototypes, "mode": mode}
    params = {
        "mouseface": version,
        "hog": attrs.get("params") or settings.get("hog"),
        "prototypes": prototypes,
        "model_mode": mode,
        "model_key": key if key in models else None,
        "feature_shape": model_meta.get("feature_shape"),
        "frames_note": run.get("frames_note"),
    }
    identity = json.dumps([session, attrs.get("fingerprint"), params], sort_keys=True)
    if run.get("frames_note"):
        notes.append(f"similarities: {run['frames_note']}")
    if meta.missing():
        notes.append("an archive (DANDI) will ask for "
                     + " and ".join(md.REQUIRED[f] for f in meta.missing())
                     + ", which no sessions or subjects table gave")
    s, sub = meta.session, meta.subject
    nwbfile = NWBFile(
        session_description=s.get("session_description") or (
            f"Session {session} of animal {animal}: face video scored for facial "
            f"expressions of emotion states (mouseface {version})"),
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"mouseface:{identity}")),
        session_start_time=_utc(start),
        session_id=session,
        experiment_description=s.get("experiment_description") or EXPERIMENT,
        experimenter=list(s["experimenter"]) if s.get("experimenter") else None,
        institution=s.get("institution"),
        lab=s.get("lab"),
        keywords=list(KEYWORDS),
        notes="; ".join(notes) or None,
        source_script=f"mouseface {version} export-nwb",
        source_script_file_name="mouseface",
        subject=Subject(
            subject_id=animal, species=sub.get("species") or species, sex=sub.get("sex"),
            age=sub.get("age"), date_of_birth=sub.get("date_of_birth"),
            strain=sub.get("strain"), genotype=sub.get("genotype"),
            description=sub.get("subject_description") or (
                f"animal {animal} of the sessions table")),
    )
    time = frames["time"].to_numpy(dtype=np.float64)
    regular = regular_rate(time)
    timing = ({"timestamps": time} if regular is None else
              {"starting_time": regular[0], "rate": regular[1]})
    # An external video has no data to count its frames by (pynwb >= 4 wants the count).
    count = ({"num_samples": len(time)} if regular is not None
             and "num_samples" in ImageSeries.__nwbfields__ else {})
    roi = attrs.get("roi")
    files, starting = _external_files(video, len(time))
    out = Path(out).resolve()
    rel = [os.path.relpath(Path(p).resolve(), start=out) for p in files]
    face = ImageSeries(
        name="face_video",
        external_file=rel,
        format="external",
        starting_frame=starting,
        **timing, **count,
        description=(f"Face camera video, external file(s): {', '.join(files[:3])}"
                     f"{' ...' if len(files) > 3 else ''}. mouseface used the ROI x,y,w,h = "
                     f"{roi} px (crop height x width {attrs.get('crop_shape')}). Time: "
                     "seconds from the first frame, as decoded"
                     + (" (frames at a regular rate)." if regular else
                        " (irregular: one timestamp per frame).")),
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
            name=nwb_name(f"similarity_{name}"),
            data=frames[f"sim_{name}"].to_numpy(dtype=np.float32),
            unit="Pearson r",
            **({"timestamps": face} if regular is None else timing),
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
                VectorData(name="hog", description=(
                    "transfer model: the first row (neutral) is the mean HOG of the training "
                    "animals' neutral faces; the others a condition's mean change of HOG from "
                    "each animal's own neutral face, in units of its baseline spread (float64)"
                    if mode == "transfer" else
                    "the prototype: mean HOG (float64)"),
                           data=np.asarray(protos, np.float64).reshape(len(protos), *shape)),
            ]))
    # a session without poses has the columns of the others, all NaN
    aus = [c for c in frames.columns if c.startswith("au_") and frames[c].notna().any()]
    if aus:
        from mouseface.io.poses import recorded_au_units

        behavior.add(action_unit_series(frames[aus], face if regular is None else timing,
                                        recorded_au_units(res.run)))
    pose_path = res.layout.pose_file(session)
    if pose_path.is_file():
        from mouseface.io.poses import read_session_poses

        add_poses(behavior, read_session_poses(pose_path), source_video=face,
                  subject=nwbfile.subject, video_time=(time, face if regular is None else timing))
    if trials is not None and len(trials):
        _add_trials(nwbfile, trials)
    return nwbfile


#: what an action unit's value means, by its unit (mouseface.features.action_units)
_AU_MEANING = {"ratio": "its ratio divided by its neutral value (1 = as at rest)",
               "deg": "degrees from its neutral value",
               "px": "its change from its neutral value or position",
               "mm": "its change from its neutral value or position"}


def action_unit_series(aus: pd.DataFrame, timing, units: Mapping[str, str] | None = None):
    """``action_units``: one :class:`~pynwb.TimeSeries` per ``au_<name>`` column, on the
    video's frame times.

    Parameters
    ----------
    aus
        The ``au_<name>`` columns of ``frames.parquet`` (one row per frame).
    timing
        ``{"starting_time", "rate"}``, or the :class:`~pynwb.image.ImageSeries` whose
        timestamps the series link to.
    units
        Each column's unit as the run recorded it
        (:func:`mouseface.io.poses.recorded_au_units`); ``n.a.`` for a
        column it lacks.
    """
    from pynwb import TimeSeries
    from pynwb.behavior import BehavioralTimeSeries

    units = dict(units or {})
    series = []
    for c in aus.columns:
        unit = units.get(c, "")
        series.append(TimeSeries(
            name=nwb_name(c), data=aus[c].to_numpy(np.float32),
            unit={"deg": "degrees", "": "n.a."}.get(unit, unit),
            **({"timestamps": timing} if not isinstance(timing, Mapping) else timing),
            description=(f"Facial action unit {c.removeprefix('au_')} from face keypoints, "
                         f"against the animal's neutral frames: {_AU_MEANING.get(unit, '')}; "
                         "NaN where its keypoints are missing (mouseface.features.action_units)."),
        ))
    return BehavioralTimeSeries(name="action_units", time_series=series)


#: keypoint roles joined in the skeleton (pairs present in a pose file become its edges)
SKELETON_ROLES = (("eye_top", "eye_front"), ("eye_front", "eye_bottom"),
                  ("eye_bottom", "eye_back"), ("eye_back", "eye_top"), ("ear_base", "ear_tip"),
                  ("nose_top", "nose_tip"), ("nose_tip", "nose_bottom"), ("mouth", "lip"),
                  ("whisker_1", "whisker_2"), ("whisker_2", "whisker_3"))
REFERENCE_FRAME = ("(0, 0) is the centre of the top-left pixel of the face video's frame "
                   "(acquisition/face_video); x to the right, y down, in pixels")


def skeleton_edges(keypoints: list[str], roles: Mapping[str, str] | None = None) -> np.ndarray:
    """``(m, 2)`` uint8 node index pairs joining the face's keypoints by role (the eye's ring,
    ear, nose, lips, whisker row; :data:`SKELETON_ROLES`); no edge for roles a file lacks.
    ``roles`` (role to keypoint name) is what the run mapped (the pose file's ``roles``
    attribute); without it a keypoint named as its role stands for it.

    Examples
    --------
    >>> skeleton_edges(["tip", "top", "paw"], {"nose_tip": "tip", "nose_top": "top"}).tolist()
    [[1, 0]]
    """
    mapped = dict(roles) if roles else {k: k for k in keypoints}
    at = {r: keypoints.index(k) for r, k in mapped.items() if k in keypoints}
    pairs = [(at[a], at[b]) for a, b in SKELETON_ROLES if a in at and b in at]
    return np.asarray(pairs, dtype=np.uint8).reshape(-1, 2)


def add_poses(module, ds, *, source_video=None, subject=None,
              video_time: tuple[np.ndarray, Any] | None = None, name: str = "PoseEstimation"):
    """Put a ``movement`` poses dataset into an NWB processing module with ndx-pose: per
    individual a ``PoseEstimation`` holding one ``PoseEstimationSeries`` per keypoint (x, y in
    pixels, the confidence), and its ``Skeleton`` (in ``Skeletons``).

    Parameters
    ----------
    module : pynwb.base.ProcessingModule
        Where (``processing/behavior``).
    ds : xarray.Dataset
        ``position`` (time, space, keypoints, individuals) in pixels, ``confidence``; ``time``
        in seconds (a results folder's ``poses/<session>.nc``: the video's frame times).
    source_video : pynwb.image.ImageSeries, optional
        The video the keypoints were tracked on (linked as ``source_video``).
    subject : pynwb.file.Subject, optional
        The animal (linked from the skeleton).
    video_time : (times, timing), optional
        The video's frame times and how the module's other series store them
        (``{"starting_time", "rate"}`` or the series whose timestamps they link to): poses on
        exactly those times store the same; otherwise their own times are stored.

    Returns
    -------
    list of ndx_pose.PoseEstimation
    """
    import json as _json

    from ndx_pose import PoseEstimation, PoseEstimationSeries, Skeleton, Skeletons

    time = np.asarray(ds["time"].values, np.float64)
    if ds.attrs.get("time_unit", "seconds") != "seconds":
        time = time / float(ds.attrs.get("fps") or 1.0)
    if video_time is not None and len(video_time[0]) == len(time) and np.allclose(
            video_time[0], time, rtol=0, atol=1e-9):
        timing = video_time[1]
    else:
        regular = regular_rate(time)
        timing = {"timestamps": time} if regular is None else {"starting_time": regular[0],
                                                               "rate": regular[1]}
    if not isinstance(timing, Mapping):
        timing = {"timestamps": timing}
    keypoints = [str(k) for k in ds["keypoints"].values]
    individuals = [str(i) for i in ds["individuals"].values]
    roles = ds.attrs.get("roles")
    if isinstance(roles, str):
        try:
            roles = _json.loads(roles)
        except ValueError:
            roles = None
    edges = skeleton_edges(keypoints, roles if isinstance(roles, Mapping) else None)
    software = str(ds.attrs.get("source_software") or "unknown")
    out, skeletons = [], []
    for individual in individuals:
        one = ds.sel(individuals=individual)
        suffix = f"_{individual}" if len(individuals) > 1 else ""
        skeleton = Skeleton(name=nwb_name(f"skeleton{suffix or '_face'}"), nodes=keypoints,
                            edges=edges, subject=subject)
        skeletons.append(skeleton)
        series = []
        for i, k in enumerate(keypoints):
            # times stored once: the other keypoints link to the first one's
            when = ({"timestamps": series[0]} if i and isinstance(timing.get("timestamps"),
                                                                  np.ndarray) else timing)
            xy = one["position"].sel(keypoints=k).transpose("time", "space").values[:, :2]
            conf = (one["confidence"].sel(keypoints=k).values
                    if "confidence" in one else np.full(len(xy), np.nan))
            has_conf = bool(np.isfinite(conf).any())
            series.append(PoseEstimationSeries(
                name=nwb_name(k), data=np.asarray(xy, np.float64), unit="pixels",
                reference_frame=REFERENCE_FRAME,
                **({"confidence": np.asarray(conf, np.float64),
                    "confidence_definition": f"likelihood reported by {software}"}
                   if has_conf else {}),
                description=(f"Position of keypoint '{k}' ({software}); NaN where it was "
                             "missing or below the likelihood threshold and not filled"),
                **when))
        pe = PoseEstimation(
            name=nwb_name(name + suffix), pose_estimation_series=series,
            description=(f"Keypoints of {individual} from {software} "
                         f"({ds.attrs.get('source_file', 'a pose file')}), cleaned as the "
                         f"action units were measured (likelihood threshold "
                         f"{ds.attrs.get('min_likelihood', 'n.a.')}, gaps up to "
                         f"{ds.attrs.get('max_gap', 'n.a.')} frames filled), on the video's "
                         "frame times"),
            source_software=software, skeleton=skeleton,
            **({"source_video": source_video} if source_video is not None else {}))
        module.add(pe)
        out.append(pe)
    module.add(Skeletons(skeletons=skeletons))
    return out


_TRIAL_DESCRIPTIONS = {
    "trial_type": "condition of the event (events table)",
    "event": "row of the event in the events table (0-based)",
    "trial": "trial number within the animal's condition",
    "session": "session id",
    "animal": "animal id",
    "n_baseline": "frames found in the trial's baseline window",
    "n_frames": "frames found in the trial's stimulus window",
    "window_flag": ("short_baseline and/or short_stimulus: a window with under half the frames "
                    "its length implies (the trial's scores are NaN); ok: scored"),
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
        elif c.startswith("au_"):
            desc = (f"action unit {c[3:]}: its mean in the stimulus window minus the mean in "
                    "the baseline window (the scores' windows), in the unit of "
                    f"processing/behavior/action_units/{c}")
        elif c.startswith("grade_mean_"):
            desc = (f"mean grade on the neutral-to-{c[11:]} expression axis in the stimulus "
                    "window minus the baseline mean, in baseline standard deviations")
        elif c.startswith("grade_"):
            desc = (f"peak grade on the neutral-to-{c[6:]} expression axis in the stimulus "
                    "window minus the baseline mean, in baseline standard deviations "
                    "(cross-fitted)")
        else:
            desc = _TRIAL_DESCRIPTIONS.get(c, f"events column {c!r}")
        nwbfile.add_trial_column(name=nwb_name(c), description=desc)
    onset = t["onset"].to_numpy(dtype=float)
    stop = onset + t["duration"].to_numpy(dtype=float)
    for i in range(len(t)):
        nwbfile.add_trial(start_time=float(onset[i]), stop_time=float(stop[i]),
                          **{nwb_name(c): values[c][i] for c in columns})


def _write(nwbfile, path: Path) -> None:
    """Write ``nwbfile`` to ``path`` atomically (a temporary name, then renamed)."""
    from pynwb import NWBHDF5IO

    with atomic_path(path) as tmp, NWBHDF5IO(str(tmp), "w") as io:
        io.write(nwbfile)


def nwb_name(text: str) -> str:
    """``text`` as an NWB object name: ``/`` separates NWB's groups, so it is written ``%2F``
    (and ``%`` itself ``%25``, so that :func:`from_nwb_name` gives ``text`` back).

    Examples
    --------
    >>> nwb_name("similarity_sucrose/water 5%")
    'similarity_sucrose%2Fwater 5%25'
    >>> from_nwb_name(nwb_name("sucrose/water 5%"))
    'sucrose/water 5%'
    """
    return str(text).replace("%", "%25").replace("/", "%2F")


def from_nwb_name(name: str) -> str:
    """The text :func:`nwb_name` escaped."""
    return str(name).replace("%2F", "/").replace("%25", "%")


def read_session(path: str | Path) -> dict[str, Any]:
    """Read back what :func:`export_nwb` wrote (for checks): similarities, trials, video.

    Returns a dict with ``time`` (n,), ``rate`` (Hz, None when the file has timestamps),
    ``similarity`` (name to (n,) float32), ``series_time``, ``trials`` (DataFrame or None),
    ``external_file`` (absolute paths), ``params`` (the JSON comments), ``subject_id`` and
    ``session_id``; with poses, ``action_units`` (name to (n,)) and ``poses`` (``keypoints``,
    skeleton ``edges``, ``position`` and ``confidence`` per keypoint, ``time``,
    ``source_software``, ``source_video``).
    """
    import ndx_pose  # noqa: F401  (registers the pose types a file with poses holds)
    from pynwb import NWBHDF5IO

    path = Path(path)
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        face = nwb.acquisition["face_video"]
        sims = nwb.processing["behavior"]["expression_similarity"].time_series
        n = len(next(iter(sims.values())).data) if sims else 0
        out = {
            "time": _times(face, n),
            "rate": face.rate,
            "similarity": {from_nwb_name(k).removeprefix("similarity_"): np.asarray(v.data[:])
                           for k, v in sims.items()},
            "series_time": {from_nwb_name(k).removeprefix("similarity_"):
                            _times(v, len(v.data)) for k, v in sims.items()},
            "trials": None if nwb.trials is None else
            nwb.trials.to_dataframe().rename(columns=from_nwb_name),
            "external_file": [str((path.parent / f).resolve()) for f in face.external_file[:]],
            "params": json.loads(next(iter(sims.values())).comments) if sims else {},
            "subject_id": nwb.subject.subject_id if nwb.subject else None,
            "session_id": nwb.session_id,
        }
        behavior = nwb.processing["behavior"].data_interfaces
        if "action_units" in behavior:
            out["action_units"] = {from_nwb_name(k).removeprefix("au_"): np.asarray(v.data[:])
                                   for k, v in behavior["action_units"].time_series.items()}
        pose = [k for k, v in behavior.items() if type(v).__name__ == "PoseEstimation"]
        if pose:
            pe = behavior[pose[0]]
            first = next(iter(pe.pose_estimation_series.values()))
            out["poses"] = {
                "keypoints": list(pe.skeleton.nodes[:]),
                "edges": np.asarray(pe.skeleton.edges[:]) if pe.skeleton.edges is not None
                else np.empty((0, 2), np.uint8),
                "position": {from_nwb_name(k): np.asarray(v.data[:])
                             for k, v in pe.pose_estimation_series.items()},
                "confidence": {from_nwb_name(k): None if v.confidence is None
                               else np.asarray(v.confidence[:])
                               for k, v in pe.pose_estimation_series.items()},
                "time": _times(first, len(first.data)),
                "source_software": pe.source_software,
                "source_video": None if pe.source_video is None else pe.source_video.name,
            }
        if "expression_prototypes" in nwb.processing["behavior"].data_interfaces:
            table = nwb.processing["behavior"]["expression_prototypes"]
            out["prototypes"] = {str(n): np.asarray(h) for n, h in
                                 zip(table["prototype"][:], table["hog"][:], strict=True)}
    return out


def _times(series, n: int) -> np.ndarray:
    """Sample times of a series stored with timestamps or with starting_time and rate (an
    external ImageSeries has no data to count: ``n`` says how many)."""
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:])
    return series.starting_time + np.arange(n) / series.rate


__all__ = ["KEYWORDS", "START_NOTE", "action_unit_series", "add_poses", "export_nwb",
           "from_nwb_name", "nwb_name", "read_session", "regular_rate", "session_nwb",
           "skeleton_edges"]
