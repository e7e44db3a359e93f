"""The results folder: every path in it, in one place.

A results folder (what ``mouseface run``, ``fit``, ``score`` and ``live --record`` write, and
what every later command reads) looks like this::

    results/
      run.json                 versions, settings, inputs, timings, warnings
      frames.parquet           one row per frame
      trials.csv               one row per event
      report.html              the self-contained report
      simulation_check.json    `demo` only: the results against the simulation's truth
      features/<session>.zarr  HOG (frames x cells_y x cells_x x orientations), times, drift
      poses/<session>.nc       `run --poses`: the session's cleaned keypoints on the video's
                               clock, a `movement` poses dataset in netCDF
      model/                   prototypes.npz, model.json, <array>.npy (e.g. template.npy),
                               picked_frames.csv, mean_faces.npz (what the report draws)
      registration/            sessions.csv, summary.json, faces.npz, qc*.png
      analysis/                classification.json, classification_predictions.csv,
                               embedding.csv, clusters.csv, clustering.json,
                               trial_metrics[_normalized].csv, dose_<column>.csv, stats.csv,
                               compare_<by>.csv/.json, summary.json, figures
      neural/                  neurons.csv, neural_summary.json, figures
      behaviour/               motion.parquet, bouts.tsv, events.tsv, thresholds.csv,
                               bouts_summary.json, bouts.png (spontaneous states)
      overlay/<session>.mp4    overlay videos
      nwb/<session>.nwb        NWB export
      calibration.npz          `live --record`: the session's calibration (a reference file)
      .mouseface.lock          while a command writes the folder (one at a time)

Nothing else in the package spells these names: code asks :class:`ResultsLayout` for a path
(:class:`ModelFiles` and :class:`NeuralFiles` for the folders a user may put elsewhere: a model
given on its own, ``neural --out``). ``tests/unit/test_results_paths.py`` fails on a results
file name spelled outside this module. A figure is named by its stem: the figure writers add
``.png`` and ``.svg``. Nothing here creates a folder: writers create what they write into.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mouseface._errors import InputError

#: Characters no file name may hold on some system mouseface runs on (``/`` and ``\`` are path
#: separators; the rest Windows refuses).
_UNSAFE_CHARACTERS = '/\\:*?"<>|'


def unsafe_name(name: str) -> str | None:
    """Why ``name`` cannot be a file name as it is (None: it can).

    Session ids name files (``features/<session>.zarr``, ``nwb/<session>.nwb``): an id holding
    a path separator or ``..`` would write elsewhere, or two ids would write one file.

    Examples
    --------
    >>> unsafe_name("m01_day1") is None
    True
    >>> unsafe_name("day1/m01")
    "contains '/'"
    """
    if not name:
        return "is empty"
    if name in (".", ".."):
        return f"is '{name}'"
    bad = next((c for c in name if c in _UNSAFE_CHARACTERS or ord(c) < 32), None)
    if bad is not None:
        return f"contains {bad!r}" if ord(bad) >= 32 else "contains a control character"
    if name.startswith("."):
        return "starts with '.'"
    if name.endswith((".", " ")):
        return "ends with '.' or a space"
    if len(name) > 200:
        return "is longer than 200 characters"
    return None


def safe_name(name: str, what: str = "session id") -> str:
    """``name`` when it is a safe file name (see :func:`unsafe_name`), else an
    :class:`~mouseface._errors.InputError`."""
    why = unsafe_name(str(name))
    if why is not None:
        raise InputError(f"{what} {name!r} is not a safe file name ({why}): it names files "
                         "of the results folder; use letters, digits, '-', '_' and '.', e.g. "
                         "m01_day1")
    return str(name)


__all__ = ["ActionUnitsLayout", "ModelFiles", "NeuralFiles", "PoseBoutsLayout", "ResultsLayout",
           "safe_name",
           "unsafe_name"]


def _safe(name: str) -> str:
    """``name`` usable in a file name: characters other than letters, digits, ``-``, ``_``
    become ``_``."""
    return "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(name))


@dataclass(frozen=True)
class ModelFiles:
    """The files of a model folder (``model/`` of a results folder, or one on its own).

    Examples
    --------
    >>> ModelFiles("results/model").array("template").as_posix()
    'results/model/template.npy'
    """

    folder: Path

    def __init__(self, folder: str | Path) -> None:
        object.__setattr__(self, "folder", Path(folder))

    @property
    def meta(self) -> Path:
        """Names, parameters, settings and mode of the model."""
        return self.folder / "model.json"

    @property
    def prototypes(self) -> Path:
        return self.folder / "prototypes.npz"

    def array(self, name: str) -> Path:
        """An array saved beside the prototypes (e.g. ``template``)."""
        return self.folder / f"{name}.npy"

    @property
    def picked_frames(self) -> Path:
        """The frames each prototype averaged (``model``, ``prototype``, ``session``,
        ``frame``): what the report's mean faces show."""
        return self.folder / "picked_frames.csv"

    @property
    def mean_faces(self) -> Path:
        """The mean registered crop of those frames (and of the baseline frames), per model
        and prototype, from the crops the run's pass kept."""
        return self.folder / "mean_faces.npz"


