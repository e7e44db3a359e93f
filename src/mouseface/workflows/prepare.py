"""What `run`, `fit` and `score` all do before prototypes: tables, faces that line up, features,
quality and masks.

:func:`prepare` reads and checks the tables, registers every session (reference faces, their
transforms onto a template, drift per frame; see :mod:`mouseface.features.alignment`), extracts
the HOG features, measures frame quality and builds the HOG cell mask. What it returns
(:class:`Prepared`) is all the later stages need.

Templates (``scope``):

- ``"animal"`` (``run``): each animal's first session in the table; its other sessions are
  registered onto it. Per-animal prototypes need nothing more.
- ``"all"`` (``fit``): the mean face of every session, registered onto the first session (the
  model saves it, so that new animals are registered onto the same face).
- ``"model"`` (``score``): the saved model's template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.expressions.prototypes import NEUTRAL
from mouseface.expressions.trials import label_frames
from mouseface.io import tables
from mouseface.io.layout import ResultsLayout
from mouseface.io.store import FeatureStore
from mouseface.workflows.register import _align, _write_registration
from mouseface.workflows.settings import Settings

__all__ = ["MaskedStore", "Prepared", "prepare"]


class MaskedStore:
    """A feature store whose HOG vectors lose the masked cells' entries when read.

    Everything else (times, shapes, attributes) is the store's own.
    """

    def __init__(self, store: FeatureStore, keep: np.ndarray | None):
        self.store = store
        self.keep = keep

    def __getattr__(self, name):
        return getattr(self.store, name)

    def read(self, index=None) -> np.ndarray:
        x = self.store.read(index)
        return x if self.keep is None else x[:, self.keep]

    def iter_blocks(self, block: int | None = None):
        for start, x in self.store.iter_blocks(block):
            yield start, (x if self.keep is None else x[:, self.keep])


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
        Session -> the quality columns of ``frames.parquet`` (None: quality pass off).
    drift
        Session -> the drift columns (``shift_y``, ``shift_x``, ``shift``); empty without drift
        correction.
    mask
        The HOG cells left out (cells_y, cells_x) bool, or None.
    template
        The template face the sessions were registered onto (``fit``: saved with the model).
    mask_regions
        Every mask region in force, as text (saved with a model).
    """

    sessions: pd.DataFrame
    events: pd.DataFrame
    stores: dict[str, MaskedStore]
    labels: dict[str, np.ndarray]
    quality: dict[str, pd.DataFrame] | None
    drift: dict[str, pd.DataFrame] = field(default_factory=dict)
    mask: np.ndarray | None = None
    keep: np.ndarray | None = None
    template: np.ndarray | None = None
    mask_regions: str = ""

    def frame_extras(self, session: str, n: int) -> pd.DataFrame | None:
        """Quality and drift columns of a session's first ``n`` frames."""
        parts = []
        if self.quality is not None:
            parts.append(self.quality[session].iloc[:n].reset_index(drop=True))
        if session in self.drift:
            d = self.drift[session].iloc[:n].reset_index(drop=True)
            if self.quality is not None:
                d = d.drop(columns="large_shift")
            parts.append(d)
        return pd.concat(parts, axis=1) if parts else None


def prepare(
    sessions_path: str | Path,
    events_path: str | Path | None,
    out: Path,
    settings: Settings,
    reporter: Reporter,
    log,
    *,
    scope: str,
    template: np.ndarray | None = None,
    model_regions: str = "",
) -> Prepared:
    """Read the tables, register, extract, measure quality and build the mask (see module).

    ``log`` is the :class:`~mouseface.workflows.pipeline.RunLog` whose stages are timed;
    ``model_regions`` the mask regions a saved model was fitted with.
    """
    with log.stage("read_tables"):
        sessions = tables.read_sessions(sessions_path)
        if events_path is not None:
            events = tables.read_events(events_path, sessions)
        else:
            events = pd.DataFrame(columns=["session", "onset", "duration", "trial_type",
                                           "event"])
    regions = _regions(sessions, settings, model_regions, Path(sessions_path))
    alignments, tmpl = None, None
    align = settings.registration.resolved(scope)
    if align != "none" or settings.registration.drift:
        with log.stage("registration"):
            alignments, tmpl, references, templates = _align(
                sessions, events, settings, reporter, scope=scope, align=align,
                template=template, model_path=sessions_path, regions=regions)
    with log.stage("extract"):
        raw = extract_all(sessions, out, settings, reporter, log, alignments)
    if events_path is not None:
        _check_events(events, raw, Path(events_path))
    mask, keep = _mask(regions, raw, settings, Path(sessions_path))
    stores = {s: MaskedStore(st, keep) for s, st in raw.items()}
    labels = {s: label_frames(st.time, events[events["session"] == s],
                              settings.prototypes.baseline)[0] for s, st in stores.items()}
    drift = {}
    if settings.registration.drift:
        from mouseface.features.registration import drift_table

        for s, st in raw.items():
            shifts = st.shifts
            if shifts is not None:
                drift[s] = drift_table(shifts, settings.registration.shift_threshold)
    with log.stage("quality"):
        quality = _quality_all(sessions, stores, labels, drift, settings, reporter, regions)
    if alignments is not None:
        _write_registration(out, sessions, references, templates, alignments, settings, drift,
                            per_animal=scope == "animal" and not settings.registration.template)
    return Prepared(sessions, events, stores, labels, quality, drift, mask, keep, tmpl,
                    _regions_text(regions))


