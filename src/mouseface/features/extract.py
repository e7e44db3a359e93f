"""Feature extraction: the one pass over a video, chunk by chunk, into feature stores.

One video may hold several sessions (a mosaic of trials or animals, each its own ROI): it is
decoded once and every frame is cropped to all their regions. Each decoded frame goes through
:class:`~mouseface.features.facepass.FacePass` (mask fill, drift, warp, HOG, quality measures,
all from the same pixels), extra movement regions (``roi_<name>`` of the sessions table) get
their motion energy from the same decode, and each session's results go to its own
:class:`~mouseface.io.store.FeatureStore` in chunks of ``chunk_size`` frames. Nothing is
decoded twice: whatever needs a whole session afterwards (prototypes, scores, the HOG outlier
score's baseline statistics) is read from the stores.

Three steps, so that threads or a cluster can share the middle one out by frame ranges::

    stores = prepare_stores(video, targets, hog_params=..., fps=..., chunk_size=...)
    stats = extract_range(video, targets, hog_params=..., fps=..., chunk_size=...,
                          start_chunk=0, stop_chunk=None)        # any number of ranges
    stores = finalize_stores(targets, [stats, ...])

:func:`extract_video` runs the three in this process; :func:`extract_features` does it for one
session.

Ranges. A range of chunks ``[lo, hi)`` is decoded from frame ``lo * chunk_size - 1`` (the
frame before it primes motion and duplicates) to frame ``hi * chunk_size`` (the next measured
drift, for the interpolation); those two frames are read, not stored. So every frame's values
are the same however the video is cut into ranges (``chunk_size`` must be a multiple of the
drift step), and ranges may run at once in threads or processes.

Pipelining. In :func:`extract_range` a decoder thread reads batches of region crops (no colour
conversion: the reader crops the decoder's own luma plane) into a queue two batches deep while
the calling thread runs the face pass and writes finished chunks. FFmpeg decodes without
Python's GIL and the Numba kernels run without it, so decoding and the pass overlap. A batch
holds about :data:`BATCH_BYTES` of crops, small enough to bound memory (at most four batches
of frames are alive at once) whatever ``chunk_size`` and however long the video.

Resuming. Only chunks whose ``done`` flag is unset are computed, and decoding starts at the first
of them: the reader seeks to the keyframe before it. The flag is written after the chunk's data
and a chunk is written only when full or when the stream has ended, never on an interruption,
so an interrupted extraction resumes where it stopped. :class:`ExtractStats` reports what a call
cost, ``frames_decoded`` included (frames decoded only to reach a seek target count too).

Mean faces. A target with :class:`Keep` keeps, per condition, the registered crops of the
stimulus frames least like its neutral face, and the sum of its baseline crops
(:class:`KeptFaces`): the report draws the prototypes' mean faces from them without decoding
again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numba
import numpy as np

from mouseface._errors import InputError
from mouseface.features.alignment import Alignment, Region, region_of
from mouseface.features.facepass import (
    MEASURES,
    FaceFrames,
    FacePass,
    FaceSpec,
    PassCalibration,
    QualityParams,
)
from mouseface.features.hog import hog_shape
from mouseface.features.quality import frame_measures
from mouseface.io.intervals import Intervals
from mouseface.io.store import FeatureStore
from mouseface.io.tables import check_roi
from mouseface.io.video import VideoReader, open_video

__all__ = ["BATCH_BYTES", "ExtractStats", "Keep", "KeptFaces", "Target", "extract_features",
           "extract_range", "extract_video", "features_fingerprint", "finalize_stores",
           "mean_faces", "prepare_stores"]

#: Bytes of cropped frames (all ROIs together) decoded per batch.
BATCH_BYTES = 4 << 20
_QUEUE_DEPTH = 2


def features_fingerprint(video_fingerprint: str, roi, fps, alignment: str | None = None,
                         measures: str | None = None) -> str:
    """Fingerprint of what a feature store was computed from: the video bytes, ROI, rate (and
    the alignment's digest, when the frames are registered; the measures' digest, when the
    pass measures quality or movement)."""
    parts = [video_fingerprint, None if roi is None else list(roi), fps]
    if alignment is not None:
        parts.append(alignment)
    if measures is not None:
        parts.append(measures)
    key = json.dumps(parts)
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Keep:
    """Which registered crops a pass keeps for the report's mean faces.

    Attributes
    ----------
    windows : Intervals
        The session's trial windows, labelled with a condition or ``neutral``.
    neutral : str
        The label of baseline windows (their crops are summed).
    n : int
        Crops kept per condition: those least like the neutral face.
    """

    windows: Intervals
    neutral: str
    n: int = 30

    def label(self, time: np.ndarray) -> np.ndarray:
        """Each frame's label (``""`` outside every window)."""
        return self.windows.label(time)