@dataclass(frozen=True)
class NeuralFiles:
    """The files ``mouseface neural`` writes (into ``neural/``, or the folder of ``--out``).

    Examples
    --------
    >>> NeuralFiles("results/neural").neurons.as_posix()
    'results/neural/neurons.csv'
    """

    folder: Path

    def __init__(self, folder: str | Path) -> None:
        object.__setattr__(self, "folder", Path(folder))

    @property
    def neurons(self) -> Path:
        return self.folder / "neurons.csv"

    @property
    def summary(self) -> Path:
        return self.folder / "neural_summary.json"

    @property
    def correlations_figure(self) -> Path:
        return self.folder / "correlations"

    @property
    def movement_figure(self) -> Path:
        return self.folder / "movement"

    @property
    def examples_figure(self) -> Path:
        return self.folder / "examples"

    @property
    def psth_figure(self) -> Path:
        return self.folder / "psth"


@dataclass(frozen=True)
class ResultsLayout:
    """The paths of one results folder (nothing is created or read here).

    Examples
    --------
    >>> ResultsLayout("results").store("m1_s1").as_posix()
    'results/features/m1_s1.zarr'
    """

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    # files at the top
    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def frames(self) -> Path:
        return self.root / "frames.parquet"

    @property
    def trials(self) -> Path:
        return self.root / "trials.csv"

    @property
    def calibration(self) -> Path:
        """What a live session calibrated (``mouseface live --reference`` reads it back)."""
        return self.root / "calibration.npz"

    @property
    def lock(self) -> Path:
        """Held while a command writes the folder (:mod:`mouseface.io.lock`)."""
        return self.root / ".mouseface.lock"

    @property
    def report(self) -> Path:
        return self.root / "report.html"

    @property
    def simulation_check(self) -> Path:
        """``mouseface demo``: its results against the simulation's ground truth."""
        return self.root / "simulation_check.json"

    # features
    @property
    def features(self) -> Path:
        return self.root / "features"

    def store(self, session: str) -> Path:
        """The feature store (Zarr) of ``session``."""
        return self.features / f"{safe_name(session)}.zarr"

    def stored_sessions(self) -> list[str]:
        """Sessions that have a feature store, sorted."""
        return sorted(p.name.removesuffix(".zarr") for p in self.features.glob("*.zarr"))

    # poses
    @property
    def poses(self) -> Path:
        """``run --poses``: one aligned poses file per session."""
        return self.root / "poses"

    def pose_file(self, session: str) -> Path:
        """The cleaned keypoints of ``session`` on its video's clock: a ``movement`` poses
        dataset in netCDF (:func:`mouseface.io.poses.write_session_poses`; read it back with
        :func:`~mouseface.io.poses.read_session_poses` or ``xarray.open_dataset``)."""
        return self.poses / f"{safe_name(session)}.nc"

    def stored_poses(self) -> list[str]:
        """Sessions that have an aligned poses file, sorted."""
        return sorted(p.name.removesuffix(".nc") for p in self.poses.glob("*.nc")
                      if not p.name.startswith("."))

    # folders of the later stages
    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def registration(self) -> Path:
        return self.root / "registration"

    @property
    def analysis(self) -> Path:
        return self.root / "analysis"

    @property
    def neural(self) -> Path:
        return self.root / "neural"

    @property
    def behaviour(self) -> Path:
        return self.root / "behaviour"

    @property
    def overlay(self) -> Path:
        return self.root / "overlay"

    @property
    def nwb(self) -> Path:
        return self.root / "nwb"

    # files inside them
    @property
    def model_files(self) -> ModelFiles:
        return ModelFiles(self.model)

    @property
    def neural_files(self) -> NeuralFiles:
        return NeuralFiles(self.neural)

    @property
    def neurons(self) -> Path:
        return self.neural_files.neurons

    @property
    def neural_summary(self) -> Path:
        return self.neural_files.summary

    @property
    def registration_table(self) -> Path:
        return self.registration / "sessions.csv"

    @property
    def registration_summary(self) -> Path:
        return self.registration / "summary.json"

    @property
    def registration_faces(self) -> Path:
        """Reference faces before and after registration, per template group (QC)."""
        return self.registration / "faces.npz"

    def registration_qc(self, animal: str | None = None) -> Path:
        """The QC figure of ``animal``'s sessions (``None``: of all sessions together)."""
        return self.registration / ("qc.png" if animal is None
                                    else f"qc_{safe_name(animal, 'animal id')}.png")

    def registration_figure(self, stem: str) -> Path:
        """The PNG figure ``stem`` in ``registration/`` (e.g. a QC figure's stem)."""
        return self.registration / f"{stem}.png"

    @property
    def behaviour_motion(self) -> Path:
        """Movement per frame measured by ``bouts`` itself (a motion-only pass)."""
        return self.behaviour / "motion.parquet"

    @property
    def behaviour_pose_motion(self) -> Path:
        """Movement per frame from a pose file (``bouts DIR --poses FILE``)."""
        return self.behaviour / "pose_motion.parquet"

    @property
    def bouts(self) -> Path:
        """The bouts ``bouts`` found: an events table."""
        return self.behaviour / "bouts.tsv"

    @property
    def bouts_events(self) -> Path:
        """The events ``bouts`` was given plus the bouts: what ``run`` takes next."""
        return self.behaviour / "events.tsv"

    @property
    def bouts_thresholds(self) -> Path:
        return self.behaviour / "thresholds.csv"

    @property
    def bouts_summary(self) -> Path:
        return self.behaviour / "bouts_summary.json"

    @property
    def bouts_figure(self) -> Path:
        """Stem of the bouts QC figure (``.png`` and ``.svg``)."""
        return self.behaviour / "bouts"

    # analysis/
    @property
    def classification(self) -> Path:
        """``classify``'s settings and scores."""
        return self.analysis / "classification.json"

    @property
    def classification_predictions(self) -> Path:
        return self.analysis / "classification_predictions.csv"

    @property
    def confusion_figure(self) -> Path:
        return self.analysis / "confusion"

    @property
    def embedding(self) -> Path:
        return self.analysis / "embedding.csv"

    @property
    def embedding_figure(self) -> Path:
        return self.analysis / "embedding"

    @property
    def clusters(self) -> Path:
        """Cluster and leaf position of every clustered frame."""
        return self.analysis / "clusters.csv"

    @property
    def clustering(self) -> Path:
        """``cluster``'s purity, adjusted Rand index and composition."""
        return self.analysis / "clustering.json"

    @property
    def clustering_figure(self) -> Path:
        return self.analysis / "clustering"

    def trial_metrics(self, normalized: bool = False) -> Path:
        return self.analysis / ("trial_metrics_normalized.csv" if normalized
                                else "trial_metrics.csv")

    def trial_metrics_figure(self, normalized: bool = False) -> Path:
        return self.trial_metrics(normalized).with_suffix("")

    def dose(self, column: str) -> Path:
        """Dose–response against the events column ``column``."""
        return self.analysis / f"dose_{_safe(column)}.csv"

    def dose_figure(self, column: str) -> Path:
        return self.dose(column).with_suffix("")

    @property
    def stats(self) -> Path:
        return self.analysis / "stats.csv"

    @property
    def analysis_summary(self) -> Path:
        """What ``analyze`` ran, where it wrote, what failed."""
        return self.analysis / "summary.json"

    def comparison(self, by: str) -> Path:
        """``compare --by <by>``'s table."""
        return self.analysis / f"compare_{_safe(by)}.csv"

    def comparison_summary(self, by: str) -> Path:
        return self.comparison(by).with_suffix(".json")

    def stored_comparisons(self) -> dict[str, Path]:
        """The comparisons' summaries in ``analysis/``, by their (file-safe) column, sorted."""
        return {p.stem.removeprefix("compare_"): p
                for p in sorted(self.analysis.glob("compare_*.json"))}

    def comparison_figure(self, by: str) -> Path:
        return self.comparison(by).with_suffix("")

    def overlay_video(self, session: str) -> Path:
        return self.overlay / f"{safe_name(session)}.mp4"

    def nwb_file(self, session: str) -> Path:
        return self.nwb / f"{safe_name(session)}.nwb"

    def is_results(self) -> bool:
        """Whether the folder looks like a results folder (``run.json`` or ``frames.parquet``)."""
        return self.root.is_dir() and (self.run_json.is_file() or self.frames.is_file())


