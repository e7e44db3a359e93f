"""What `run`, `fit` and `score` all do before prototypes: tables, the one pass, and what the
pass measured turned into per-frame columns.

:func:`prepare` reads and checks the tables, then touches each video file at most twice:

1. **baseline pre-read** (:func:`mouseface.features.alignment.read_baselines`): the frames of
   each session's earliest baseline windows (a few hundred at most). They give the session's
   reference face (drift, and the transform onto a template: :mod:`mouseface.workflows.
   register`) and calibrate the pass (neutral HOG and occlusion reference:
   :func:`mouseface.features.facepass.calibrate`).
2. **the pass** (:mod:`mouseface.workflows.execute`): every frame decoded once, cropped (drift
   undone), HOG'd and measured (quality, movement of extra regions) into the feature stores.
   The pre-read's reader stays open and decodes the pass's first range (one range per core);
   each further range opens the file once more (two opens in all on two cores).

Everything after that comes from the stores (HOG is small next to pixels): the quality flags,
whose HOG outlier score needs the whole session's baseline; the drift columns; the HOG cell
mask. What it returns (:class:`Prepared`) is all the later stages need, including the crops
the pass kept for the report's mean faces.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.expressions.windows import NEUTRAL, trial_intervals
from mouseface.features.alignment import VideoInfo, read_baselines
from mouseface.features.extract import Keep, Target
from mouseface.features.face_setup import FaceSetup
from mouseface.io import tables
from mouseface.io.layout import ResultsLayout
from mouseface.io.store import FeatureStore
from mouseface.settings import Settings
from mouseface.workflows.execute import _roi, by_video, extract_sessions, keeps_readers
from mouseface.workflows.register import plan_registration, write_registration

__all__ = ["MaskedStore", "Prepared", "prepare"]

#: Mean-face candidates kept per condition and session, in prototype sizes (``n_frames``).
KEEP_FACTOR = 3


#: Bytes of HOG blocks the stores of one :func:`prepare` keep in memory once read (the scoring
#: reads each store four or five times; from Zarr each read costs its decompression and its
#: event loop's overhead). Beyond it, stores are read from disk each time: memory stays flat.
BLOCK_CACHE_BYTES = 64 << 20


def _read_only(a: np.ndarray) -> np.ndarray:
    """``a``, marked read-only (shared by every later reader)."""
    a.flags.writeable = False
    return a


class _Budget:
    def __init__(self, n_bytes: int):
        self.left = n_bytes


class MaskedStore:
    """A feature store whose HOG vectors lose the masked cells' entries when read.

    Everything else (times, shapes, attributes) is the store's own. :meth:`iter_blocks` keeps
    the (read-only) blocks of a whole read while ``budget`` allows, and later reads take them
    from memory; the frames' times (``time``, read-only) are read once.
    """

    def __init__(self, store: FeatureStore, keep: np.ndarray | None,
                 budget: _Budget | None = None, time: np.ndarray | None = None):
        self.store = store
        self.keep = keep
        self._budget = budget
        self._blocks: list[tuple[int, np.ndarray]] | None = None
        self._time = time

    def __getattr__(self, name):
        return getattr(self.store, name)

    @property
    def time(self) -> np.ndarray:
        if self._time is None:
            self._time = _read_only(self.store.time)
        return self._time

    def read(self, index=None) -> np.ndarray:
        x = self.store.read(index)
        return x if self.keep is None else x[:, self.keep]

    def iter_blocks(self, block: int | None = None):
        if block is None and self._blocks is not None:
            yield from self._blocks
            return
        width = self.store.n_features if self.keep is None else int(np.sum(self.keep))
        size = self.store.n_frames * width * 4
        got = ([] if block is None and self._budget is not None and size <= self._budget.left
               else None)
        for start, x in self.store.iter_blocks(block):
            x = x if self.keep is None else x[:, self.keep]
            if got is not None:
                x.flags.writeable = False  # shared by later reads
                got.append((start, x))
            yield start, x
        if got is not None and self._blocks is None:  # a whole read: kept
            self._blocks = got
            self._budget.left -= size


@dataclass
class Prepared:
    """Tables, features and per-frame extras of a set of sessions, ready for prototypes.

    Attributes
    ----------
    sessions, events
        The validated tables (events empty when none were given).
    stores
        Session -> its features, masked (:class:`MaskedStore`).
    labels
        Session -> the window label of each frame (``neutral``, a condition, or ``""``).
    quality
        Session -> the quality columns of ``frames.parquet`` (None: quality off).
    drift
        Session -> the drift columns (``shift_y``, ``shift_x``, ``shift``, ``large_shift``);
        empty without drift correction.
    motion
        Session -> ``motion_<region>`` columns of its extra regions (empty without them).
    mask
        The HOG cells left out (cells_y, cells_x) bool, or None.
    template
        The template face the sessions were registered onto (``fit``: saved with the model).
    mask_regions
        Every mask region in force, as text (saved with a model).
    kept
        Session -> crops its pass kept for the mean faces (absent: features were reused).
    registration
        What the registration wrote (its table and summary), None without registration.
    """

    sessions: pd.DataFrame
    events: pd.DataFrame
    stores: dict[str, MaskedStore]
    labels: dict[str, np.ndarray]
    quality: dict[str, pd.DataFrame] | None
    drift: dict[str, pd.DataFrame] = field(default_factory=dict)
    motion: dict[str, pd.DataFrame] = field(default_factory=dict)
    mask: np.ndarray | None = None
    keep: np.ndarray | None = None
    template: np.ndarray | None = None
    mask_regions: str = ""
    kept: dict = field(default_factory=dict)
    registration: dict | None = None

    def frame_extras(self, session: str, n: int) -> pd.DataFrame | None:
        """Quality, movement and drift columns of a session's first ``n`` frames."""
        parts = []
        if self.quality is not None:
            parts.append(self.quality[session].iloc[:n].reset_index(drop=True))
        if session in self.motion:
            parts.append(self.motion[session].iloc[:n].reset_index(drop=True))
        if session in self.drift:
            d = self.drift[session].iloc[:n].reset_index(drop=True)
            if self.quality is not None:
                d = d.drop(columns="large_shift")
            parts.append(d)
        return pd.concat(parts, axis=1) if parts else None