@dataclass
class KeptFaces:
    """Crops one pass kept for a session's mean faces (see :class:`Keep`).

    Attributes
    ----------
    candidates : dict of str to list of (float, int, ndarray)
        Per condition, ``(r, frame, crop)`` of the frames with the lowest correlation ``r``
        between their HOG and the neutral face, at most ``Keep.n``.
    neutral_sum : ndarray or None
        Sum (float64) of the baseline frames' crops; ``neutral_count`` of them.
    """

    n: int = 30
    candidates: dict[str, list] = field(default_factory=dict)
    neutral_sum: np.ndarray | None = None
    neutral_count: int = 0

    def add(self, faces: FaceFrames, labels: np.ndarray, neutral: str) -> None:
        r = 1.0 - faces.measure("hog_distance") if faces.measures is not None else None
        for name in set(labels) - {""}:
            sel = np.flatnonzero(labels == name)
            if name == neutral:
                self._add_neutral(faces.crops, sel)
            elif r is not None:
                items = self.candidates.setdefault(name, [])
                # a frame beyond the n least neutral kept so far is never kept: no copy of it
                bound = max(t[:2] for t in items) if len(items) >= self.n else None
                for i in sel:
                    key = (float(r[i]), int(faces.index[i]))
                    if math.isfinite(key[0]) and (bound is None or key < bound):
                        items.append((*key, faces.crops[i].copy()))
                self._trim(name)

    def _add_neutral(self, crops: np.ndarray, sel: np.ndarray) -> None:
        """Add ``crops[sel]`` to the baseline sum; uint8 crops in integers (exact, as their
        float64 sums are: the same numbers), read in place when ``sel`` is a run."""
        part = crops[sel[0]:sel[-1] + 1] if sel[-1] - sel[0] + 1 == len(sel) else crops[sel]
        if crops.dtype == np.uint8:  # 257 * 255 fits 16 bits
            part = part.sum(axis=0, dtype=np.uint16 if len(sel) <= 257 else np.uint32)
        else:
            part = part.sum(axis=0, dtype=np.float64)
        if self.neutral_sum is None:
            self.neutral_sum = part.astype(np.float64)  # its own array: added to in place
        else:
            self.neutral_sum += part
        self.neutral_count += len(sel)

    def merge(self, other: KeptFaces) -> None:
        for name, items in other.candidates.items():
            self.candidates.setdefault(name, []).extend(items)
            self._trim(name)
        if other.neutral_sum is not None:
            self.neutral_sum = (other.neutral_sum.copy() if self.neutral_sum is None
                                else self.neutral_sum + other.neutral_sum)
            self.neutral_count += other.neutral_count

    def _trim(self, name: str) -> None:
        items = self.candidates[name]
        if len(items) > self.n:
            items.sort(key=lambda t: (t[0], t[1]))
            del items[self.n:]

    def neutral_face(self) -> np.ndarray | None:
        """The mean baseline crop (None without baseline frames)."""
        if self.neutral_sum is None or not self.neutral_count:
            return None
        return (self.neutral_sum / self.neutral_count).astype(np.float32)