@dataclass(frozen=True)
class PoseBoutsLayout:
    """The folder ``mouseface bouts --poses FILE --out DIR`` writes (no results folder needed).

    Examples
    --------
    >>> PoseBoutsLayout("out").bouts.as_posix()
    'out/bouts.tsv'
    """

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def bouts(self) -> Path:
        """The bouts: onset, duration (s), trial_type (passive_fear / active_fear), ..."""
        return self.root / "bouts.tsv"

    @property
    def motion(self) -> Path:
        """Per frame: time, centroid speed, fastest part (px/s), from the poses."""
        return self.root / "pose_motion.parquet"

    @property
    def thresholds(self) -> Path:
        return self.root / "thresholds.csv"

    @property
    def summary(self) -> Path:
        return self.root / "bouts_summary.json"

    @property
    def figure(self) -> Path:
        """Stem of the figure (``.png`` and ``.svg``)."""
        return self.root / "bouts"


@dataclass(frozen=True)
class ActionUnitsLayout:
    """The folder ``mouseface au POSES --out DIR`` writes.

    Examples
    --------
    >>> ActionUnitsLayout("out").table.as_posix()
    'out/action_units.csv'
    """

    root: Path

    def __init__(self, root: str | Path) -> None:
        object.__setattr__(self, "root", Path(root))

    @property
    def table(self) -> Path:
        """Per frame: frame, time, au_<name>."""
        return self.root / "action_units.csv"

    @property
    def summary(self) -> Path:
        """Roles, neutral, units, the cleaning report."""
        return self.root / "action_units.json"

    @property
    def figure(self) -> Path:
        """Stem of the traces figure (``.png``)."""
        return self.root / "action_units"
