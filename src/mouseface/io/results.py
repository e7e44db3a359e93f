"""Read a results folder (what ``mouseface run`` or ``score`` wrote) for the analyses.

Layout read here (see DESIGN.md)::

    DIR/frames.parquet        one row per frame: session, animal, frame, time, window, sim_<p>
    DIR/trials.csv            one row per event: the events columns, score_<p>, peak_<p>
    DIR/features/<s>.zarr     HOG per frame of session s
    DIR/run.json              settings (prototypes.baseline: seconds of baseline per trial)
    DIR/analysis/             where the analyses write their tables and figures

Only reading lives here; the analyses compute in :mod:`mouseface.expressions`.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.io.store import FeatureStore

#: seconds of baseline before each onset when run.json does not say
DEFAULT_BASELINE = 2.0


class Results:
    """A results folder, read lazily.

    Parameters
    ----------
    path
        The folder ``mouseface run`` wrote.

    Raises
    ------
    InputError
        When the folder, ``frames.parquet`` or ``trials.csv`` is missing or unreadable.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_dir():
            raise InputError("results folder not found", self.path)
        for name in ("frames.parquet", "trials.csv"):
            if not (self.path / name).is_file():
                raise InputError(f"not a mouseface results folder (no {name}); run "
                                 "`mouseface run` first", self.path)

    @property
    def analysis_dir(self) -> Path:
        """``DIR/analysis``, created on first use."""
        out = self.path / "analysis"
        out.mkdir(parents=True, exist_ok=True)
        return out

    @cached_property
    def run(self) -> dict:
        """``run.json`` as a dict (empty when absent)."""
        path = self.path / "run.json"
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
        path = self.path / "frames.parquet"
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
        path = self.path / "trials.csv"
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
        path = self.path / "features" / f"{session}.zarr"
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


__all__ = ["DEFAULT_BASELINE", "Results"]
