"""Read a results folder (what ``mouseface run`` or ``score`` wrote) for the analyses.

What is read here (paths from :class:`~mouseface.io.layout.ResultsLayout`)::

    DIR/frames.parquet        one row per frame: session, animal, frame, time, window, sim_<p>
    DIR/trials.csv            one row per event: the events columns, score_<p>, peak_<p>
    DIR/features/<s>.zarr     HOG per frame of session s
    DIR/run.json              settings (prototypes.baseline: seconds of baseline per trial)
    DIR/analysis/             where the analyses write their tables and figures

Only reading lives here; the analyses compute in :mod:`mouseface.expressions`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout
from mouseface.io.store import FeatureStore

#: seconds of baseline before each onset when run.json does not say
DEFAULT_BASELINE = 2.0


class Results:
    """A results folder, read lazily.

    Parameters
    ----------
    path
        The folder ``mouseface run`` wrote.
    require
        Files that must exist (``score`` without events writes no ``trials.csv``).

    Raises
    ------
    InputError
        When the folder or a required file is missing, or a file is unreadable.
    """

    def __init__(self, path: str | Path, *,
                 require: tuple[str, ...] = ("frames", "trials")):
        self.path = Path(path)
        self.layout = ResultsLayout(self.path)
        if not self.path.is_dir():
            raise InputError("results folder not found", self.path)
        for name in require:
            if not getattr(self.layout, name).is_file():
                raise InputError(f"not a mouseface results folder (no "
                                 f"{getattr(self.layout, name).name}); run `mouseface run` "
                                 "first", self.path)

    @property
    def analysis_dir(self) -> Path:
        """``DIR/analysis``, created on first use."""
        out = self.layout.analysis
        out.mkdir(parents=True, exist_ok=True)
        return out

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
        if not self.prototypes_of(df):
            raise InputError("no sim_<prototype> columns", path)
        df["session"] = df["session"].astype(str)
        df["animal"] = df["animal"].astype(str)
        if "window" not in df.columns:
            df["window"] = ""
        df["window"] = df["window"].fillna("").astype(str)
        return df.sort_values(["session", "time"], kind="stable").reset_index(drop=True)

    @cached_property
    def trials(self) -> pd.DataFrame:
        """``trials.csv``; session as str, an ``animal`` column added from the frames if absent."""
        path = self.layout.trials
        try:
            df = pd.read_csv(path, dtype={"session": str, "trial_type": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read CSV ({exc})", path) from None
        missing = sorted({"session", "onset", "duration", "trial_type"} - set(df.columns))
        if missing:
            raise InputError(f"missing columns {missing}", path)
        if "event" not in df.columns:
            df["event"] = np.arange(len(df))
        if "animal" not in df.columns:
            animal = self.frames.drop_duplicates("session").set_index("session")["animal"]
            df["animal"] = df["session"].map(animal).astype(str)
        df["animal"] = df["animal"].astype(str)
        return df

    @staticmethod
    def prototypes_of(frames: pd.DataFrame) -> list[str]:
        """Prototype names from the ``sim_<p>`` columns, in column order."""
        return [c.removeprefix("sim_") for c in frames.columns if c.startswith("sim_")]

    @property
    def prototypes(self) -> list[str]:
        """Prototype names of this folder (the neutral one first when present)."""
        names = self.prototypes_of(self.frames)
        neutral = self.neutral
        return ([neutral] if neutral in names else []) + [n for n in names if n != neutral]

    @property
    def neutral(self) -> str:
        """Label of baseline frames (``neutral``)."""
        return "neutral"

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


# ---------------------------------------------------------------------------- tidy loading


@dataclass(frozen=True)
class TidyResults:
    """A results folder in memory: what :func:`load_results` returns.

    Attributes
    ----------
    path : Path
        The folder.
    frames : pandas.DataFrame
        ``frames.parquet``: one row per frame, ``session``, ``animal``, ``frame``, ``time``
        (seconds from the video's first frame), ``window`` (``neutral`` in baseline windows,
        the condition in stimulus windows, ``""`` elsewhere), one ``sim_<prototype>`` column of
        Pearson r per prototype. Sorted by session, then time.
    trials : pandas.DataFrame
        ``trials.csv``: the events' own columns, ``event``, ``trial``, ``score_<prototype>``,
        ``peak_<prototype>``; empty (with ``session, onset, duration, trial_type``) when the
        folder was scored without events.
    prototypes : dict of str to numpy.ndarray
        Prototype name to HOG array of shape ``(len(models), cells_y, cells_x, orientations)``;
        NaN where a model has no prototype of that name. Empty when the folder has no
        ``model/``.
    models : list of str
        What the first axis of each prototype array is: the animals (``run``: per-animal
        prototypes) or ``["pooled"]`` (``fit``).
    feature_shape : tuple of int
        ``(cells_y, cells_x, orientations)``.
    run : dict
        ``run.json``: versions, settings, inputs, timings, warnings.
    model : dict
        ``model/model.json`` (names, parameters, mode); empty without ``model/``.
    """

    path: Path
    frames: pd.DataFrame
    trials: pd.DataFrame
    prototypes: dict[str, np.ndarray]
    models: list[str]
    feature_shape: tuple[int, ...]
    run: dict
    model: dict = field(default_factory=dict)

    @property
    def prototype_names(self) -> list[str]:
        """Prototype names, ``neutral`` first, then as in the ``sim_`` columns."""
        if self.prototypes:
            return list(self.prototypes)
        names = Results.prototypes_of(self.frames)
        return (["neutral"] if "neutral" in names else []) + [n for n in names
                                                               if n != "neutral"]

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
        sim_names = set(Results.prototypes_of(self.frames))
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
                           ("trial", t[c].to_numpy()) for c in t.columns
                           if not c.startswith(("score_", "peak_"))})
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


def load_results(path: str | Path) -> TidyResults:
    """Load a results folder (what ``mouseface run`` or ``score`` wrote) into tidy tables.

    Parameters
    ----------
    path
        The results folder.

    Returns
    -------
    TidyResults
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
    r = Results(path, require=("frames",))
    frames = r.frames
    if r.layout.trials.is_file():
        trials = r.trials
    else:
        trials = pd.DataFrame(columns=["session", "onset", "duration", "trial_type"])
    prototypes: dict[str, np.ndarray] = {}
    models: list[str] = []
    meta: dict = {}
    shape: tuple[int, ...] = ()
    from mouseface.io.model import has_model, load_model

    if has_model(r.path):
        saved, meta = load_model(r.path)
        shape = tuple(int(n) for n in meta.get("feature_shape", ()))
        models = list(saved)
        order = r.prototypes
        names = [n for n in order if any(n in v[0] for v in saved.values())]
        names += sorted({n for v in saved.values() for n in v[0]} - set(names))
        for name in names:
            stack = np.full((len(models), *shape), np.nan)
            for i, key in enumerate(models):
                got, arrays = saved[key]
                if name in got:
                    stack[i] = arrays[got.index(name)].reshape(shape)
            prototypes[name] = stack
    return TidyResults(path=r.path, frames=frames, trials=trials, prototypes=prototypes,
                       models=models, feature_shape=shape, run=r.run, model=meta)


__all__ = ["DEFAULT_BASELINE", "Results", "TidyResults", "load_results"]