@dataclass(frozen=True)
class Target:
    """One session cut from a video: where its features go, its ROI (None: whole frame) and
    how its frames are processed.

    Attributes
    ----------
    alignment
        Registration before HOG (margin, transform, drift reference, mask fill); None: the ROI
        as it is.
    calibration
        The session's neutral HOG and occlusion reference (:func:`~mouseface.features.facepass.
        calibrate`); None: no HOG distance, no occlusion test.
    quality
        Quality measures (None: none).
    drift_every
        Drift measured on every ``drift_every``-th frame, interpolated in between.
    regions
        Extra movement regions ``(name, (x, y, w, h))`` in frame pixels: their motion energy
        becomes the measure ``motion_<name>``.
    keep
        Crops to keep for the report's mean faces (None: none).
    fingerprint
        What its store was made from (:func:`features_fingerprint`), once the store exists:
        a writer refuses a store that no longer carries it (another run replaced it).
    """

    store_path: Path
    roi: tuple[int, int, int, int] | None = None
    alignment: Alignment | None = None
    calibration: PassCalibration | None = None
    quality: QualityParams | None = None
    drift_every: int = 1
    regions: tuple[tuple[str, tuple[int, int, int, int]], ...] = ()
    keep: Keep | None = None
    fingerprint: str | None = None

    def read_roi(self, frame_shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        """The pixels to decode: the ROI, or the region around it when registering."""
        if self.alignment is None:
            return self.roi
        return self._region(frame_shape).read

    def _region(self, frame_shape: tuple[int, int]) -> Region:
        margin = 0 if self.alignment is None else self.alignment.margin
        return region_of(check_roi(self.roi, frame_shape), margin, frame_shape)

    def spec(self, frame_shape: tuple[int, int], hog_params: dict) -> FaceSpec:
        """The :class:`~mouseface.features.facepass.FaceSpec` of this target's frames."""
        _, _, w, h = check_roi(self.roi, frame_shape)
        return FaceSpec((h, w), hog_params, self.alignment or Alignment(0), self.drift_every,
                        self.quality, self.calibration)

    @property
    def measure_names(self) -> list[str]:
        """Columns of the store's ``measures``: the quality measures, then ``motion_<name>``
        of each extra region."""
        names = list(MEASURES) if self.quality is not None else []
        return names + [f"motion_{name}" for name, _ in self.regions]

    def measures_digest(self) -> str | None:
        """What the per-frame measures depend on, hashed (None when there are none)."""
        if self.quality is None and not self.regions:
            return None
        h = hashlib.blake2b(digest_size=12)
        h.update(json.dumps([None if self.quality is None else self.quality.as_dict(),
                             [[n, list(r)] for n, r in self.regions],
                             self.drift_every]).encode())
        if self.calibration is not None:
            h.update(self.calibration.digest())
        return h.hexdigest()


@dataclass
class ExtractStats:
    """What one extraction call did.

    Attributes
    ----------
    frames_decoded
        Frames that came out of the decoder, including those decoded only to reach a seek
        target: the real cost.
    frames_read
        Frames delivered to the pass from the ranges decoded (each counted once for all ROIs).
    chunks_written
        Chunks written, summed over the targets.
    runs
        The frame ranges ``[start, stop)`` decoded (``stop`` None: to the end of the stream).
    end
        The stream's frame count, when decoding reached its end; else None.
    truncated
        The stream ended before its announced length, or on a decode error.
    kept
        Crops kept for mean faces, by position of the target in the call (see :class:`Keep`).
    """

    frames_decoded: int = 0
    frames_read: int = 0
    chunks_written: int = 0
    runs: list[tuple[int, int | None]] = field(default_factory=list)
    end: int | None = None
    truncated: bool = False
    kept: dict[int, KeptFaces] = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        d.pop("kept")
        return d


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
    drift_every: int = 1,
) -> FeatureStore:
    """Compute (or reuse, or resume) the HOG features of one video into a Zarr store.

    Only chunks not yet marked done are computed; decoding starts at the first of them (the
    reader seeks to the keyframe before it). ``on_frames(n)`` is called as frames are covered.
    With an ``alignment`` the frames are registered before HOG (see
    :mod:`mouseface.features.alignment`). The returned store's ``extraction`` holds
    :class:`ExtractStats` as a dict.
    """
    target = Target(Path(store_path), roi, alignment, drift_every=drift_every)
    stores, _ = extract_video(video, [target], hog_params=hog_params, fps=fps,
                              chunk_size=chunk_size, on_frames=on_frames)
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
    reader_info: tuple[str, tuple[int, int], float, int] | None = None,
) -> list[FeatureStore]:
    """Open (reuse, resume) or create each target's store, sized from the container.

    ``reader_info`` ``(fingerprint, frame_shape, fps, n_frames)`` of the video, when a
    caller already has it (the baseline pre-read); else the video is opened once (frame
    count, fingerprint), nothing decoded beyond what opening needs.
    """
    if reader_info is None:
        with open_video(video, fps=fps) as reader:
            reader_info = (reader.fingerprint(), reader.frame_shape, reader.fps,
                           reader.n_frames)
    video_fp, frame_shape, rate, n_frames = reader_info
    stores = []
    for t in targets:
        crop = check_roi(t.roi, frame_shape, Path(video))
        for _, r in t.regions:
            check_roi(r, frame_shape, Path(video))
        _, _, w, h = crop
        per_image = hog_shape((h, w), **_shape_params(hog_params))
        a = t.alignment
        if a is not None and a.drift and chunk_size % t.drift_every:
            raise ValueError(f"chunk_size {chunk_size} is not a multiple of the drift step "
                             f"{t.drift_every}")
        meta = {"video": str(Path(video).resolve()), "roi": list(crop), "fps": rate,
                "crop_shape": [h, w], "regions": {n: list(r) for n, r in t.regions}}
        if a is not None:
            meta["registration"] = {**a.meta((h, w)), "drift_every": t.drift_every}
        digest = None if a is None else f"{a.digest()}:{t.drift_every if a.drift else 0}"
        stores.append(FeatureStore.open(
            t.store_path, n_frames=n_frames, feature_shape=_feature_axes(per_image),
            chunk_size=chunk_size, params=hog_params,
            fingerprint=features_fingerprint(video_fp, crop, fps, digest, t.measures_digest()),
            meta=meta, shifts=a is not None and a.drift, measures=t.measure_names))
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
    threads: int | None = None,
    reader: VideoReader | None = None,
) -> ExtractStats:
    """Compute the pending chunks in ``[start_chunk, stop_chunk)`` of every target's store.

    The stores must exist (:func:`prepare_stores`). ``stop_chunk`` None means to the end of
    the stream: then the store's last chunk is decoded even when done (to find where the stream
    ends) and chunks past the announced length are added. Ranges that do not overlap may run at
    once in different threads or processes (see the module on how they join seamlessly).
    Pending chunks are decoded in runs, each from a seek to the keyframe before it.
    ``threads`` is the decoder's (None: FFmpeg's choice); the pass runs on Numba's threads of
    the calling thread. ``reader``: an open reader of ``video`` (at ``fps``) to decode from
    instead of opening the video again (the baseline pre-read's); no other pass may use it
    while this one runs, and it is left open.
    """
    stores = [FeatureStore(t.store_path, mode="r+") for t in targets]
    _check_owned(stores, targets)
    bad = [s.path for s in stores if s.chunk_size != chunk_size]
    if bad:
        raise ValueError(f"stores {bad} have another chunk size than {chunk_size}")
    stats = ExtractStats()
    runs = _runs([s.done_mask() for s in stores], start_chunk, stop_chunk)
    if not runs:
        return stats
    with (contextlib.nullcontext(reader) if reader is not None
          else open_video(video, fps=fps, threads=threads)) as reader:
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
        _check_owned([store], [t])
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


