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
      model/                   prototypes.npz, model.json, template.npy
      registration/            sessions.csv, summary.json, qc*.png
      analysis/                classify, embed, cluster, trials, dose, stats, compare outputs
      neural/                  neurons.csv, neural_summary.json, figures
      behaviour/               motion.parquet, bouts.tsv, events.tsv, thresholds.csv,
                               bouts_summary.json, bouts.png (spontaneous states)
      overlay/<session>.mp4    overlay videos
      nwb/<session>.nwb        NWB export
      calibration.npz          `live --record`: the session's calibration (a reference file)
      .mouseface.lock          while a command writes the folder (one at a time)

Nothing else in the package spells these names: code asks :class:`ResultsLayout` for a path.
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

__all__ = ["ResultsLayout"]


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
    def neurons(self) -> Path:
        return self.neural / "neurons.csv"

    @property
    def neural_summary(self) -> Path:
        return self.neural / "neural_summary.json"

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

    @property
    def behaviour_motion(self) -> Path:
        """Movement per frame measured by ``bouts`` itself (a motion-only pass)."""
        return self.behaviour / "motion.parquet"

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

    def comparison(self, by: str) -> Path:
        """Stem of ``compare --by <by>``'s table, figure and summary in ``analysis/``."""
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in str(by))
        return self.analysis / f"compare_{safe}"

    def overlay_video(self, session: str) -> Path:
        return self.overlay / f"{safe_name(session)}.mp4"

    def nwb_file(self, session: str) -> Path:
        return self.nwb / f"{safe_name(session)}.nwb"

    def is_results(self) -> bool:
        """Whether the folder looks like a results folder (``run.json`` or ``frames.parquet``)."""
        return self.root.is_dir() and (self.run_json.is_file() or self.frames.is_file())