# ---------------------------------------------------------------------------- stages


def extract_all(
    sessions: pd.DataFrame, out: Path, settings: Settings, reporter: Reporter, log,
    alignments: dict | None = None,
) -> dict[str, FeatureStore]:
    """Extract (or reuse) the HOG features of every session into ``out/features``."""
    from mouseface.workflows.execute import extract_sessions

    stores = extract_sessions(sessions, ResultsLayout(out).features, settings, reporter,
                              alignments)
    for row in sessions.itertuples(index=False):
        s = stores[row.session]
        log.add_input(row.video, s.attrs.get("fingerprint"), session=row.session,
                      frames=s.n_frames, truncated=s.attrs.get("truncated", False))
    return stores


def _check_events(events: pd.DataFrame, stores: dict[str, FeatureStore], path: Path) -> None:
    for session, ev in events.groupby("session", sort=False):
        t = stores[session].time
        duration = float(t[-1] + (np.median(np.diff(t)) if len(t) > 1 else 0.0)) if len(t) else 0
        tables.check_events_within(ev, session, duration, path)


def _quality_all(sessions: pd.DataFrame, stores: dict, labels: dict[str, np.ndarray],
                 drift: dict[str, pd.DataFrame], settings: Settings, reporter: Reporter,
                 regions=((), ())) -> dict[str, pd.DataFrame] | None:
    """Quality columns of every session (None when the quality pass is off); sessions that
    share a video are measured in one decoding pass."""
    if not settings.quality.enabled:
        return None
    import os
    from concurrent.futures import ThreadPoolExecutor

    from mouseface.features.session_quality import QualityTarget, video_quality
    from mouseface.workflows.execute import _roi, by_video

    task = reporter.task("quality", total=len(sessions), unit="sessions")
    masked = regions if (regions[0] or regions[1]) else None

    def one(item) -> dict[str, pd.DataFrame]:
        (video, fps), rows = item
        targets = []
        for row in rows:
            d = drift.get(row.session)
            targets.append(QualityTarget(
                stores[row.session], np.flatnonzero(labels[row.session] == NEUTRAL),
                _roi(row), None if d is None else d["large_shift"].to_numpy()))
        tables = video_quality(video, targets, fps=fps, chunk_size=settings.compute.chunk_size,
                               masked=masked, min_area=settings.quality.min_area,
                               min_z=settings.quality.min_z)
        task.advance(len(rows))
        return {row.session: q for row, q in zip(rows, tables, strict=True)}

    # Decoding and the image filters release the GIL: threads keep the cores busy.
    items = list(by_video(sessions).items())
    out: dict[str, pd.DataFrame] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(len(items), os.cpu_count() or 1))) as pool:
        for part in pool.map(one, items):
            out.update(part)
    return {s: out[s] for s in sessions["session"]}


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


def _mask(regions, stores, settings: Settings, path: Path):
    """The HOG cells the mask regions exclude, and which HOG entries are kept."""
    from mouseface.features.masks import cell_mask, feature_keep

    if not regions[0] and not regions[1]:
        return None, None
    st = next(iter(stores.values()))
    crop = tuple(st.attrs["crop_shape"])
    hp = settings.hog
    try:
        mask = cell_mask(crop, hp.pixels_per_cell, *regions)
    except ValueError as exc:
        raise InputError(f"mask: {exc}", path) from None
    keep = feature_keep(mask, hp.orientations, hp.cells_per_block)
    if len(keep) != st.n_features:
        raise InputError(f"a mask over {mask.shape} cells does not fit HOG vectors of "
                         f"{st.n_features} entries", path)
    return mask, keep