def _check_owned(stores: Sequence[FeatureStore], targets: Sequence[Target]) -> None:
    """Every store still the one its target's run made (same fingerprint): never add chunks
    to, or mark complete, a store another configuration put at that path."""
    for store, t in zip(stores, targets, strict=True):
        if t.fingerprint is not None and store.attrs.get("fingerprint") != t.fingerprint:
            raise InputError("this feature store was replaced by another run while this one "
                             "was writing it (two runs into one results folder?): run again",
                             store.path)


def mean_faces(kept: Mapping[str, KeptFaces], sessions: Sequence[str],
               picked: Mapping[str, Sequence[tuple[str, int]]], neutral: str
               ) -> dict[str, tuple[np.ndarray | None, int]] | None:
    """Mean registered crops of one model's prototypes, from the crops its passes kept.

    Parameters
    ----------
    kept
        Session -> the crops its pass kept (:class:`KeptFaces`).
    sessions
        The model's sessions: the ``neutral`` face is the mean of all their baseline crops.
    picked
        Prototype -> the ``(session, frame)`` its HOG averaged; a frame whose crop the pass
        did not keep is left out of the mean.
    neutral
        The neutral prototype's name.

    Returns
    -------
    dict or None
        Prototype -> ``(mean crop or None, crops averaged)``; None when a session's pass kept
        nothing (its features were reused), so the faces would miss its frames.
    """
    if any(s not in kept for s in sessions) or any(
            s not in kept for rows in picked.values() for s, _ in rows):
        return None
    out: dict[str, tuple[np.ndarray | None, int]] = {}
    parts = [kept[s] for s in sessions if kept[s].neutral_sum is not None]
    n = sum(k.neutral_count for k in parts)
    out[neutral] = ((sum(k.neutral_sum for k in parts) / n) if n else None, n)
    for name, rows in picked.items():
        if name == neutral:
            continue
        crops = {(s, i): c for s in dict.fromkeys(s for s, _ in rows)
                 for _, i, c in kept[s].candidates.get(name, [])}
        chosen = [crops[(s, int(i))] for s, i in rows if (s, int(i)) in crops]
        out[name] = (np.mean(chosen, axis=0) if chosen else None, len(chosen))
    return out