def prepare(
    sessions_table: tables.Table,
    events_table: tables.Table | None,
    out: Path,
    settings: Settings,
    reporter: Reporter,
    log,
    *,
    scope: str,
    template: np.ndarray | None = None,
    model_regions: str = "",
    check_video: Callable[[list, VideoInfo], None] | None = None,
) -> Prepared:
    """Read the tables, pre-read baselines, register, run the pass, turn its measures into
    columns and build the mask (see module).

    ``scope`` is the registration's (``"animal"`` for `run`, ``"all"`` for `fit`, ``"model"``
    for `score`, see :mod:`mouseface.workflows.register`); ``log`` the
    :class:`~mouseface.runlog.RunLog` whose stages are timed; ``model_regions`` the
    mask regions a saved model was fitted with; ``check_video`` more checks of a video's
    sessions (rows of the sessions table) against what opening it told, before any of its
    frames is decoded (the pose files' lengths: :func:`mouseface.workflows.action_units.
    check_pose_lengths`).
    """
    # what messages call the tables: their files, or "sessions DataFrame"
    sessions_path = tables.table_name(sessions_table, "sessions")
    events_path = tables.table_name(events_table, "events")
    with log.stage("read_tables"):
        sessions, events = _read_tables(sessions_table, events_table)
    regions = _regions(sessions, settings, model_regions, sessions_path)
    setup = FaceSetup.from_settings(settings, scope=scope, regions=regions)
    intervals = {s: trial_intervals(events[events["session"] == s],
                                    settings.prototypes.baseline)
                 for s in sessions["session"]}
    with log.stage("compile"):  # Numba's kernels, compiled once and cached on disk
        rois = [_roi(row) for row in sessions.itertuples(index=False)]
        # the ROIs' sizes where the table gives them all (else the frames' size decides)
        setup.load_kernels(None if None in rois else [(r[3], r[2]) for r in rois],
                           beside=True)
    with log.stage("baseline"):
        baselines, infos = _pre_read(sessions, events, intervals, setup, settings, reporter,
                                     sessions_path, events_path, check_video)
    try:
        template_session = settings.registration.template
        _check_roi_sizes(sessions, baselines, scope, template_session, sessions_path)
        plan, alignments, crops = _register(sessions, baselines, setup, log, scope=scope,
                                            template_session=template_session,
                                            template=template, path=sessions_path)
        with log.stage("calibration"):
            targets = _targets(sessions, baselines, alignments, crops, intervals, setup,
                               settings)
        with log.stage("extract"):
            raw = _extract(sessions, targets, infos, settings, reporter, log, out)
    finally:
        close_readers(infos)  # the pass closed those it took; these on the way out
    times = {s: _read_only(st.time) for s, st in raw.items()}  # read once, used by all
    if events_path is not None:  # again with the exact frame times (a truncated file ends early)
        tables.check_events_in_frames(events, times, events_path)
    mask, keep = _mask(setup, raw, sessions_path)
    budget = _Budget(BLOCK_CACHE_BYTES)
    stores = {s: MaskedStore(st, keep, budget, times[s]) for s, st in raw.items()}
    labels = {s: intervals[s].label(st.time) for s, st in stores.items()}
    with log.stage("quality"):
        drift, motion, qualities = _columns(raw, times, labels, setup)
    registration = None
    if plan is not None:
        registration = write_registration(out, sessions, plan, settings, drift,
                                          per_animal=scope == "animal" and not template_session)
    kept = {s: st.kept for s, st in raw.items() if getattr(st, "kept", None) is not None}
    return Prepared(sessions, events, stores, labels, qualities, drift, motion, mask, keep,
                    None if plan is None else plan.template, _regions_text(regions), kept,
                    registration)


