"""Quality flags of whole sessions, streamed chunk by chunk (memory flat with video length).

The frame measures of :mod:`mouseface.features.quality` need the pixels; the occlusion test also
needs the neutral face. A first, short pass decodes up to ``max_reference`` baseline frames for
the neutral reference; a second pass decodes the sessions in chunks and measures every frame.
Sessions that share a video (a mosaic of trials or animals) are measured together, the video
decoded once per pass for all their ROIs. The HOG outlier score comes from the feature store,
so HOG is never recomputed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface.features.quality import (
    frame_metrics,
    hog_outlier_z,
    occlusion_area,
    occlusion_reference,
    quality_table,
)
from mouseface.io.store import FeatureStore
from mouseface.io.tables import check_roi
from mouseface.io.video import open_video

__all__ = ["QualityTarget", "session_quality", "video_quality"]


@dataclass
class QualityTarget:
    """One session of a video to measure.

    Attributes
    ----------
    store
        The session's feature store (frame times, HOG outlier score; masked HOG when it is a
        masked view).
    baseline_index
        Frames of the session's baseline windows (the neutral face); with none, nothing is
        flagged ``occluded``.
    roi
        The session's crop (None: the whole frame), as in the sessions table.
    large_shift
        Frames whose drift exceeded the threshold (from the registration), flagged too.
    """

    store: FeatureStore
    baseline_index: np.ndarray
    roi: tuple[int, int, int, int] | None = None
    large_shift: np.ndarray | None = None


def session_quality(
    video: str | Path,
    store: FeatureStore,
    baseline_index: np.ndarray,
    *,
    roi: tuple[int, int, int, int] | None = None,
    fps: float | None = None,
    chunk_size: int = 256,
    max_reference: int = 200,
    large_shift: np.ndarray | None = None,
    masked: tuple | None = None,
    **thresholds,
) -> pd.DataFrame:
    """The quality columns of ``frames.parquet`` for one session (one row per stored frame).

    See :func:`video_quality` (this is it for one session) and :class:`QualityTarget`.
    """
    return video_quality(video, [QualityTarget(store, baseline_index, roi, large_shift)],
                         fps=fps, chunk_size=chunk_size, max_reference=max_reference,
                         masked=masked, **thresholds)[0]


def video_quality(
    video: str | Path,
    targets: list[QualityTarget],
    *,
    fps: float | None = None,
    chunk_size: int = 256,
    max_reference: int = 200,
    masked: tuple | None = None,
    **thresholds,
) -> list[pd.DataFrame]:
    """The quality columns of every session of one video, decoding it once per pass.

    Parameters
    ----------
    video, fps
        The sessions' video as in the sessions table.
    targets
        The sessions (:class:`QualityTarget`), each with its own crop.
    chunk_size
        Frames decoded at a time.
    max_reference
        At most this many (the earliest) baseline frames build each neutral reference.
    masked
        ``(rectangles, polygons)`` of the masks, in crop pixels: those pixels are set to
        mid-gray before anything is measured, so nothing inside a mask raises a flag.
    **thresholds
        Passed to :func:`mouseface.features.quality.quality_table`.

    Returns
    -------
    list of DataFrame, one per target (one row per stored frame)
    """
    with open_video(video, fps=fps) as reader:
        rois = [check_roi(t.roi, reader.frame_shape, reader.path) for t in targets]
    fills = [None] * len(targets)
    if masked is not None:
        from mouseface.features.masks import region_pixels

        fills = [region_pixels((h, w), *masked) for _, _, w, h in rois]

    def clean(k: int, frames: np.ndarray) -> np.ndarray:
        if fills[k] is None or not fills[k].any():
            return frames
        frames = frames.copy()
        frames[:, fills[k]] = 128
        return frames

    ns = [t.store.n_frames for t in targets]
    bases = []
    for t, n in zip(targets, ns, strict=True):
        b = np.asarray(t.baseline_index, dtype=np.int64)
        bases.append(b[b < n])
    wanted = [b[:max_reference] for b in bases]

    references: list = [None] * len(targets)
    if any(len(w) for w in wanted):
        stop = max(int(w[-1]) for w in wanted if len(w)) + 1
        crops: list[list[np.ndarray]] = [[] for _ in targets]
        with open_video(video, fps=fps) as reader:
            for c in reader.iter_crops(rois, chunk_size=chunk_size, stop=stop):
                for k, frames in enumerate(c.frames):
                    sel = np.isin(c.index, wanted[k])
                    if sel.any():
                        crops[k].append(clean(k, frames[sel]))
        references = [occlusion_reference(np.concatenate(c)) if c else None for c in crops]

    metrics: list[list[pd.DataFrame]] = [[] for _ in targets]
    occlusion: list[list[np.ndarray]] = [[] for _ in targets]
    previous: list = [None] * len(targets)
    with open_video(video, fps=fps) as reader:
        for c in reader.iter_crops(rois, chunk_size=chunk_size, stop=max(ns)):
            for k, raw in enumerate(c.frames):
                keep = c.index < ns[k]
                if not keep.any():
                    continue
                frames = clean(k, raw[keep])
                metrics[k].append(frame_metrics(frames, previous[k]))
                if references[k] is not None:
                    occlusion[k].append(occlusion_area(frames, references[k]))
                previous[k] = frames[-1]

    out = []
    for k, t in enumerate(targets):
        out.append(_table(t, ns[k], bases[k], metrics[k], occlusion[k], thresholds))
    return out


def _table(t: QualityTarget, n: int, base: np.ndarray, metrics, occlusion,
           thresholds) -> pd.DataFrame:
    time = t.store.time
    m = pd.concat(metrics, ignore_index=True).iloc[:n]
    occ = np.concatenate(occlusion)[:n] if occlusion else None
    z = None
    if len(base):
        baseline_hog = t.store.read(base)
        z = np.concatenate([hog_outlier_z(x, baseline_hog) for _, x in t.store.iter_blocks()])
    if len(m) < n:  # the video gave fewer frames on this pass: pad, flag nothing extra
        pad = n - len(m)
        m = pd.concat([m, pd.DataFrame(np.nan, index=range(pad), columns=m.columns)],
                      ignore_index=True).fillna({"duplicate": False})
        occ = None if occ is None else np.r_[occ, np.full(pad, np.nan)]
    large_shift = None if t.large_shift is None else np.asarray(t.large_shift, bool)[:n]
    return quality_table(m, time[:n], occlusion=occ, hog_z=z, large_shift=large_shift,
                         **thresholds)