def merge_kept(stats: Sequence[ExtractStats], n_targets: int) -> list[KeptFaces | None]:
    """The kept crops of several ranges of the same targets, joined (None: nothing kept)."""
    out: list[KeptFaces | None] = [None] * n_targets
    for s in stats:
        for k, kept in s.kept.items():
            if out[k] is None:
                out[k] = KeptFaces(kept.n)
            out[k].merge(kept)
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


def _produce(reader, rois, runs, chunk_size, batch, out: queue.Queue, stop: threading.Event,
             before: int = 0, after: int = 0, step: int = 1):
    """Decoder thread: batches of crops of every run (with ``before`` frames before it and
    ``after`` after it), then a _RunEnd per run, then _DONE. ``batch`` a multiple of
    ``step``, every batch of a run ends on a multiple of ``step`` (the drift's anchors: a face
    pass then holds back no frames between batches, nothing to join)."""

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
            first = max(start - before, 0)
            crops = reader.iter_crops(rois, chunk_size=batch, start=first,
                                      stop=None if stop_frame is None else stop_frame + after,
                                      first=batch - (first - 1) % step)
            try:
                for c in crops:
                    last = int(c.index[-1])
                    if not put(c):
                        return
            finally:
                crops.close()
            ended = stop_frame is None or last + 1 < stop_frame + after
            if not put(_RunEnd(ended, reader.n_frames if ended else None)):
                return
            if ended:
                break  # later runs lie past the end
        put(_DONE)
    except BaseException as exc:  # handed to the consumer, raised there
        put(_Failed(exc))


class _ChunkBuffer:
    """Rows of one target's current chunk, written when full or at the stream's end."""

    def __init__(self, store: FeatureStore, n_features: int, n_measures: int):
        self.store = store
        cs = store.chunk_size
        self.hog = np.empty((cs, n_features), np.float32)
        self.time = np.empty(cs, np.float64)
        self.shift = np.empty((cs, 2), np.float32) if store.has_shifts else None
        self.measures = np.empty((cs, n_measures), np.float32) if n_measures else None
        self.chunk: int | None = None
        self.n = 0
        self.written = 0

    def add(self, chunk: int, first: int, time: np.ndarray, rows: np.ndarray,
            shift: np.ndarray | None, measures: np.ndarray | None) -> None:
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
        if self.measures is not None:
            self.measures[self.n:self.n + m] = measures
        self.n += m
        if self.n == cs:
            self.flush()

    def flush(self) -> None:
        if self.chunk is not None and self.n:
            self.store.write_chunk(
                self.chunk, self.hog[:self.n], self.time[:self.n],
                None if self.shift is None else self.shift[:self.n],
                None if self.measures is None else self.measures[:self.n])
            self.written += 1
        self.chunk, self.n = None, 0


