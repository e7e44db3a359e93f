"""Feature extraction: decode, crop, HOG, store, pipelined and chunk by chunk.

One video may hold several sessions (a mosaic of trials or animals, each its own ROI): it is
decoded once and every frame is cropped to all their ROIs. Each session's features go to its
own :class:`~mouseface.io.store.FeatureStore`, in chunks of ``chunk_size`` frames.

Three steps, so that a cluster can share the middle one out by frame ranges::

    stores = prepare_stores(video, targets, hog_params=..., fps=..., chunk_size=...)
    stats = extract_range(video, targets, hog_params=..., fps=..., chunk_size=...,
                          start_chunk=0, stop_chunk=None)        # any number of ranges
    stores = finalize_stores(targets, [stats, ...])

:func:`extract_video` runs the three in this process; :func:`extract_features` does it for one
session and is what most callers want.

Pipelining. In :func:`extract_range` a decoder thread reads batches of cropped luma frames (no
colour conversion: the reader crops the decoder's own luma plane) into a queue two batches deep
while the calling thread computes their HOG and writes finished chunks. FFmpeg decodes (and
PyAV waits on it) without Python's GIL and the Numba HOG kernel runs on its own threads without
it, so decoding and HOG overlap on all cores. A batch holds about :data:`BATCH_BYTES` of crops
(26 frames of a 400x400 face), small enough to stay in cache and to bound memory (at most four
batches of frames are alive at once) whatever ``chunk_size`` and however long the video; HOG
rows wait in a chunk buffer (``chunk_size`` x features) until their chunk is full.

Resuming. Only chunks whose ``done`` flag is unset are computed, and decoding starts at the first
of them: the reader seeks to the keyframe before it. The flag is written after the chunk's data
and a chunk is written only when full or when the stream has ended, never on an interruption,
so an interrupted extraction resumes where it stopped. :class:`ExtractStats` reports what a call
cost, ``frames_decoded`` included (frames decoded only to reach a seek target count too).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np

from mouseface.features.alignment import Alignment, Region, region_of
from mouseface.features.hog import hog, hog_shape
from mouseface.io.store import FeatureStore
from mouseface.io.tables import check_roi
from mouseface.io.video import open_video

__all__ = ["BATCH_BYTES", "ExtractStats", "Target", "extract_features", "extract_range",
           "extract_video", "features_fingerprint", "finalize_stores", "prepare_stores"]

#: Bytes of cropped frames (all ROIs together) decoded per batch.
BATCH_BYTES = 4 << 20
_QUEUE_DEPTH = 2


def features_fingerprint(video_fingerprint: str, roi, fps, alignment: str | None = None) -> str:
    """Fingerprint of what a feature store was computed from: the video bytes, ROI, rate (and
    the alignment's digest, when the frames are registered)."""
    parts = [video_fingerprint, None if roi is None else list(roi), fps]
    if alignment is not None:
        parts.append(alignment)
    key = json.dumps(parts)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Target:
    """One session cut from a video: where its features go, its ROI (None: whole frame) and
    how its frames are registered before HOG (None: they are not)."""

    store_path: Path
    roi: tuple[int, int, int, int] | None = None
    alignment: Alignment | None = None

    def read_roi(self, frame_shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The pixels to decode: the ROI, or the region around it when registering."""
        if self.alignment is None:
            return self.roi
        return region_of(check_roi(self.roi, frame_shape), self.alignment.margin,
                         frame_shape).read


@dataclass
class ExtractStats:
    """What one extraction call did.

    Attributes
    ----------
    frames_decoded
        Frames that came out of the decoder, including those decoded only to reach a seek
        target: the real cost.
    frames_read
        Frames delivered to HOG from the ranges decoded (each counted once for all ROIs).
    chunks_written
        Chunks written, summed over the targets.
    runs
        The frame ranges ``[start, stop)`` decoded (``stop`` None: to the end of the stream).
    end
        The stream's frame count, when decoding reached its end; else None.
    truncated
        The stream ended before its announced length, or on a decode error.
    """

    frames_decoded: int = 0
    frames_read: int = 0
    chunks_written: int = 0
    runs: list[tuple[int, int | None]] = field(default_factory=list)
    end: int | None = None
    truncated: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- one session


def extract_features(
    video: str | Path,
    store_path: str | Path,
    *,
    hog_params: dict,
    roi: tuple[int, int, int, int] | None = None,
    fps: float | None = None,
    chunk_size: int = 256,
    on_frames: Callable[[int], None] | None = None,
    alignment: Alignment | None = None,
) -> FeatureStore:
    """Compute (or reuse, or resume) the HOG features of one video into a Zarr store.

    Only chunks not yet marked done are computed; decoding starts at the first of them (the
    reader seeks to the keyframe before it). ``on_frames(n)`` is called as frames are covered.
    With an ``alignment`` the frames are registered before HOG (see
    :mod:`mouseface.features.alignment`). The returned store's ``extraction`` holds
    :class:`ExtractStats` as a dict.
    """
    stores, _ = extract_video(video, [Target(Path(store_path), roi, alignment)],
                              hog_params=hog_params,
                              fps=fps, chunk_size=chunk_size, on_frames=on_frames)
    return stores[0]


def extract_video(
    video: str | Path,
    targets: Sequence[Target],
    *,
    hog_params: dict,
    fps: float | None = None,
    chunk_size: int = 256,
    on_frames: Callable[[int], None] | None = None,
) -> tuple[list[FeatureStore], ExtractStats]:
    """Features of every target (session) of one video, decoding the video once.

    Complete stores are reused, partial ones resumed, the rest computed; returns the stores
    (in the order of ``targets``) and what was done.
    """
    prepare_stores(video, targets, hog_params=hog_params, fps=fps, chunk_size=chunk_size)
    todo = [t for t in targets if not FeatureStore(t.store_path).complete]
    stats = ExtractStats()
    if todo:
        stats = extract_range(video, todo, hog_params=hog_params, fps=fps,
                              chunk_size=chunk_size, on_frames=on_frames)
    stores = finalize_stores(targets, [stats])
    for s in stores:
        s.extraction = stats.as_dict()
    return stores, stats


# --------------------------------------------------------------------------- the three steps


def prepare_stores(
    video: str | Path,
    targets: Sequence[Target],
    *,
    hog_params: dict,
    fps: float | None = None,
    chunk_size: int = 256,
) -> list[FeatureStore]:
    """Open (reuse, resume) or create each target's store, sized from the container.

    The video is opened once (frame count, fingerprint); nothing is decoded beyond what
    opening needs.
    """
    with open_video(video, fps=fps) as reader:
        video_fp = reader.fingerprint()
        stores = []
        for t in targets:
            crop = check_roi(t.roi, reader.frame_shape, reader.path)
            _, _, w, h = crop
            per_image = hog_shape((h, w), **_shape_params(hog_params))
            a = t.alignment
            meta = {"video": str(Path(video).resolve()), "roi": list(crop), "fps": reader.fps,
                    "crop_shape": [h, w]}
            if a is not None:
                meta["registration"] = a.meta((h, w))
            stores.append(FeatureStore.open(
                t.store_path, n_frames=reader.n_frames, feature_shape=_feature_axes(per_image),
                chunk_size=chunk_size, params=hog_params,
                fingerprint=features_fingerprint(video_fp, crop, fps,
                                                 None if a is None else a.digest()),
                meta=meta, shifts=a is not None and a.drift))
    return stores


def extract_range(
    video: str | Path,
    targets: Sequence[Target],
    *,
    hog_params: dict,
    fps: float | None = None,
    chunk_size: int = 256,
    start_chunk: int = 0,
    stop_chunk: int | None = None,
    on_frames: Callable[[int], None] | None = None,
) -> ExtractStats:
    """Compute the pending chunks in ``[start_chunk, stop_chunk)`` of every target's store.

    The stores must exist (:func:`prepare_stores`). ``stop_chunk`` None means to the end of
    the stream: then the store's last chunk is decoded even when done (to find where the stream
    ends) and chunks past the announced length are added. Ranges that do not overlap may run at
    once in different processes. Pending chunks are decoded in runs, each from a seek to the
    keyframe before it.
    """
    stores = [FeatureStore(t.store_path, mode="r+") for t in targets]
    bad = [s.path for s in stores if s.chunk_size != chunk_size]
    if bad:
        raise ValueError(f"stores {bad} have another chunk size than {chunk_size}")
    stats = ExtractStats()
    runs = _runs([s.done_mask() for s in stores], start_chunk, stop_chunk)
    if not runs:
        return stats
    with open_video(video, fps=fps) as reader:
        decoded_before = reader.frames_out
        try:
            _pipeline(reader, targets, stores, runs, hog_params, chunk_size, stats, on_frames)
        finally:
            stats.frames_decoded = reader.frames_out - decoded_before
        stats.truncated = bool(reader.truncated)
    return stats


def finalize_stores(targets: Sequence[Target], stats: Sequence[ExtractStats]) -> list[FeatureStore]:
    """Mark each target's store complete once every range has been computed.

    The frame count is where the stream ended (the earliest end any range saw), else the
    store's own count. Raises if a chunk below it was not written.
    """
    ends = [s.end for s in stats if s.end is not None]
    truncated = any(s.truncated for s in stats)
    out = []
    for t in targets:
        store = FeatureStore(t.store_path, mode="r+")  # fresh: a worker may have grown it
        if not store.complete:
            n = min(ends) if ends else store.n_frames
            missing = np.flatnonzero(~store.done_mask()[: -(-n // store.chunk_size)])
            if missing.size:
                raise RuntimeError(f"{store.path}: chunks {missing.tolist()} of {n} frames were "
                                   "not computed")
            store.finalize(n if (truncated or n != store.n_frames) else None,
                           truncated=truncated, decoded_frames=n)
        out.append(store)
    return out


# --------------------------------------------------------------------------- internals


def _runs(
    done: list[np.ndarray], start_chunk: int, stop_chunk: int | None
) -> list[tuple[int, int | None]]:
    """Chunk runs ``[lo, hi)`` to decode: pending in any store; ``hi`` None = stream end."""
    n_chunks = max(len(d) for d in done)
    hi = n_chunks if stop_chunk is None else min(int(stop_chunk), n_chunks)
    pending = np.zeros(max(hi, 0), dtype=bool)
    for d in done:
        pending[: min(len(d), hi)] |= ~d[:hi]
        pending[len(d):hi] = True
    if stop_chunk is None and hi > start_chunk:
        pending[hi - 1] = True  # see where the stream really ends
    runs, c = [], int(start_chunk)
    while c < hi:
        if not pending[c]:
            c += 1
            continue
        lo = c
        while c < hi and pending[c]:
            c += 1
        runs.append((lo, None if (stop_chunk is None and c == hi) else c))
    return runs


@dataclass
class _RunEnd:
    ended: bool  # the stream ended within the run
    count: int | None  # the stream's frame count then


class _Failed:
    def __init__(self, exc: BaseException):
        self.exc = exc


_DONE = object()


def _produce(reader, rois, runs, chunk_size, batch, out: queue.Queue, stop: threading.Event):
    """Decoder thread: batches of crops of every run, then a _RunEnd per run, then _DONE."""

    def put(item) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    try:
        for lo, hi in runs:
            start, stop_frame = lo * chunk_size, None if hi is None else hi * chunk_size
            last = start - 1
            crops = reader.iter_crops(rois, chunk_size=batch, start=start, stop=stop_frame)
            try:
                for c in crops:
                    last = int(c.index[-1])
                    if not put(c):
                        return
            finally:
                crops.close()
            ended = stop_frame is None or last + 1 < stop_frame
            if not put(_RunEnd(ended, reader.n_frames if ended else None)):
                return
            if ended:
                break  # later runs lie past the end
        put(_DONE)
    except BaseException as exc:  # handed to the consumer, raised there
        put(_Failed(exc))


class _ChunkBuffer:
    """HOG rows of one target's current chunk, written when full or at the stream's end."""

    def __init__(self, store: FeatureStore, n_features: int):
        self.store = store
        cs = store.chunk_size
        self.hog = np.empty((cs, n_features), np.float32)
        self.time = np.empty(cs, np.float64)
        self.shift = np.empty((cs, 2), np.float32) if store.has_shifts else None
        self.chunk: int | None = None
        self.n = 0
        self.written = 0

    def add(self, chunk: int, first: int, time: np.ndarray, rows: np.ndarray,
            shift: np.ndarray | None = None) -> None:
        cs = self.store.chunk_size
        if self.chunk != chunk:
            if self.n:
                raise RuntimeError(f"chunk {self.chunk} left with {self.n} of {cs} frames")
            self.chunk = chunk
        if first != chunk * cs + self.n:
            raise RuntimeError(f"frames out of order: got frame {first}, expected "
                               f"{chunk * cs + self.n}")
        m = len(rows)
        self.hog[self.n:self.n + m] = rows
        self.time[self.n:self.n + m] = time
        if self.shift is not None:
            self.shift[self.n:self.n + m] = shift
        self.n += m
        if self.n == cs:
            self.flush()

    def flush(self) -> None:
        if self.chunk is not None and self.n:
            self.store.write_chunk(self.chunk, self.hog[:self.n], self.time[:self.n],
                                   None if self.shift is None else self.shift[:self.n])
            self.written += 1
        self.chunk, self.n = None, 0


def _pipeline(reader, targets, stores, runs, hog_params, chunk_size, stats, on_frames):
    rois = [t.read_roi(reader.frame_shape) for t in targets]
    crop_bytes = sum(int(np.prod(s.attrs["crop_shape"])) for s in stores)
    batch = int(np.clip(BATCH_BYTES // max(crop_bytes, 1), 8, chunk_size))
    buffers = [_ChunkBuffer(s, s.n_features) for s in stores]
    aligners = [None if t.alignment is None else
                _Aligner(t.alignment, region_of(check_roi(t.roi, reader.frame_shape),
                                                t.alignment.margin, reader.frame_shape),
                         tuple(s.attrs["crop_shape"]))
                for t, s in zip(targets, stores, strict=True)]
    pending = [_Pending(s.done_mask()) for s in stores]

    q: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()
    producer = threading.Thread(target=_produce, name="mouseface-decode", daemon=True,
                                args=(reader, rois, runs, chunk_size, batch, q, stop))
    covered = 0
    if on_frames is not None and runs[0][0]:
        on_frames(runs[0][0] * chunk_size)
    threads = numba.get_num_threads()  # per calling thread in Numba
    numba.set_num_threads(hog_threads())
    producer.start()
    try:
        run = 0
        while True:
            item = q.get()
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                raise item.exc
            if isinstance(item, _RunEnd):
                for b in buffers:
                    b.flush()
                if item.ended:
                    stats.end = item.count
                    break
                run += 1
                if on_frames is not None and run < len(runs):
                    gap = runs[run][0] * chunk_size - covered
                    if gap > 0:
                        on_frames(gap)
                continue
            _compute(item, buffers, pending, aligners, hog_params, chunk_size)
            n = len(item.index)
            covered = int(item.index[-1]) + 1
            stats.frames_read += n
            if on_frames is not None:
                on_frames(n)
    finally:
        numba.set_num_threads(threads)
        stop.set()
        while producer.is_alive():
            with contextlib.suppress(queue.Empty):
                q.get(timeout=0.05)  # unblock a producer waiting to put
            producer.join(timeout=0.05)
        stats.chunks_written += sum(b.written for b in buffers)
    stats.runs = [(lo * chunk_size, None if hi is None else hi * chunk_size) for lo, hi in runs]


def hog_threads() -> int:
    """Numba threads for HOG while a decoder runs beside it: half the usable cores, at least 1.

    On 2 cores that is one HOG thread and one core for FFmpeg, a real two-stage pipeline. (More
    HOG threads than free cores only spin: OpenMP threads wait for each other busily, tripling
    HOG's CPU cost on a loaded 2-core machine.)
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(numba.config.NUMBA_NUM_THREADS, cores // 2))


class _Pending:
    """Which chunks of one store still need computing (any past its end do)."""

    def __init__(self, done: np.ndarray):
        self.done = done

    def __call__(self, chunk: int) -> bool:
        return chunk >= len(self.done) or not self.done[chunk]


@dataclass(frozen=True)
class _Aligner:
    alignment: Alignment
    region: Region
    roi_shape: tuple[int, int]

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        return self.alignment.apply(self.region.complete(frames), self.roi_shape)


def _compute(crops, buffers, pending, aligners, hog_params, chunk_size) -> None:
    """HOG of one batch for every target whose chunk is pending, into the chunk buffers."""
    chunk_of = crops.index // chunk_size
    cuts = np.flatnonzero(np.diff(chunk_of)) + 1
    bounds = [0, *cuts.tolist(), len(chunk_of)]
    for frames, buf, todo, align in zip(crops.frames, buffers, pending, aligners, strict=True):
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            c = int(chunk_of[a])
            if not todo(c):
                continue
            part, shift = frames[a:b], None
            if align is not None:
                part, shift = align(part)
            rows = hog(part, **hog_params)
            buf.add(c, int(crops.index[a]), crops.time[a:b], rows, shift)


def _shape_params(hog_params: dict) -> dict:
    return {k: hog_params[k] for k in ("orientations", "pixels_per_cell", "cells_per_block")
            if k in hog_params}


def _feature_axes(per_image: tuple[int, ...]) -> tuple[int, ...]:
    # skimage's unflattened shape is (blocks_y, blocks_x, b_y, b_x, o); with 1x1 blocks the
    # store keeps (cells_y, cells_x, o) as DESIGN.md describes.
    by, bx, cy, cx, o = per_image
    return (by, bx, o) if (cy, cx) == (1, 1) else (by, bx, cy * cx * o)
