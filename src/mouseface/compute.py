"""Executors for feature extraction: local (default) or a Dask cluster.

Tasks are sessions; each writes its own feature store.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from mouseface._progress import Reporter
from mouseface.config import Settings
from mouseface.features.extract import extract_features
from mouseface.io.store import FeatureStore


def store_path(features_dir: Path, session: str) -> Path:
    """Where the features of ``session`` live."""
    return Path(features_dir) / f"{session}.zarr"


def _roi(row) -> tuple[int, int, int, int] | None:
    roi = getattr(row, "roi", None)
    if roi is None or (isinstance(roi, float) and roi != roi):
        return None
    return tuple(int(v) for v in roi)


def _fps(row) -> float | None:
    fps = getattr(row, "fps", None)
    return None if fps is None or fps != fps else float(fps)


def extract_sessions(
    sessions: pd.DataFrame, features_dir: Path, settings: Settings, reporter: Reporter
) -> dict[str, FeatureStore]:
    """Extract every session's features in this process, one after another."""
    stores = {}
    for row in sessions.itertuples(index=False):
        task = reporter.task(f"features {row.session}", total=None)
        stores[row.session] = extract_features(
            row.video, store_path(features_dir, row.session), hog_params=settings.hog_params(),
            roi=_roi(row), fps=_fps(row), chunk_size=settings.compute.chunk_size,
            on_frames=task.advance)
        task.update(total=stores[row.session].n_frames,
                    completed=stores[row.session].n_frames)
    return stores
