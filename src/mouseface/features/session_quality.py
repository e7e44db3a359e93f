"""Quality flags of a whole session, streamed chunk by chunk (memory flat with video length).

The frame measures of :mod:`mouseface.features.quality` need the pixels; the occlusion test also
needs the neutral face. A first, short pass decodes up to ``max_reference`` baseline frames for
the neutral reference; a second pass decodes the session in chunks and measures every frame.
The HOG outlier score comes from the feature store, so HOG is never recomputed.
"""

from __future__ import annotations

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
from mouseface.io.video import open_video


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

    Parameters
    ----------
    video, roi, fps
        The session's video as in the sessions table (the same crop the features came from).
    store
        The session's feature store (for frame times and the HOG outlier score).
    baseline_index
        Frames of the session's baseline windows (the neutral face). With none, nothing is
        flagged ``occluded``.
    chunk_size
        Frames decoded at a time.
    max_reference
        At most this many (the earliest) baseline frames build the neutral reference.
    large_shift
        Frames whose drift exceeded the threshold (from the registration), flagged too.
    masked
        ``(rectangles, polygons)`` of the masks, in crop pixels: those pixels are set to
        mid-gray before anything is measured, so nothing inside a mask raises a flag.
    **thresholds
        Passed to :func:`mouseface.features.quality.quality_table`.
    """
    n = store.n_frames
    time = store.time
    fill = None
    if masked is not None:
        from mouseface.features.masks import region_pixels

        with open_video(video, roi=roi, fps=fps) as reader:
            _, _, w, h = reader.roi
        fill = region_pixels((h, w), *masked)

    def clean(frames: np.ndarray) -> np.ndarray:
        if fill is None or not fill.any():
            return frames
        frames = frames.copy()
        frames[:, fill] = 128
        return frames

    base = np.asarray(baseline_index, dtype=np.int64)
    base = base[base < n]
    reference = None
    if len(base):
        wanted = base[:max_reference]
        crops = []
        with open_video(video, roi=roi, fps=fps) as reader:
            for chunk in reader.iter_chunks(chunk_size=chunk_size, stop=int(wanted[-1]) + 1):
                crops.append(clean(chunk.frames[np.isin(chunk.index, wanted)]))
        reference = occlusion_reference(np.concatenate(crops))
    metrics, occlusion = [], []
    previous = None
    with open_video(video, roi=roi, fps=fps) as reader:
        for chunk in reader.iter_chunks(chunk_size=chunk_size, stop=n):
            frames = clean(chunk.frames)
            metrics.append(frame_metrics(frames, previous))
            if reference is not None:
                occlusion.append(occlusion_area(frames, reference))
            previous = frames[-1]
    m = pd.concat(metrics, ignore_index=True).iloc[:n]
    occ = np.concatenate(occlusion)[:n] if occlusion else None
    z = None
    if len(base):
        baseline_hog = store.read(base)
        z = np.concatenate([hog_outlier_z(x, baseline_hog) for _, x in store.iter_blocks()])
    if len(m) < n:  # the video gave fewer frames on this pass: pad, flag nothing extra
        pad = n - len(m)
        m = pd.concat([m, pd.DataFrame(np.nan, index=range(pad), columns=m.columns)],
                      ignore_index=True).fillna({"duplicate": False})
        occ = None if occ is None else np.r_[occ, np.full(pad, np.nan)]
    if large_shift is not None:
        large_shift = np.asarray(large_shift, dtype=bool)[:n]
    return quality_table(m, time[:n], occlusion=occ, hog_z=z, large_shift=large_shift,
                         **thresholds)
