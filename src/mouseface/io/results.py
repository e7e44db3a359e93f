"""Read a results folder (what ``mouseface run``, ``score`` or ``live --record`` wrote).

One reader for everything downstream: the analyses, the report, the NWB export, the napari
viewer and users (:func:`load_results`). It reads lazily, each file at most once::

    res = load_results("results")
    res.frames        frames.parquet: one row per frame, session, animal, frame, time, window,
                      sim_<p>, quality and drift columns
    res.trials        trials.csv: one row per event, score_<p>, peak_<p>, grade_<c>,
                      grade_mean_<c>
    res.prototypes    {name: (models, cells_y, cells_x, orientations)} from model/
    res.run           run.json

:meth:`Results.from_memory` builds the same view over tables a run still holds (the run hands
it to the report, which then reads nothing back). Paths come from
:class:`~mouseface.io.layout.ResultsLayout`; only reading lives here.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout
from mouseface.io.store import FeatureStore
from mouseface.io.tables import NEUTRAL, event_columns

#: seconds of baseline before each onset when run.json does not say
DEFAULT_BASELINE = 2.0

_NOT_READ = object()


class Results:
    """A results folder, read lazily (or handed over in memory: :meth:`from_memory`).

    Parameters
    ----------
    path
        The folder ``mouseface run`` wrote.
    require
        Files that must exist (``score`` without events writes no ``trials.csv``).

    Attributes
    ----------
    path : Path
        The folder.
    frames : pandas.DataFrame
        ``frames.parquet``: one row per frame, ``session``, ``animal``, ``frame``, ``time``
        (seconds from the video's first frame), ``window`` (``neutral`` in baseline windows,
        the condition in stimulus windows, ``""`` elsewhere), one ``sim_<prototype>`` column of
        Pearson r per prototype, the quality and drift columns. Sorted by session, then time.
    trials : pandas.DataFrame
        ``trials.csv``: the events' own columns, ``event``, ``trial``, ``animal``,
        ``score_<prototype>``, ``peak_<prototype>``; empty (with ``session, onset, duration,
        trial_type``) when the folder was scored without events.
    prototypes : dict of str to numpy.ndarray
        Prototype name to HOG array of shape ``(len(models), cells_y, cells_x, orientations)``;
        NaN where a model has no prototype of that name. Empty when the folder has no
        ``model/``.
    models : list of str
        What the first axis of each prototype array is: the animals (``run``: per-animal
        prototypes) or ``["pooled"]`` / ``["transfer"]`` (``fit``).
    feature_shape : tuple of int
        ``(cells_y, cells_x, orientations)``.
    run : dict
        ``run.json``: versions, settings, inputs, timings, warnings.
    model : dict
        ``model/model.json`` (names, parameters, mode); empty without ``model/``.

    Raises
    ------
    InputError
        When the folder or a required file is missing, or a file is unreadable.

    Notes
    -----
    A ``Results`` stands for its folder wherever a path is taken (``os.PathLike``):
    ``results / "trials.csv"``, ``mouseface.score(results, ...)``, ``load_results(results)``.
    """

    def __init__(self, path: str | Path, *,
                 require: tuple[str, ...] = ("frames", "trials")):
        self.path = Path(path)
        self.layout = ResultsLayout(self.path)
        self._memory: dict[str, Any] = {}
        if not self.path.is_dir():
            raise InputError("results folder not found", self.path)
        for name in require:
            if not getattr(self.layout, name).is_file():
                raise InputError(f"not a mouseface results folder (no "
                                 f"{getattr(self.layout, name).name}); run `mouseface run` "
                                 "first", self.path)

    @classmethod
    def from_memory(cls, path: str | Path, *, frames: pd.DataFrame, trials: pd.DataFrame | None,
                    run: dict, model: tuple[dict, dict] | None = None,
                    **extra: Any) -> Results:
        """The view of a results folder over tables already in memory (what a run just wrote).

        ``model`` is ``(saved, meta)`` as :func:`mouseface.io.model.load_model` gives them;
        ``extra`` holds what else the run hands on (e.g. ``registration``, ``kept``), read back
        with :meth:`handed`.
        """
        self = cls.__new__(cls)
        self.path = Path(path)
        self.layout = ResultsLayout(self.path)
        self._memory = {"model": model, **extra}
        self.__dict__["frames"] = _tidy_frames(frames)
        self.__dict__["run"] = run
        self.__dict__["trials"] = (_tidy_trials(trials, self.__dict__["frames"])
                                   if trials is not None and len(trials.columns) else
                                   pd.DataFrame(columns=["session", "onset", "duration",
                                                         "trial_type"]))
        return self

    def __fspath__(self) -> str:
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path)

    def __truediv__(self, other: str | Path) -> Path:
        return self.path / other

    def __repr__(self) -> str:
        return f"Results({str(self.path)!r})"

    @property
    def in_memory(self) -> bool:
        """Whether a run handed these results over in memory (:meth:`from_memory`)."""
        return bool(self._memory)

    def handed(self, name: str, default: Any = None) -> Any:
        """Something a run handed over in memory (None when the folder was read from disk)."""
        return self._memory.get(name, default)

    @cached_property
    def run(self) -> dict:
        """``run.json`` as a dict (empty when absent)."""
        path = self.layout.run_json
        if not path.is_file():
            return {}
        try:
            return json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON: {exc}", path) from None

    @property
    def sessions_table(self) -> Path | None:
        """The sessions table the run read (``run.json``'s inputs), None when not recorded."""
        recorded = [i.get("path") for i in self.run.get("inputs", []) or []
                    if i.get("kind") == "sessions" and i.get("path")]
        return Path(recorded[0]) if recorded else None

    @property
    def baseline(self) -> float:
        """Seconds of baseline before each onset (``prototypes.baseline`` of the run)."""
        try:
            return float(self.run["settings"]["prototypes"]["baseline"])
        except (KeyError, TypeError, ValueError):
            return DEFAULT_BASELINE

    @cached_property
    def frames(self) -> pd.DataFrame:
        """``frames.parquet``, sorted by session then time; session and animal as str."""
        path = self.layout.frames
        try:
            df = pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types for a damaged file
            raise InputError(f"cannot read Parquet ({type(exc).__name__}: {exc})",
                             path) from None
        missing = sorted({"session", "animal", "frame", "time"} - set(df.columns))
        if missing:
            raise InputError(f"missing columns {missing}", path)
        return _tidy_frames(df)  # no sim_ columns when no prototypes could be built: still read

    @cached_property
    def trials(self) -> pd.DataFrame:
        """``trials.csv`` (session and animal as str, ``animal`` added from the frames if
        absent); empty, with the events' required columns, when there is none."""
        path = self.layout.trials
        if not path.is_file():
            return pd.DataFrame(columns=["session", "onset", "duration", "trial_type"])
        try:
            df = pd.read_csv(path, dtype={"session": str, "trial_type": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read CSV ({exc})", path) from None
        missing = sorted({"session", "onset", "duration", "trial_type"} - set(df.columns))
        if missing:
            raise InputError(f"missing columns {missing}", path)
        return _tidy_trials(df, self.frames)

    @staticmethod
    def prototypes_of(frames: pd.DataFrame) -> list[str]:
        """Prototype names from the ``sim_<p>`` columns, in column order."""
        return [c.removeprefix("sim_") for c in frames.columns if c.startswith("sim_")]

    @property
    def prototype_names(self) -> list[str]:
        """Prototype names, neutral first: the model's, else those of the ``sim_`` columns."""
        if self.prototypes:
            return list(self.prototypes)
        names = self.prototypes_of(self.frames)
        neutral = self.neutral
        return ([neutral] if neutral in names else []) + [n for n in names if n != neutral]

    @cached_property
    def _model(self) -> tuple[dict, dict]:
        given = self._memory.get("model", _NOT_READ)
        if given is not _NOT_READ:
            return given if given is not None else ({}, {})
        from mouseface.io.model import has_model, load_model

        return load_model(self.path) if has_model(self.path) else ({}, {})

    @property
    def model(self) -> dict:
        """``model/model.json`` (names, parameters, mode); empty without a model."""
        return self._model[1]

    @cached_property
    def models(self) -> list[str]:
        """The models of the prototype arrays' first axis (animals, or one pooled model)."""
        return list(self._model[0])

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(int(n) for n in self.model.get("feature_shape", ()))

    @cached_property
    def prototypes(self) -> dict[str, np.ndarray]:
        """Prototype name -> HOG array (models, cells_y, cells_x, orientations), neutral first."""
        saved, _ = self._model
        if not saved:
            return {}
        shape = self.feature_shape
        names_sim = self.prototypes_of(self.frames)
        neutral = self.neutral
        order = ([neutral] if neutral in names_sim else []) + [n for n in names_sim
                                                               if n != neutral]
        names = [n for n in order if any(n in v[0] for v in saved.values())]
        names += sorted({n for v in saved.values() for n in v[0]} - set(names))
        out = {}
        for name in names:
            stack = np.full((len(saved), *shape), np.nan)
            for i, key in enumerate(saved):
                got, arrays = saved[key]
                if name in got:
                    stack[i] = arrays[got.index(name)].reshape(shape)
            out[name] = stack
        return out

    @property
    def neutral(self) -> str:
        """Label of baseline frames (``neutral``)."""
        return NEUTRAL

    def store(self, session: str) -> FeatureStore:
        """The feature store of ``session``."""
        path = self.layout.store(session)
        if not path.exists():
            raise InputError(f"no HOG features for session {session!r}: the results folder has "
                             "no features/ (use --features similarity)", path)
        return FeatureStore(path)

    def hog(self, rows: pd.DataFrame) -> np.ndarray:
        """HOG vectors (n, D) float32 of the given ``frames`` rows, in their order."""
        out = None
        for session, idx in rows.groupby("session", sort=False).indices.items():
            store = self.store(str(session))
            frame = rows["frame"].to_numpy()[idx].astype(np.int64)
            x = store.read(frame)
            if out is None:
                out = np.empty((len(rows), x.shape[1]), np.float32)
            elif x.shape[1] != out.shape[1]:
                raise InputError(f"session {session!r} has {x.shape[1]} HOG entries per frame, "
                                 f"others {out.shape[1]}: use ROIs of one size", store.path)
            out[idx] = x
        return np.empty((0, 0), np.float32) if out is None else out

    def prototype(self, name: str, model: str | None = None) -> np.ndarray:
        """HOG of prototype ``name`` of one model (an animal, or ``pooled``).

        ``model`` may be left out when there is only one. Shape ``feature_shape``.
        """
        if name not in self.prototypes:
            raise KeyError(f"no prototype {name!r}; have {sorted(self.prototypes)}")
        if model is None:
            if len(self.models) != 1:
                raise ValueError(f"give model=, one of {self.models}")
            model = self.models[0]
        if model not in self.models:
            raise KeyError(f"no model {model!r}; have {self.models}")
        return self.prototypes[name][self.models.index(model)]

    def to_xarray(self):
        """The same as an :class:`xarray.Dataset` with labelled dimensions (needs xarray).

        Variables: ``similarity`` (sample, prototype) with the frame columns as coordinates
        along ``sample``; ``score`` and ``peak`` (trial, prototype) with the events' columns
        along ``trial`` (``session``, ``animal`` and ``trial`` there are named
        ``trial_session``, ``trial_animal``, ``trial_trial``); ``prototype_hog`` (model,
        prototype, cell_y, cell_x, orientation).
        ``attrs`` hold ``time_unit`` (``s``) and ``run.json`` as a JSON string.

        Raises
        ------
        ImportError
            When xarray is not installed (``pip install xarray``); mouseface does not need it.
        """
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("to_xarray needs xarray: pip install xarray (or use the pandas "
                              "tables .frames and .trials)") from None
        sim_names = set(self.prototypes_of(self.frames))
        names = [n for n in self.prototype_names if n in sim_names]
        f = self.frames
        coords: dict = {"prototype": names}
        coords.update({c: ("sample", f[c].to_numpy()) for c in f.columns
                       if not c.startswith("sim_")})
        data = {"similarity": (("sample", "prototype"),
                               f[[f"sim_{n}" for n in names]].to_numpy())}
        t = self.trials
        for kind in ("score", "peak"):
            cols = [f"{kind}_{n}" for n in names]
            if len(t) and all(c in t.columns for c in cols):
                data[kind] = (("trial", "prototype"), t[cols].to_numpy(dtype=float))
        if "score" in data or "peak" in data:
            # events columns along "trial"; those whose names the frames use too (session,
            # animal) and the "trial" column itself get a "trial_" prefix
            coords.update({(f"trial_{c}" if c in f.columns or c == "trial" else c):
                           ("trial", t[c].to_numpy()) for c in event_columns(t)})
        if self.prototypes:
            nan = np.full((len(self.models), *self.feature_shape), np.nan)
            data["prototype_hog"] = (
                ("model", "prototype", "cell_y", "cell_x", "orientation"),
                np.stack([self.prototypes.get(n, nan) for n in names], axis=1))
            coords["model"] = self.models
        ds = xr.Dataset(data, coords=coords,
                        attrs={"time_unit": "s", "run": json.dumps(self.run),
                               "path": str(self.path)})
        return ds


def _tidy_frames(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["session"] = df["session"].astype(str)
    df["animal"] = df["animal"].astype(str)
    if "window" not in df.columns:
        df["window"] = ""
    df["window"] = df["window"].fillna("").astype(str)
    return df.sort_values(["session", "time"], kind="stable").reset_index(drop=True)


def _tidy_trials(df: pd.DataFrame, frames: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["session"] = df["session"].astype(str)
    if "event" not in df.columns:
        df["event"] = np.arange(len(df))
    if "animal" not in df.columns:
        animal = frames.drop_duplicates("session").set_index("session")["animal"]
        df["animal"] = df["session"].map(animal).astype(str)
    df["animal"] = df["animal"].astype(str)
    if "window_flag" in df.columns:  # "" in memory is an empty cell in the CSV: read as ""
        df["window_flag"] = df["window_flag"].fillna("").astype(str)
    return df


def load_results(path: str | Path) -> Results:
    """Load a results folder (what ``mouseface run`` or ``score`` wrote).

    Parameters
    ----------
    path
        The results folder.

    Returns
    -------
    Results
        ``.frames`` and ``.trials`` (pandas), ``.prototypes`` (name to HOG arrays),
        ``.run`` (dict) and ``.to_xarray()`` when xarray is installed.

    Raises
    ------
    InputError
        When the folder or its ``frames.parquet`` is missing, or a file is unreadable.

    Examples
    --------
    >>> import mouseface
    >>> res = mouseface.load_results("results")            # doctest: +SKIP
    >>> res.frames.groupby("window")["sim_pain"].mean()     # doctest: +SKIP
    >>> res.prototype("pain", model="mouse1").shape         # doctest: +SKIP
    (15, 20, 8)
    """
    return Results(path, require=("frames",))


__all__ = ["DEFAULT_BASELINE", "Results", "load_results"]