class _Session:
    """One target's state within a run: its face pass, region motion, chunk buffer, keeper."""

    def __init__(self, target: Target, store: FeatureStore, frame_shape, hog_params,
                 keeper: KeptFaces | None):
        self.target = target
        self.store = store
        self.region = target._region(frame_shape)
        self.face = FacePass(target.spec(frame_shape, hog_params))
        self.buffer = _ChunkBuffer(store, store.n_features, len(target.measure_names))
        self.keeper = keeper
        self.done_mask = store.done_mask()
        self.previous: list[np.ndarray | None] = [None] * len(target.regions)
        self.motion: dict[int, np.ndarray] = {}  # frame -> motion of each region, until released

    def is_pending(self, chunk: int) -> bool:
        return chunk >= len(self.done_mask) or not self.done_mask[chunk]


def _pipeline(reader, targets, stores, runs, hog_params, chunk_size, stats, on_frames):
    frame_shape = reader.frame_shape
    n_regions = [len(t.regions) for t in targets]
    rois = []
    for t in targets:
        rois.append(t._region(frame_shape).read)
        rois += [r for _, r in t.regions]
    crop_bytes = sum(r[2] * r[3] for r in (check_roi(x, frame_shape) for x in rois))
    batch = int(np.clip(BATCH_BYTES // max(crop_bytes, 1), 8, chunk_size))
    # batches end on the drift's anchors (chunk_size is a multiple of every drift step)
    step = math.lcm(*(t.drift_every for t in targets
                      if t.alignment is not None and t.alignment.drift))
    step = step if step <= chunk_size else 1
    batch = min(max(step, round(batch / step) * step), chunk_size)
    kept = {k: KeptFaces(t.keep.n) for k, t in enumerate(targets) if t.keep is not None}
    sessions = [_Session(t, s, frame_shape, hog_params, kept.get(k))
                for k, (t, s) in enumerate(zip(targets, stores, strict=True))]

    q: queue.Queue = queue.Queue(maxsize=_QUEUE_DEPTH)
    stop = threading.Event()
    # the frame before a run primes motion; the one after it is the next measured drift
    before = int(any(t.quality is not None or t.regions for t in targets))
    after = int(any(t.alignment is not None and t.alignment.drift and t.drift_every > 1
                    for t in targets))
    producer = threading.Thread(target=_produce, name="mouseface-decode", daemon=True,
                                args=(reader, rois, runs, chunk_size, batch, q, stop, before,
                                      after, step))
    covered = 0
    if on_frames is not None and runs[0][0]:
        on_frames(runs[0][0] * chunk_size)
    threads = numba.get_num_threads()  # per calling thread in Numba
    numba.set_num_threads(min(threads, hog_threads()))
    producer.start()
    try:
        run = 0
        start, stop_frame = _bounds(runs[0], chunk_size)
        while True:
            item = q.get()
            if item is _DONE:
                break
            if isinstance(item, _Failed):
                raise item.exc
            if isinstance(item, _RunEnd):
                for s in sessions:
                    _release(s, s.face.flush(), chunk_size, stop_frame)
                    s.buffer.flush()
                    s.face = FacePass(s.face.spec)  # the next run starts afresh
                    s.previous = [None] * len(s.target.regions)
                    s.motion.clear()
                if item.ended:
                    stats.end = item.count
                    break
                run += 1
                if run < len(runs):
                    start, stop_frame = _bounds(runs[run], chunk_size)
                    if on_frames is not None and start - covered > 0:
                        on_frames(start - covered)
                continue
            n = _compute(item, sessions, n_regions, chunk_size, start, stop_frame)
            if n:
                covered = min(int(item.index[-1]) + 1,
                              stop_frame if stop_frame is not None else 1 << 62)
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
        stats.chunks_written += sum(s.buffer.written for s in sessions)
    stats.runs = [(lo * chunk_size, None if hi is None else hi * chunk_size) for lo, hi in runs]
    stats.kept = kept


def _bounds(run, chunk_size) -> tuple[int, int | None]:
    lo, hi = run
    return lo * chunk_size, None if hi is None else hi * chunk_size


def _compute(crops, sessions, n_regions, chunk_size, start, stop) -> int:
    """One decoded batch through every session's pass; returns the frames of the run in it."""
    index = crops.index
    inside = (index >= start) & (True if stop is None else index <= stop)
    before = np.flatnonzero(index == start - 1)
    col = 0
    for s, k in zip(sessions, n_regions, strict=True):
        frames = s.region.complete(crops.frames[col])
        regions = crops.frames[col + 1:col + 1 + k]
        col += 1 + k
        if len(before):
            s.face.prime(frames[before[0]])
            s.previous = [r[before[0]] for r in regions]
        sel = np.flatnonzero(inside)
        if not len(sel):
            continue
        if sel[-1] - sel[0] + 1 == len(sel):  # a batch's frames are consecutive: views
            sel = slice(int(sel[0]), int(sel[-1]) + 1)
        for j, r in enumerate(regions):
            m = frame_measures(r[sel], s.previous[j])[:, 0]  # motion energy
            s.previous[j] = r[sel][-1]
            for i, v in zip(index[sel], m, strict=True):
                s.motion.setdefault(int(i), np.empty(k, np.float32))[j] = v
        _release(s, s.face.push(frames[sel], index[sel], crops.time[sel]), chunk_size, stop)
    run = (index >= start) & (True if stop is None else index < stop)
    return int(run.sum())


def _release(s: _Session, faces: FaceFrames | None, chunk_size: int, stop: int | None) -> None:
    """Frames the face pass let out: into the chunk buffer (pending chunks only) and keeper."""
    if faces is None or not len(faces):
        return
    if stop is not None:
        keep = faces.index < stop
        if not keep.all():
            faces = _subset(faces, keep)
            if not len(faces):
                return
    measures = faces.measures
    if s.target.regions:
        motion = np.stack([s.motion.pop(int(i)) for i in faces.index])
        measures = motion if measures is None else np.hstack([measures, motion])
    if s.keeper is not None:
        s.keeper.add(faces, s.target.keep.label(faces.time), s.target.keep.neutral)
    chunk_of = faces.index // chunk_size
    cuts = np.flatnonzero(np.diff(chunk_of)) + 1
    bounds = [0, *cuts.tolist(), len(chunk_of)]
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        c = int(chunk_of[a])
        if not s.is_pending(c):
            continue
        s.buffer.add(c, int(faces.index[a]), faces.time[a:b], faces.hog[a:b],
                     None if faces.shift is None else faces.shift[a:b],
                     None if measures is None else measures[a:b])


def _subset(f: FaceFrames, sel: np.ndarray) -> FaceFrames:
    return FaceFrames(f.index[sel], f.time[sel], f.hog[sel],
                      None if f.shift is None else f.shift[sel],
                      None if f.measures is None else f.measures[sel], f.crops[sel])


def hog_threads() -> int:
    """Numba threads for the pass while a decoder runs beside it: half the usable cores, at
    least 1.

    On 2 cores that is one thread for the pass and one core for FFmpeg, a real two-stage
    pipeline. (More Numba threads than free cores only spin: OpenMP threads wait for each other
    busily, tripling HOG's CPU cost on a loaded 2-core machine.)
    """
    return max(1, min(numba.config.NUMBA_NUM_THREADS, usable_cores() // 2))


def usable_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return os.cpu_count() or 1


def _shape_params(hog_params: dict) -> dict:
    return {k: hog_params[k] for k in ("orientations", "pixels_per_cell", "cells_per_block")
            if k in hog_params}


def _feature_axes(per_image: tuple[int, ...]) -> tuple[int, ...]:
    # skimage's unflattened shape is (blocks_y, blocks_x, b_y, b_x, o); with 1x1 blocks the
    # store keeps (cells_y, cells_x, o), the shape docs/architecture.md gives.
    by, bx, cy, cx, o = per_image
    return (by, bx, o) if (cy, cx) == (1, 1) else (by, bx, cy * cx * o)