# ---------------------------------------------------------------------------- stages


def _read_tables(sessions_table: tables.Table,
                 events_table: tables.Table | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sessions and events tables (files or DataFrames), read and checked (no events: an
    empty table)."""
    sessions = tables.read_sessions(sessions_table)
    if events_table is not None:
        return sessions, tables.read_events(events_table, sessions)
    return sessions, pd.DataFrame(columns=["session", "onset", "duration", "trial_type",
                                           "event"])


def _pre_read(sessions, events, intervals, setup: FaceSetup, settings: Settings,
              reporter: Reporter, sessions_path: Path, events_path,
              check_video: Callable[[list, VideoInfo], None] | None = None):
    """Each video's sessions' earliest baseline frames at their regions, in one read per
    video; the tables are checked against the video (ROIs, events, HOG block; then
    ``check_video``) once it is open and before any frame is decoded."""

    def check(info: VideoInfo, rows: list) -> None:
        tables.check_sessions_in_video(
            rows, info, events, pixels_per_cell=settings.hog.pixels_per_cell,
            cells_per_block=settings.hog.cells_per_block, sessions_path=sessions_path,
            events_path=events_path)
        if check_video is not None:
            check_video(rows, info)

    groups = by_video(sessions)
    task = reporter.task("baseline frames", total=len(groups), unit="videos")
    baselines, infos = {}, {}
    # the first videos' readers stay open for the pass (one open of each file fewer)
    n_keep, threads = keeps_readers(settings.compute)
    try:
        for k, (key, rows) in enumerate(groups.items()):
            video, fps = key
            try:
                got, info = read_baselines(
                    video, [_roi(row) for row in rows],
                    [intervals[row.session].select(NEUTRAL).array for row in rows],
                    margin=setup.margin, fps=fps, keep_open=k < n_keep, threads=threads,
                    check=lambda info, rows=rows: check(info, rows))
            except InputError:
                raise  # it names its file
            except ValueError as exc:
                raise InputError(str(exc).removeprefix(f"{video}: "), video) from None
            baselines.update({row.session: b for row, b in zip(rows, got, strict=True)})
            infos[key] = info
            task.advance()
    except BaseException:
        close_readers(infos)
        raise
    return baselines, infos


def close_readers(infos: dict) -> None:
    """Close the readers the pre-read kept open (``VideoInfo.reader``)."""
    for info in infos.values():
        if info.reader is not None:
            info.reader.close()


def _register(sessions, baselines, setup: FaceSetup, log, *, scope: str,
              template_session: str, template, path: Path):
    """Each session's alignment from its reference face (the registration plan, None when
    frames do not move) and its crop size."""
    references = {s: b.reference for s, b in baselines.items()}
    m = setup.margin
    crops = {s: (f.shape[0] - 2 * m, f.shape[1] - 2 * m) for s, f in references.items()}
    fills = {s: setup.fill(crops[s]) for s in references}
    if not setup.registering:
        return None, setup.alignments(references, {}, fills), crops
    with log.stage("registration"):
        plan = plan_registration(sessions, references, fills, setup, scope=scope,
                                 template_session=template_session, template=template,
                                 path=path)
    return plan, plan.alignments, crops


def _targets(sessions, baselines, alignments, crops, intervals, setup: FaceSetup,
             settings: Settings) -> dict[str, Target]:
    """What the pass needs per session: its ROI, alignment, calibration (from its baseline
    frames), quality, extra regions and the mean-face candidates to keep."""
    keep_n = KEEP_FACTOR * settings.prototypes.n_frames
    targets = {}
    for row in sessions.itertuples(index=False):
        s = str(row.session)
        a = alignments.get(s)
        cal = setup.calibrate(baselines[s].frames, crops[s], a)
        iv = intervals[s]
        targets[s] = Target(Path(), _roi(row), a, cal, setup.quality, setup.drift_every,
                            tables.motion_regions(row),
                            Keep(iv, NEUTRAL, keep_n) if len(iv) else None)
    return targets


def _extract(sessions, targets, infos, settings: Settings, reporter: Reporter, log,
             out: Path) -> dict[str, FeatureStore]:
    """The one pass into the feature stores; each video is an input of the run log."""
    raw = extract_sessions(sessions, ResultsLayout(out).features, settings, reporter, targets,
                           infos)
    for row in sessions.itertuples(index=False):
        st = raw[row.session]
        log.add_input(row.video, st.attrs.get("fingerprint"), session=row.session,
                      frames=st.n_frames, truncated=st.attrs.get("truncated", False))
    return raw


def _columns(raw: dict[str, FeatureStore], times: dict[str, np.ndarray],
             labels: dict[str, np.ndarray], setup: FaceSetup):
    """Per session, from the stored measures (``times``: the stores' frame times): the drift
    columns, the ``motion_<region>`` columns and the quality columns (None: quality off)."""
    drift, motion, qualities = {}, {}, {} if setup.quality is not None else None
    for s, st in raw.items():
        shifts = st.shifts
        if shifts is not None:
            drift[s] = setup.drift_table(shifts)
        m = st.measures()
        moves = {k: v for k, v in m.items() if k.startswith("motion_") and k != "motion_energy"}
        if moves:
            motion[s] = pd.DataFrame(moves)
        if qualities is not None:
            d = drift.get(s)
            qualities[s], _ = setup.quality_table(
                m, times[s], labels[s] == NEUTRAL,
                None if d is None else d["large_shift"].to_numpy())
    return drift, motion, qualities


# ---------------------------------------------------------------------------- checks


def _check_roi_sizes(sessions: pd.DataFrame, baselines: dict, scope: str, template: str,
                     path: Path) -> None:
    """Prototypes compare HOG cell by cell: one face size per animal (per model in fit/score)."""
    def size(s):
        h, w = baselines[s].reference.shape
        return f"{w}x{h}"

    if scope == "animal" and not template:
        groups = [(f"animal {a}", list(g["session"])) for a, g in
                  sessions.groupby("animal", sort=False)]
    else:
        groups = [("the model" if scope != "animal" else "the template",
                   list(sessions["session"]))]
    for what, names in groups:
        sizes = {s: size(s) for s in names}
        if len(set(sizes.values())) > 1:
            a, b = names[0], next(s for s in names if sizes[s] != sizes[names[0]])
            raise InputError(f"{what}: sessions {a!r} and {b!r} have ROIs of different sizes "
                             f"({sizes[a]} and {sizes[b]} px with the registration margin): "
                             "prototypes compare HOG cell by cell, so give them ROIs of one "
                             "size", path)


# ---------------------------------------------------------------------------- masks


def _regions(sessions, settings: Settings, model_regions: str, path: Path):
    """Rectangles and polygons of the config, the sessions table's ``mask`` column and the
    saved model: one mask for every session (prototypes compare the same cells)."""
    from mouseface.features.masks import parse_regions

    texts = [settings.masks.regions, model_regions]
    if "mask" in sessions.columns:
        texts += [v for v in sessions["mask"] if isinstance(v, str)]
    rects, polys = [], []
    for text in texts:
        try:
            r, p = parse_regions(text)
        except ValueError as exc:
            raise InputError(f"mask: {exc}", path) from None
        rects += [x for x in r if x not in rects]
        polys += [x for x in p if x not in polys]
    return rects, polys


def _regions_text(regions) -> str:
    rects, polys = regions
    parts = [",".join(f"{v:g}" for v in r) for r in rects]
    parts += ["poly:" + ",".join(f"{v:g}" for pt in p for v in pt) for p in polys]
    return "; ".join(parts)


def _mask(setup: FaceSetup, stores, path: Path):
    """The HOG cells the mask regions exclude, and which HOG entries are kept."""
    if not setup.masked:
        return None, None
    st = next(iter(stores.values()))
    try:
        mask, keep = setup.cells(tuple(st.attrs["crop_shape"]))
    except ValueError as exc:
        raise InputError(f"mask: {exc}", path) from None
    if len(keep) != st.n_features:
        raise InputError(f"a mask over {mask.shape} cells does not fit HOG vectors of "
                         f"{st.n_features} entries", path)
    return mask, keep
