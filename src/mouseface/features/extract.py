"""Feature extraction for one session: decode, crop, HOG, store, chunk by chunk."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from mouseface.features.hog import hog, hog_shape
from mouseface.io.store import FeatureStore
from mouseface.io.video import open_video


def features_fingerprint(video_fingerprint: str, roi, fps) -> str:
    """Fingerprint of what a feature store was computed from: the video bytes, ROI and rate."""
    key = json.dumps([video_fingerprint, None if roi is None else list(roi), fps])
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def extract_features(
    video: str | Path,
    store_path: str | Path,
    *,
    hog_params: dict,
    roi: tuple[int, int, int, int] | None = None,
    fps: float | None = None,
    chunk_size: int = 256,
    on_frames: Callable[[int], None] | None = None,
) -> FeatureStore:
    """Compute (or reuse, or resume) the HOG features of one video into a Zarr store.

    Only chunks not yet marked done are computed; decoding starts at the first of them (the
    reader seeks to the keyframe before it). ``on_frames(n)`` is called after each chunk.
    """
    with open_video(video, roi=roi, fps=fps) as reader:
        fingerprint = features_fingerprint(reader.fingerprint(), reader.roi, fps)
        per_image = hog_shape(reader.crop_shape, **_shape_params(hog_params))
        store = FeatureStore.open(
            store_path, n_frames=reader.n_frames, feature_shape=_feature_axes(per_image),
            chunk_size=chunk_size, params=hog_params, fingerprint=fingerprint,
            meta={"video": str(Path(video).resolve()), "roi": list(reader.roi),
                  "fps": reader.fps, "crop_shape": list(reader.crop_shape)})
        if store.complete:
            return store
        pending = set(store.pending_chunks())
        n_decoded = 0
        if pending:
            first = min(pending) * chunk_size
            n_decoded = first
            if on_frames is not None:
                on_frames(first)
            for chunk in reader.iter_chunks(chunk_size=chunk_size, start=first):
                i = int(chunk.index[0]) // chunk_size
                n_decoded = int(chunk.index[-1]) + 1
                if i in pending:
                    store.write_chunk(i, hog(chunk.frames, **hog_params), chunk.time)
                if on_frames is not None:
                    on_frames(len(chunk.index))
        else:
            n_decoded = store.n_frames
        truncated = bool(getattr(reader, "truncated", False))
        store.finalize(n_decoded if (truncated or n_decoded != store.n_frames) else None,
                       truncated=truncated, decoded_frames=n_decoded)
    return store


def _shape_params(hog_params: dict) -> dict:
    return {k: hog_params[k] for k in ("orientations", "pixels_per_cell", "cells_per_block")
            if k in hog_params}


def _feature_axes(per_image: tuple[int, ...]) -> tuple[int, ...]:
    # skimage's unflattened shape is (blocks_y, blocks_x, b_y, b_x, o); with 1x1 blocks the
    # store keeps (cells_y, cells_x, o) as DESIGN.md describes.
    by, bx, cy, cx, o = per_image
    return (by, bx, o) if (cy, cx) == (1, 1) else (by, bx, cy * cx * o)
