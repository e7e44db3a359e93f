"""Reading face video in bounded-memory chunks (PyAV), or folders of image frames.

The reader streams a video as chunks of grayscale, ROI-cropped frames; no more than one chunk
(plus the decoder's few reference frames) is ever held, however long the video::

    reader = open_video(path, roi=None, fps=None)        # -> VideoReader
    reader.path            # Path
    reader.n_frames        # int: container frame count, or an estimate; exact after a full pass
    reader.count_tolerance # int: how far n_frames may be off (0: exact)
    reader.fps             # float: the fps argument if given, else the container's average rate
    reader.frame_shape     # (H, W) of the full frame
    reader.roi             # (x, y, w, h), the whole frame when roi is None
    reader.crop_shape      # (h, w)
    reader.fingerprint()   # str: file size + blake2b of the first and last MiB
    reader.threads         # the decoder threads it was opened with
    for chunk in reader.iter_chunks(chunk_size=256, start=0, stop=None):
        chunk.index        # (n,) int64 frame indices
        chunk.time         # (n,) float64 seconds from the first frame of the video
        chunk.frames       # (n, h, w) uint8 grayscale crop
    for crops in reader.iter_crops(rois, chunk_size=256, start=0, stop=None):
        crops.frames       # tuple of (n, h_k, w_k) uint8, one per ROI, from one decode
    reader.decoded_frames  # frames decoded up to the furthest point reached
    reader.frames_out      # frames that came out of the decoder, counting those decoded only
                           # to reach a seek target (what a pass really cost)
    reader.truncated       # whether decoding stopped early (a cut or corrupt file)
    reader.close()         # or use the reader as a context manager

    VideoReader.from_numpy(frames, fps, roi=None)        # the same reader over an array
    write_video(path, frames, fps)                       # gray uint8 frames -> H.264 mp4
    frame_luma(av_frame)                                 # a decoded PyAV frame -> (H, W) uint8

Sources: anything PyAV (FFmpeg) opens (mp4, avi, mkv, mov, ...) and folders of JPEG, PNG or TIFF
frames in natural order (``frame2`` before ``frame10``; a folder needs ``fps``).

Gray levels: **one convention for every pixel format and bit depth** (docs/your-data.md).
A frame is read as the brightness of the picture on a 0-255 scale, so the same picture gives
the same gray levels whether it was stored as 8-, 10-, 12- or 16-bit samples, in limited or
full range, by H.264, FFV1, MJPEG or as image files:

- a ``b``-bit **full-range** code value ``v`` is ``round(v * 255 / (2**b - 1))``;
- a **limited-range** (TV, MPEG) one is first expanded from ``16 * 2**(b-8) .. 235 * 2**(b-8)``:
  ``round((v - 16 * 2**(b-8)) * 255 / (219 * 2**(b-8)))``, clipped to 0-255.

The range is the file's: ``yuvj*`` pixel formats and streams flagged full (``pc``) are full
range, streams flagged limited (``tv``) limited; a stream **without a range flag is read as
full range**, its code values as they are, because cameras commonly fill 0-255 without
flagging it (and :func:`write_video` writes gray values into luma unflagged); FFmpeg's own
``gray`` conversion would instead assume limited range and clip such files. For YUV-like and
gray pixel formats the gray image is the luma plane itself: 8-bit full range is a numpy view of
``frame.planes[0]`` that respects the plane's stride (``line_size``), cropped before any copy,
about 2.4 times as fast as ``frame.to_ndarray(format="gray")`` on the mouseflow sample (782x582
H.264: about 1100 vs 450 frames/s on 2 cores, decode included); other depths and limited range
go through a lookup table. RGB formats go through ``to_ndarray(format="gray")`` (ITU-R 601
luma, full range). Image files: 8-bit images are their gray values; **16-bit images** (TIFF,
PNG) are scaled by the bit depth of the data they hold, which is the TIFF ``MaxSampleValue``
tag when there is one, else inferred once per folder from the largest value of a few frames
spread through it (the smallest of 8, 10, 12, 14 or 16 bits that holds it; a warning says
what was inferred): 12-bit camera data in 16-bit TIFFs is not read as its top byte. A later
frame above the inferred range is an error naming it.

Timestamps come from the container (``frame.pts * stream.time_base``), relative to the first
frame; a frame without pts gets ``index / fps``. An ``fps`` argument overrides the container:
then every time is ``index / fps``.

``iter_chunks(start=k)`` seeks to the keyframe at or before frame ``k`` and decodes forward,
so a range gives the same frames and times as a full pass. Frame indices of keyframes come from
the container's own index where it lists every frame (MP4/MOV, read with the header; a
keyframe's place in decoding order is its frame index in a closed GOP, and an open GOP is
caught at the seek), else from a table of packet timestamps read by demuxing the file once,
without decoding. Chunks are counted from ``start``.

Opening: a reader opens the file **once** and keeps that container between passes. The probe
(frame size, pixel format, first timestamp) decodes the first frame, and a pass from frame 0
goes on from there; a later pass seeks the same container; only a pass that starts while
another of the same reader runs opens the file again. On POSIX systems FFmpeg reads the file
through Python by positioned reads of the reader's descriptor (128 KiB at a time), the
fingerprint reads the same descriptor, and the fingerprint's bytes (first and last MiB) are
shared by every reader of that file in the process: on two cores a ``mouseface run`` opens
each video twice (the baseline pre-read's reader, which then decodes the pass's first range,
and the second range's) and reads it about once (``benchmarks/strace_opens.py``).

Errors are :class:`~mouseface._errors.InputError` with one line naming the file: missing file,
zero-byte file, not a readable video, no video stream, folder with no images, image folder
without fps, ROI outside the frame. A stream that ends early (a cut file, corrupt data) is not
an error: the frames that decode are returned, ``reader.truncated`` becomes True and a warning
says ``"<path>: video ends early: decoded n of m frames"``. (An MP4 whose index sits at the end,
FFmpeg's default, loses it when cut and cannot be read at all; :func:`write_video` puts the
index first.) AVI files carry no presentation times, so their times are ``index / fps``.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import math
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface.io.tables import check_roi, natural_key

__all__ = ["Chunk", "Crops", "VideoReader", "frame_luma", "gray_table", "open_video",
           "write_video", "IMAGE_SUFFIXES", "image_files"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")

# Pixel formats whose first plane is luma (or gray) with one sample per pixel, LSB-aligned:
# the gray image is that plane, through the gray-level convention (module notes).
_LUMA_PREFIXES = ("gray", "yuv", "yuvj", "yuva", "nv")
_FULL_RANGE, _LIMITED_RANGE = 2, 1  # AVColorRange: JPEG (pc), MPEG (tv); 0 = unspecified

_MIB = 1 << 20

# Containers without real per-frame presentation times.
_NO_TIMESTAMPS = frozenset({"avi", "h264", "hevc", "mjpeg", "m4v", "rawvideo"})


@dataclass(frozen=True)
class Chunk:
    """Consecutive frames of one video.

    Attributes
    ----------
    index
        Frame indices, shape (n,), int64.
    time
        Seconds from the first frame of the video, shape (n,), float64.
    frames
        Grayscale crops, shape (n, h, w), uint8.
    """

    index: np.ndarray
    time: np.ndarray
    frames: np.ndarray


@dataclass(frozen=True)
class Crops:
    """Consecutive frames of one video cropped to several ROIs (one decode, many sessions).

    Attributes
    ----------
    index
        Frame indices, shape (n,), int64.
    time
        Seconds from the first frame of the video, shape (n,), float64.
    frames
        One ``(n, h_k, w_k)`` uint8 array per ROI, in the order the ROIs were given.
    """

    index: np.ndarray
    time: np.ndarray
    frames: tuple[np.ndarray, ...]


def open_video(
    path: str | Path,
    roi: tuple[int, int, int, int] | None = None,
    fps: float | None = None,
    *,
    threads: int | None = None,
) -> VideoReader:
    """Open a video file or a folder of image frames for chunked grayscale reading.

    Parameters
    ----------
    path
        A video file PyAV can open, or a folder of JPEG/PNG/TIFF frames.
    roi
        ``(x, y, w, h)`` in pixels; default the whole frame.
    fps
        Frame rate; overrides the container's (times become ``index / fps``). Required for
        image folders.
    threads
        Decoder threads: None lets FFmpeg choose (frame threads on every core); 1 decodes on
        the calling thread only, for callers that run one decoder per core themselves.

    Returns
    -------
    VideoReader

    Raises
    ------
    InputError
        Missing or empty file, not a video, no video stream, folder without images, folder
        without ``fps``, ROI outside the frame, ``fps`` not positive.
    """
    path = Path(path)
    if fps is not None:
        fps = float(fps)
        if not (math.isfinite(fps) and fps > 0):
            raise InputError(f"fps must be a positive number, got {fps}", path)
    if not path.exists():
        raise InputError("file not found", path)
    source: _Source = (_ImageSource(path, fps) if path.is_dir()
                       else _AVSource(path, fps, threads))
    return VideoReader(source, roi)


class VideoReader:
    """Chunked, ROI-cropped grayscale frames of one video; see :func:`open_video`.

    Attributes
    ----------
    path : Path
    n_frames : int
        The container's frame count, or an estimate from the duration; replaced by the count of
        decoded frames once a pass reaches the end of the stream.
    count_tolerance : int
        How far ``n_frames`` may be off: 0 for a count the container (or folder) gives, about
        1 % of an estimate from the duration; 0 once a pass reaches the end.
    fps : float
    frame_shape : tuple of int
        ``(H, W)`` of the full frame.
    roi : tuple of int
        ``(x, y, w, h)``.
    crop_shape : tuple of int
        ``(h, w)``.
    decoded_frames : int
        One past the last frame index decoded so far.
    truncated : bool
        True once a pass found the stream ending before its announced length, or a decode error.
    frames_out : int
        Frames produced by the decoder (or read from images) so far, over all passes, including
        frames decoded only to reach a seek target; what the passes really cost.
    threads : int or None
        The decoder threads it was opened with (see :func:`open_video`).
    """

    def __init__(self, source: _Source, roi: tuple[int, int, int, int] | None = None):
        self._source = source
        self.path = source.path
        self.fps = source.fps
        self.frame_shape = source.frame_shape
        try:
            self.roi = check_roi(roi, self.frame_shape, self.path)
        except BaseException:
            source.close()
            raise
        x, y, w, h = self.roi
        self.crop_shape = (h, w)
        self._slices = (slice(y, y + h), slice(x, x + w))
        self.n_frames = source.n_frames
        self.count_tolerance = source.count_tolerance
        self.threads = getattr(source, "threads", None)
        self.decoded_frames = 0
        self.truncated = False
        self._warned = False

    @classmethod
    def from_numpy(
        cls,
        frames: np.ndarray,
        fps: float,
        roi: tuple[int, int, int, int] | None = None,
        *,
        time: np.ndarray | None = None,
        path: str | Path = "<array>",
    ) -> VideoReader:
        """A reader over frames already in memory (tests, synthetic data).

        Parameters
        ----------
        frames
            Shape (n, H, W), uint8 grayscale.
        fps
            Frame rate; ``time`` defaults to ``index / fps``.
        roi
            ``(x, y, w, h)``; default the whole frame.
        time
            Shape (n,), seconds; default ``index / fps``.
        path
            A name used in messages.
        """
        return cls(_ArraySource(frames, fps, time, Path(path)), roi)

    # ----------------------------------------------------------------- iteration

    def iter_chunks(
        self, chunk_size: int = 256, start: int = 0, stop: int | None = None
    ) -> Iterator[Chunk]:
        """Yield :class:`Chunk` s of up to ``chunk_size`` frames from ``start`` to ``stop``.

        Chunks are counted from ``start``: the first holds frames ``start .. start +
        chunk_size - 1``. ``stop`` (exclusive) defaults to the end of the stream. A fresh array
        is allocated per chunk, so a consumer may keep one while the next is decoded.
        """
        for index, time, (frames,) in self._iter((self._slices,), chunk_size, start, stop):
            yield Chunk(index, time, frames)

    def iter_crops(
        self,
        rois: Iterable[tuple[int, int, int, int] | None],
        chunk_size: int = 256,
        start: int = 0,
        stop: int | None = None,
        *,
        first: int | None = None,
    ) -> Iterator[Crops]:
        """Like :meth:`iter_chunks`, but each decoded frame is cropped to every ROI in ``rois``.

        For several sessions recorded in one video (e.g. a mosaic of animals or trials): the
        video is decoded once and only the crops are copied. The reader's own ``roi`` is not
        used; ``None`` in ``rois`` means the whole frame. ``first``: the first chunk's size,
        when not ``chunk_size`` (so that later chunks end where a consumer wants them to).

        Raises
        ------
        InputError
            If an ROI lies outside the frame.
        """
        rois = [check_roi(r, self.frame_shape, self.path) for r in rois]
        slices = tuple((slice(y, y + h), slice(x, x + w)) for x, y, w, h in rois)
        for index, time, frames in self._iter(slices, chunk_size, start, stop, first):
            yield Crops(index, time, frames)

    def _iter(self, slices: tuple, chunk_size: int, start: int, stop: int | None,
              first: int | None = None) -> Iterator:
        """``(index, time, crops)`` per chunk (the first of ``first`` frames, when given); one
        fresh uint8 array per crop and chunk."""
        if int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
        if first is not None and not 1 <= int(first) <= int(chunk_size):
            raise ValueError(f"first must be 1 to chunk_size ({chunk_size}), got {first}")
        if int(start) < 0:
            raise ValueError(f"start must be at least 0, got {start}")
        chunk_size, start = int(chunk_size), int(start)
        if stop is not None and int(stop) <= start:
            return
        shapes = [(ys.stop - ys.start, xs.stop - xs.start) for ys, xs in slices]

        def empty():
            return tuple(np.empty((chunk_size, h, w), np.uint8) for h, w in shapes)

        index = np.empty(chunk_size, np.int64)
        time = np.empty(chunk_size, np.float64)
        frames = empty()
        n = 0
        full = chunk_size if first is None else int(first)
        status: dict = {}
        for i, t, image in self._source.frames(start, None if stop is None else int(stop),
                                               status):
            index[n], time[n] = i, t
            for out, (ys, xs) in zip(frames, slices, strict=True):
                out[n] = image[ys, xs]
            n += 1
            self.decoded_frames = max(self.decoded_frames, i + 1)
            if n == full:
                yield (index[:n].copy(), time[:n].copy(),
                       frames if n == chunk_size else tuple(f[:n] for f in frames))
                frames = empty()
                n = 0
                full = chunk_size
        if n:
            yield index[:n].copy(), time[:n].copy(), tuple(f[:n].copy() for f in frames)
        if "end" in status:
            self._reached_end(status["end"], status.get("error"))

    @property
    def frames_out(self) -> int:
        """Frames decoded so far over all passes, seek lead-in included."""
        return self._source.frames_out

    def lead_in(self, start: int) -> int:
        """Frames decoded only to reach frame ``start`` from the keyframe before it (read from
        the container's packet table, nothing decoded)."""
        keys = self._source.keyframes()
        if keys is None or start <= 0:
            return 0
        before = keys[keys <= start]
        return int(start - before[-1]) if len(before) else int(start)

    def _reached_end(self, count: int, error: str | None) -> None:
        expected = self._source.n_frames
        self.decoded_frames = count
        short = count < expected - self._source.count_tolerance
        if error is not None or short:
            self.truncated = True
            if not self._warned:
                self._warned = True
                why = f" ({error})" if error else ""
                warnings.warn(f"{self.path}: video ends early: decoded {count} of {expected} "
                              f"frames{why}", stacklevel=3)
        self.n_frames = count
        self.count_tolerance = 0

    # ----------------------------------------------------------------- the rest

    def fingerprint(self) -> str:
        """Cheap, stable content fingerprint (no mtime).

        Files: size and blake2b of the first and last MiB. Folders: blake2b of the sorted
        image names and sizes.
        """
        return self._source.fingerprint()

    @property
    def pixel_format(self) -> str | None:
        """The decoder's pixel format (None for image folders and arrays)."""
        return self._source.pixel_format

    def close(self) -> None:
        """Release the file."""
        self._source.close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"VideoReader({str(self.path)!r}, n_frames={self.n_frames}, fps={self.fps:g}, "
                f"frame_shape={self.frame_shape}, roi={self.roi})")


# --------------------------------------------------------------------------- sources


class _Source:
    """What VideoReader needs from a kind of input.

    ``frames(start, stop, status)`` yields ``(index, time, full-frame 2-D uint8 view)``; the
    view may be reused after the next item. When the stream was exhausted (not stopped by
    ``stop``) it sets ``status["end"]`` to the frame count, and ``status["error"]`` to the
    decode error that ended it, if one did.
    """

    path: Path
    fps: float
    frame_shape: tuple[int, int]
    n_frames: int
    count_tolerance: int = 0
    pixel_format: str | None = None
    frames_out: int = 0  # frames decoded (or read) over all passes, seek lead-in included

    def frames(
        self, start: int, stop: int | None, status: dict
    ) -> Iterator[tuple[int, float, np.ndarray]]:
        raise NotImplementedError

    def fingerprint(self) -> str:
        raise NotImplementedError

    def keyframes(self) -> np.ndarray | None:
        """Frame indices decoding can start at without a lead-in (None: every frame)."""
        return None

    def close(self) -> None:
        pass


def _collect_before_fork() -> None:
    """Free, before a fork, what the collector has yet to free: an FFmpeg decoder left in a
    reference cycle still has its frame threads here, and freed in a forked child (a process
    pool's worker), where those threads do not exist, it waits on them for ever."""
    gc.collect()


@functools.cache
def _guard_forks() -> None:
    """Once a process has opened a video file: :func:`_collect_before_fork` before each fork
    (``subprocess`` does not fork through Python and is not slowed)."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(before=_collect_before_fork)


class _AVSource(_Source):
    """A video file read through PyAV (FFmpeg).

    The file is opened **once per reader**: one descriptor, from which the fingerprint is read
    and FFmpeg demuxes (through :class:`_File`), and the container made on it is kept between
    passes (the probe's decoding goes on into a pass from frame 0; a later pass seeks it). A
    second container is opened only for a pass that starts while another one of this reader
    is still running. Seeks are planned from the container's own index where it lists every
    frame (MP4/MOV: read with the header, nothing more), else from a table of packet
    timestamps demuxed once per file.
    """

    def __init__(self, path: Path, fps: float | None, threads: int | None = None):
        import av

        _guard_forks()
        self.path = path
        self.threads = threads
        size = path.stat().st_size
        if size == 0:
            raise InputError("empty file (0 bytes): not a video", path)
        self._lock = threading.Lock()
        self._busy = False  # a pass is decoding from the kept container
        self._fingerprint: str | None = None
        self._pts_table: np.ndarray | None = None
        self._keyframes: np.ndarray | None = None
        self._index: _IndexKeys | None = None
        self._resume = None  # the probe's first frame and its decoding, until a pass takes them
        self._blocks = _Blocks.of(path) if _PREAD else None  # the fingerprint's bytes
        fd, container = self._open(kept=True)
        try:
            if not container.streams:
                raise InputError("not a readable video: no streams found (an MP4/MOV file cut "
                                 "short before its index, written at the end, looks like "
                                 "this)", path)
            if not container.streams.video:
                kinds = sorted({st.type for st in container.streams})
                raise InputError(f"no video stream in this file (only {', '.join(kinds)})", path)
            stream = self._threaded(container)
            self._time_base = stream.time_base
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            if fps is None and not rate:
                raise InputError("the container gives no frame rate: set fps", path)
            # AVI stores no presentation times (FFmpeg guesses them, out of order with
            # B-frames): its frames are evenly spaced by definition, so time = index / fps.
            self._fixed_fps = fps is not None or container.format.name in _NO_TIMESTAMPS
            self.fps = fps if fps is not None else float(rate)
            decoded = container.decode(stream)
            first = self._first_frame(decoded)
            self.frame_shape = (first.height, first.width)
            self.pixel_format = first.format.name
            self._first_pts = first.pts
            self._index = (_IndexKeys.of(container, stream, first.pts) if self._blocks is None
                           else self._blocks.index_keys(container, stream, first.pts))
            self.n_frames, self.count_tolerance = self._count(container, stream)
        except av.error.FFmpegError as e:
            _close(fd, container)
            raise InputError(f"not a readable video ({_ffmpeg_message(e)})", path) from None
        except BaseException:
            _close(fd, container)
            raise
        file = getattr(getattr(container, "file", None), "file", None)  # PyAV's wrapper's
        if isinstance(file, _File):  # memory stays flat: the fingerprint reads the rest
            file.keep = False
        self._kept: tuple[int | None, object] | None = (fd, container)
        self._resume = (first, decoded)
        self._finalizer = weakref.finalize(self, _close, fd, container)

    def _open(self, kept: bool = False) -> tuple[int | None, object]:
        """A new container on the file: ``(descriptor or None, container)``.

        The reader's kept container reads through Python from a descriptor of its own
        (positioned reads, see :class:`_File`; the fingerprint is read from the same
        descriptor and its bytes are not read twice); a pass's own container is FFmpeg's,
        opened by name (no Python in its reads).
        """
        import av

        fd = None
        try:
            if kept and _PREAD:
                fd = os.open(self.path, os.O_RDONLY)
                return fd, av.open(_File(fd, self.path, self._blocks), mode="r",
                                   buffer_size=_IO_BUFFER)
            return None, av.open(str(self.path), mode="r")
        except BaseException as e:
            if fd is not None:
                os.close(fd)
            if isinstance(e, av.error.FFmpegError):
                raise InputError(f"not a readable video ({_ffmpeg_message(e)})",
                                 self.path) from None
            raise

    def _first_frame(self, decoded: Iterator):
        import av

        try:
            frame = next(decoded, None)
        except av.error.FFmpegError as e:
            raise InputError(f"not a readable video: no frame decodes ({_ffmpeg_message(e)})",
                             self.path) from None
        if frame is None:
            raise InputError("not a readable video: the video stream has no frames", self.path)
        return frame

    def _count(self, container, stream) -> tuple[int, int]:
        """Frame count (exact from the container, else estimated) and how far off it may be."""
        if stream.frames and stream.frames > 0:
            return int(stream.frames), 0
        rate = stream.average_rate or stream.guessed_rate
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        if duration and rate:
            n = int(round(duration * float(rate)))
            if n > 0:
                return n, max(2, math.ceil(0.01 * n))
        pts = self._table()[0]
        return max(len(pts), 1), 0

    # ----- packet table: every frame's pts and the keyframes, by demuxing (no decoding)

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        if self._pts_table is None or self._keyframes is None:
            self._pts_table, self._keyframes = _packet_table(self.path)
        return self._pts_table, self._keyframes

    def keyframes(self) -> np.ndarray | None:
        if self._first_pts is None:
            return np.zeros(1, np.int64)
        if self._index is not None:
            return self._index.frames.copy()
        pts, keys = self._table()
        base = int(np.searchsorted(pts, self._first_pts))
        return np.searchsorted(pts, keys[keys >= self._first_pts]).astype(np.int64) - base

    def _seek_plan(self, start: int, rewind: bool = False) -> list[tuple[str, int, int]]:
        """Keyframes to try seeking to for frame ``start``, latest first: ``(kind, timestamp,
        frame index)``; kind ``"dts"`` from the container's index, ``"pts"`` from the packet
        table. With ``rewind`` (a container that has moved) the first frame comes last;
        without, a pass that no keyframe after the first helps decodes on from where the
        container stands (its beginning)."""
        if self._first_pts is None:
            return []
        if self._index is not None:
            plan = self._index.plan(start)
        else:
            pts, keys = self._table()
            base = int(np.searchsorted(pts, self._first_pts))
            plan = []
            if base + start < len(pts) and pts[base] == self._first_pts:
                target = int(pts[base + start])
                before = keys[(keys <= target) & (keys > self._first_pts)][::-1][:3]
                plan = [("pts", int(k), int(np.searchsorted(pts, k)) - base) for k in before]
            if rewind:
                plan.append(("pts", self._first_pts, 0))
        return [p for p in plan if rewind or p[2] > 0]

    # ----- decoding

    def frames(
        self, start: int, stop: int | None, status: dict
    ) -> Iterator[tuple[int, float, np.ndarray]]:
        import av

        decoded, release = self._positioned(start, status)
        try:
            i = start
            try:
                for frame in decoded:
                    yield i, self._time(i, frame.pts), self._gray(frame)
                    i += 1
                    if stop is not None and i >= stop:
                        return
            except av.error.FFmpegError as e:
                status["error"] = _ffmpeg_message(e)
            # Nothing past a skipped prefix: the count is what the skipping saw.
            status["end"] = i if i > start or start == 0 else status.get("skipped", i)
        finally:
            release()

    def _positioned(self, start: int, status: dict) -> tuple[Iterator, Callable[[], None]]:
        """Decoded frames from frame ``start`` on, and what to call once done with them.

        The kept container when no other pass holds it (going on from the probe when no
        keyframe after the first helps, else seeking), else a container of this pass's own.
        A seek goes to a keyframe at or before frame ``start`` and frames are counted on from
        it, once the keyframe itself comes out of the decoder (frames of an open GOP that
        precede it are dropped). When no keyframe gives that, decoding starts at the beginning
        and skips ``start`` frames.
        """
        with self._lock:
            kept = self._kept if not self._busy else None
            self._busy = kept is not None
        if kept is None:
            fd, container = self._open()

            def release():
                _close(fd, container)  # this pass's container (the last, if it started over)
        else:
            fd, container = kept

            def release():
                self._busy = False
        try:
            stream = self._threaded(container)
            if kept is not None and self._resume is not None:
                first, decoded = self._resume
                self._resume = None
                if not self._seek_plan(start):  # nothing to seek to: on from the probe
                    return (_skip_count(self._counted(_chain(first, decoded)), start, status),
                            release)
            got, moved = self._seek(container, stream, start, rewind=kept is not None)
            if got is not None:
                return got, release
            if moved or kept is not None:  # not at its beginning: start over on a fresh one
                if kept is None:
                    _close(fd, container)
                fd, container = self._open(kept=kept is not None)
                if kept is not None:
                    self._replace_kept(fd, container)
                stream = self._threaded(container)
            return _skip_count(self._counted(container.decode(stream)), start, status), release
        except BaseException:
            release()
            raise

    def _replace_kept(self, fd: int | None, container) -> None:
        old, self._kept = self._kept, (fd, container)
        self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _close, fd, container)
        if old is not None:
            _close(*old)

    def _seek(self, container, stream, start: int, rewind: bool) -> tuple[Iterator | None, bool]:
        """Decoded frames from frame ``start`` after a seek (None when no planned keyframe
        gave them), and whether the container was moved."""
        import av

        moved = False
        while True:
            plan = self._seek_plan(start, rewind)
            for kind, ts, key_index in plan:
                moved = True
                try:
                    container.seek(ts, stream=stream, backward=True, any_frame=False)
                    if kind == "pts":
                        got = self._from_pts(container, stream, ts)
                    else:
                        got = self._from_index(container, stream, start)
                except av.error.FFmpegError:
                    got = None
                if got is _OPEN_GOP:
                    break  # the index cannot place this stream's frames: the table can
                if got is not None:
                    frames, key_index = got if kind == "dts" else (got, key_index)
                    return _skip_count(frames, start - key_index, {}), moved
            else:
                return None, moved
            self._index = None
            if self._blocks is not None:
                self._blocks.keys = None  # for the file's other readers too

    def _from_pts(self, container, stream, key: int) -> Iterator | None:
        """Frames from keyframe ``key`` (a pts of the packet table), None if the seek missed."""
        frames = self._counted(container.decode(stream))
        for _, frame in zip(range(64), frames, strict=False):  # leading frames
            if frame.pts is not None and frame.pts >= key:
                return _chain(frame, frames) if frame.pts == key else None
        return None

    def _from_index(self, container, stream, start: int):
        """``(frames, key frame index)`` from the keyframe the seek reached, checked against the
        container's index; None if the seek missed; ``_OPEN_GOP`` when frames after the
        keyframe in decoding order are shown before it (their index is not their order)."""
        packets = container.demux(stream)
        head = next((p for p in packets if p.pts is not None and p.size), None)
        if head is None or not head.is_keyframe:
            return None
        key_index = self._index.frame_of(head.dts)
        if key_index is None or key_index > start:
            return None
        ahead = []
        for p in packets:  # the packets up to the first one shown after the keyframe
            ahead.append(p)
            if p.pts is None or not p.size or p.pts > head.pts or len(ahead) > 32:
                break
            if p.pts < head.pts:
                return _OPEN_GOP
        frames = self._counted(_decode_packets(_chain(head, _chain_all(ahead, packets))))
        for _, frame in zip(range(64), frames, strict=False):
            if frame.pts is not None and frame.pts >= head.pts:
                return (_chain(frame, frames), key_index) if frame.pts == head.pts else None
        return None

    def _threaded(self, container):
        stream = container.streams.video[0]
        if stream.codec_context.is_open:
            return stream  # the decoder's threads are set once, before it opens
        if self.threads is None:
            stream.thread_type = "AUTO"
        else:
            stream.codec_context.thread_count = int(self.threads)
            stream.thread_type = "NONE" if int(self.threads) == 1 else "AUTO"
        return stream

    def _counted(self, frames: Iterator) -> Iterator:
        for frame in frames:
            self.frames_out += 1
            yield frame

    def _time(self, i: int, pts: int | None) -> float:
        if self._fixed_fps or pts is None or self._first_pts is None:
            return i / self.fps
        tb = self._time_base
        return (pts - self._first_pts) * tb.numerator / tb.denominator

    def _gray(self, frame) -> np.ndarray:
        return frame_luma(frame)

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            kept = self._kept
            if kept is not None and kept[0] is not None:
                self._fingerprint = self._blocks.fingerprint(kept[0])
            else:
                self._fingerprint = _file_fingerprint(self.path)
        return self._fingerprint

    def close(self) -> None:
        self._kept, self._resume = None, None
        self._finalizer()


#: Positioned reads (POSIX): a reader's kept container and its fingerprint share one
#: descriptor. Elsewhere the fingerprint opens the file once more.
_PREAD = hasattr(os, "pread")

#: Bytes FFmpeg asks of a Python file at a time: few calls into Python (each takes the GIL)
#: while reading ahead little past a seek.
_IO_BUFFER = 1 << 17


_UNSET = object()


class _Blocks:
    """The first and last MiB of one file (what its fingerprint hashes) as far as they were
    read, shared by every reader of that file in this process (while one holds them): those
    bytes are read from the file once, whether the fingerprint or a decoder asks first."""

    _live: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
    _live_lock = threading.Lock()

    def __init__(self, size: int):
        self.size = size
        self.head_end = min(size, _MIB)
        self.tail_at = max(size - _MIB, _MIB) if size > _MIB else size
        self.head = bytearray()  # bytes [0, len(head)), up to head_end
        self.tail: bytes | None = None  # bytes [tail_at, size) once the fingerprint read them
        self.digest: str | None = None
        self.keys: _IndexKeys | None | object = _UNSET  # the container index's keyframes
        self.lock = threading.Lock()

    @classmethod
    def of(cls, path: Path) -> _Blocks:
        """The blocks of ``path`` as it is now (its size and modification time)."""
        st = path.stat()
        key = (os.path.realpath(path), st.st_size, st.st_mtime_ns, st.st_ino)
        with cls._live_lock:
            blocks = cls._live.get(key)
            if blocks is None:
                blocks = cls._live[key] = cls(st.st_size)
            return blocks

    def read(self, fd: int, pos: int, n: int, keep: bool) -> bytes:
        """Up to ``n`` bytes at ``pos`` (fewer at the edge of a kept block); with ``keep``,
        bytes read from the first MiB are kept (for the fingerprint)."""
        with self.lock:
            if pos < len(self.head):
                return bytes(self.head[pos:pos + n])
            if self.tail is not None and pos >= self.tail_at:
                return self.tail[pos - self.tail_at:pos - self.tail_at + n]
            end = self.tail_at if self.tail is not None and pos < self.tail_at else self.size
        out = os.pread(fd, min(n, end - pos), pos)
        if keep:
            with self.lock:
                if pos == len(self.head) < self.head_end:
                    self.head += out[:self.head_end - pos]
        return out

    def index_keys(self, container, stream, first_pts: int | None) -> _IndexKeys | None:
        """:meth:`_IndexKeys.of` the file, worked out by its first reader only (a long
        video's index has an entry per frame)."""
        with self.lock:
            if self.keys is _UNSET:
                self.keys = _IndexKeys.of(container, stream, first_pts)
            return self.keys

    def fingerprint(self, fd: int) -> str:
        """Size and blake2b of the first and last MiB (:func:`_file_fingerprint`), reading
        only what no decoder has read yet."""
        with self.lock:
            if self.digest is None:
                if len(self.head) < self.head_end:
                    self.head += _pread(fd, self.head_end - len(self.head), len(self.head))
                if self.tail is None and self.size > _MIB:
                    self.tail = _pread(fd, self.size - self.tail_at, self.tail_at)
                h = hashlib.blake2b(digest_size=16)
                h.update(self.head)
                if self.tail is not None:
                    h.update(self.tail)
                self.digest = f"{self.size}:{h.hexdigest()}"
            return self.digest


class _File:
    """A video file as FFmpeg reads it through Python: positioned reads of one descriptor,
    the fingerprint's bytes shared (:class:`_Blocks`)."""

    def __init__(self, fd: int, path: Path, blocks: _Blocks):
        self.fd = fd
        self.name = str(path)  # FFmpeg's format probing takes hints from the name
        self.blocks = blocks
        self.size = blocks.size
        self.pos = 0
        self.keep = True  # keep what the probe reads (the reader turns it off after)

    def read(self, n: int) -> bytes:
        n = max(0, min(int(n), self.size - self.pos))
        if not n:
            return b""
        out = self.blocks.read(self.fd, self.pos, n, self.keep)
        self.pos += len(out)
        return out

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self.pos, self.size)[whence]
        self.pos = max(0, base + int(offset))
        return self.pos

    def tell(self) -> int:
        return self.pos


_OPEN_GOP = object()


def _close(fd: int | None, container) -> None:
    try:
        container.close()
    finally:
        if fd is not None:
            os.close(fd)


def _decode_packets(packets: Iterable) -> Iterator:
    for packet in packets:
        yield from packet.decode()


def _chain_all(items: list, rest: Iterator) -> Iterator:
    yield from items
    yield from rest


@dataclass(frozen=True)
class _IndexKeys:
    """Keyframes from a container's own index (MP4/MOV keep one for every frame, read with the
    header): their frame indices (their places in decoding order, which is display order at a
    keyframe of a closed GOP; an open GOP is caught when seeking), decoding timestamps, and
    the shift from those to the timestamps a seek takes."""

    frames: np.ndarray
    dts: np.ndarray
    shift: int

    @classmethod
    def of(cls, container, stream, first_pts: int | None) -> _IndexKeys | None:
        """The index of a stream whose container lists every frame in it, else None."""
        n = stream.frames or 0
        if first_pts is None or n <= 0 or not container.format.name.startswith("mov,"):
            return None
        entries = stream.index_entries
        if len(entries) != n:
            return None
        dts = np.empty(n, np.int64)
        key = np.zeros(n, bool)
        for i, e in enumerate(entries):
            if e.is_discard:
                return None
            dts[i], key[i] = e.timestamp, e.is_keyframe
        if not key[0] or (n > 1 and np.any(np.diff(dts) <= 0)):
            return None
        frames = np.flatnonzero(key).astype(np.int64)
        return cls(frames, dts[frames], int(first_pts - dts[0]))

    def plan(self, start: int) -> list[tuple[str, int, int]]:
        """The latest three keyframes at or before frame ``start``, then the first."""
        k = int(np.searchsorted(self.frames, start, side="right"))
        picks = [*range(k - 1, max(k - 4, 0), -1), 0]
        return [("dts", int(self.dts[j]) + self.shift, int(self.frames[j])) for j in picks]

    def frame_of(self, dts: int | None) -> int | None:
        k = int(np.searchsorted(self.dts, dts)) if dts is not None else len(self.dts)
        return int(self.frames[k]) if k < len(self.dts) and self.dts[k] == dts else None


@functools.lru_cache(maxsize=64)
def _packet_table_of(path: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    import av

    pts, keys = [], []
    container = av.open(path, mode="r")
    try:
        for packet in container.demux(container.streams.video[0]):
            if packet.pts is None or packet.size == 0 or packet.is_discard:
                continue
            pts.append(packet.pts)
            if packet.is_keyframe:
                keys.append(packet.pts)
    except av.error.FFmpegError:
        pass  # a cut file: the packets before the damage are what there is
    finally:
        container.close()
    return np.unique(np.asarray(pts, np.int64)), np.unique(np.asarray(keys, np.int64))


def _packet_table(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Every frame's pts and the keyframes' of a video, by demuxing (no decoding); kept per
    file and content (size, modification time), so the readers of one pass share it."""
    st = Path(path).stat()
    return _packet_table_of(str(path), st.st_size, st.st_mtime_ns)


def frame_luma(frame) -> np.ndarray:
    """The grayscale image of a decoded PyAV video frame, (H, W) uint8.

    Gray levels follow the one convention of the module notes (bit depth and range taken into
    account). 8-bit full-range (or unflagged) luma is a view of the frame's own luma plane, no
    copy; other luma formats go through a lookup table; RGB formats through
    ``to_ndarray(format="gray")``. Files, cameras and streams all go through here, so one
    camera frame gives the same pixels live and when its recording is read back.
    """
    layout = _luma_layout(frame.format.name)
    if layout is None:
        return frame.to_ndarray(format="gray")
    bits, dtype = layout
    plane = frame.planes[0]
    h, w = frame.height, frame.width
    row = plane.line_size // dtype.itemsize
    y = np.frombuffer(plane, dtype)[: row * h].reshape(h, row)[:, :w]
    limited = frame.color_range == _LIMITED_RANGE and not frame.format.name.startswith("yuvj")
    if bits == 8 and not limited:
        return y
    return gray_table(bits, limited=limited, size=1 << (8 * dtype.itemsize))[y]


@functools.cache
def _luma_layout(name: str) -> tuple[int, np.dtype] | None:
    """``(bits, dtype)`` of the luma plane of pixel format ``name``, None when the format has
    no plain luma plane (RGB, packed YUV, float, MSB-aligned P010...)."""
    import av

    if not name.startswith(_LUMA_PREFIXES) or "f32" in name or "f16" in name:
        return None
    try:
        fmt = av.VideoFormat(name)
    except (ValueError, av.error.FFmpegError):
        return None
    c = fmt.components[0]
    if not c.is_luma and not name.startswith("gray") or c.plane != 0 or c.bits > 16:
        return None
    if c.bits <= 8:
        return 8, np.dtype(np.uint8)
    return c.bits, np.dtype(">u2" if name.endswith("be") else "<u2")


@functools.lru_cache(maxsize=32)
def gray_table(bits: int, *, limited: bool = False, size: int | None = None) -> np.ndarray:
    """Lookup table from ``bits``-bit code values to gray levels 0-255 (module notes).

    Parameters
    ----------
    bits : int
        Bit depth of the samples (8 to 16).
    limited : bool, default=False
        Limited (TV) range: ``16 * 2**(bits-8)`` is black, ``235 * 2**(bits-8)`` white.
    size : int, optional
        Entries of the table (default ``2**bits``); values beyond the bit depth map to 255.

    Examples
    --------
    >>> gray_table(10)[[0, 512, 1023]].tolist()
    [0, 128, 255]
    >>> gray_table(8, limited=True)[[16, 126, 235]].tolist()
    [0, 128, 255]
    """
    v = np.arange(size or (1 << bits), dtype=np.float64)
    if limited:
        k = 2.0 ** (bits - 8)
        g = (v - 16 * k) * 255 / (219 * k)
    else:
        g = v * 255 / ((1 << bits) - 1)
    return np.clip(np.round(g), 0, 255).astype(np.uint8)


def _chain(first, rest: Iterator) -> Iterator:
    yield first
    yield from rest


def _skip_count(frames: Iterator, n: int, status: dict) -> Iterator:
    """Drop the first ``n`` frames; ``status["skipped"]`` counts every frame decoded."""
    status["skipped"] = 0
    for i, frame in enumerate(frames):
        status["skipped"] = i + 1
        if i >= n:
            yield frame


#: What a folder given as a video without any frame in it is told.
NO_FRAMES = "folder has no JPEG, PNG or TIFF frames"


def image_files(folder: str | Path) -> list[Path]:
    """The frames of an image folder (JPEG, PNG, TIFF; hidden files left out), in natural
    order (``frame2`` before ``frame10``)."""
    return sorted((p for p in Path(folder).iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                   and not p.name.startswith(".")),
                  key=lambda p: natural_key(p.name))


class _ImageSource(_Source):
    def __init__(self, path: Path, fps: float | None):
        files = image_files(path)
        if not files:
            raise InputError(NO_FRAMES, path)
        if fps is None:
            raise InputError("a folder of image frames needs fps (add an fps column to the "
                             "sessions table)", path)
        self.path = path
        self.files = files
        self.fps = fps
        self.n_frames = len(files)
        first, max_sample = _read_raw(files[0])
        self.frame_shape = first.shape
        self.bits = 8 if first.dtype == np.uint8 else _folder_bits(path, files, max_sample)

    def frames(
        self, start: int, stop: int | None, status: dict
    ) -> Iterator[tuple[int, float, np.ndarray]]:
        end = len(self.files) if stop is None else min(stop, len(self.files))
        for i in range(start, end):
            image = _read_image(self.files[i], self.bits)
            self.frames_out += 1
            if image.shape != self.frame_shape:
                raise InputError(f"frame size {image.shape[1]}x{image.shape[0]} differs from the "
                                 f"first frame's {self.frame_shape[1]}x{self.frame_shape[0]} "
                                 "(width x height)", self.files[i])
            yield i, i / self.fps, image
        if stop is None or stop > len(self.files):
            status["end"] = len(self.files)

    def fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        for p in self.files:
            h.update(f"{p.name}\0{p.stat().st_size}\n".encode())
        return f"{len(self.files)}:{h.hexdigest()}"


class _ArraySource(_Source):
    def __init__(self, frames: np.ndarray, fps: float, time: np.ndarray | None, path: Path):
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.dtype != np.uint8:
            raise ValueError(f"frames must be a (n, H, W) uint8 array, got {frames.dtype} with "
                             f"shape {frames.shape}")
        if not fps > 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.path = path
        self.fps = float(fps)
        self._frames = frames
        n = len(frames)
        self._time = (np.arange(n) / self.fps if time is None
                      else np.asarray(time, np.float64).reshape(n))
        self.n_frames = n
        self.frame_shape = frames.shape[1:]

    def frames(
        self, start: int, stop: int | None, status: dict
    ) -> Iterator[tuple[int, float, np.ndarray]]:
        n = len(self._frames)
        end = n if stop is None else min(stop, n)
        for i in range(start, end):
            self.frames_out += 1
            yield i, float(self._time[i]), self._frames[i]
        if stop is None or stop > n:
            status["end"] = n

    def fingerprint(self) -> str:
        h = hashlib.blake2b(digest_size=16)
        h.update(repr(self._frames.shape).encode())
        h.update(np.ascontiguousarray(self._frames).data)
        h.update(self._time.tobytes())
        return h.hexdigest()


# --------------------------------------------------------------------------- helpers


def _read_raw(path: Path) -> tuple[np.ndarray, int | None]:
    """One image file as a 2-D array: uint8 gray (RGB to luma by ITU-R 601), or uint16 for
    16-bit images; and its TIFF ``MaxSampleValue`` tag, if any."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            tag = getattr(im, "tag_v2", {}).get(281)
            max_sample = int(tag[0] if isinstance(tag, tuple) else tag) if tag else None
            if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
                a = np.asarray(im)
                if a.dtype.itemsize > 1:
                    if a.min() < 0 or a.max() > 65535:
                        raise ValueError("values outside 0-65535")
                    a = a.astype(np.uint16)
                return np.ascontiguousarray(a), max_sample
            if im.mode != "L":
                im = im.convert("L")
            return np.asarray(im), max_sample
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise InputError(f"not a readable image ({e})", path) from None


def _bits_of(value: int) -> int:
    """The smallest of 8, 10, 12, 14 or 16 bits that holds ``value``."""
    return next(b for b in (8, 10, 12, 14, 16) if value < (1 << b))


def _folder_bits(folder: Path, files: list[Path], max_sample: int | None) -> int:
    """The bit depth of the data in a folder of 16-bit images: the TIFF ``MaxSampleValue`` tag
    when there is one, else inferred from the largest value of up to 5 frames spread through
    the folder (with a warning saying so)."""
    if max_sample:
        return max(8, int(max_sample).bit_length())
    picks = sorted({round(k * (len(files) - 1) / 4) for k in range(5)})
    top = max(int(_read_raw(files[i])[0].max()) for i in picks)
    bits = _bits_of(top)
    if bits < 16:
        warnings.warn(f"{folder}: 16-bit frames hold values up to {top} (largest of "
                      f"{len(picks)} frames spread through the folder): read as {bits}-bit "
                      f"data, gray = value x 255 / {(1 << bits) - 1} (a TIFF MaxSampleValue tag "
                      "states the depth exactly)", stacklevel=3)
    return bits


def _read_image(path: Path, bits: int | None = None) -> np.ndarray:
    """One image file as 2-D uint8 gray levels (module notes): a 16-bit image scaled by the bit
    depth ``bits`` of its data (default: its own ``MaxSampleValue`` tag, else inferred from
    its largest value)."""
    a, max_sample = _read_raw(path)
    if a.dtype == np.uint8:
        return a
    top = int(a.max())
    if bits is None:
        bits = max(8, int(max_sample).bit_length()) if max_sample else _bits_of(top)
    if top >= (1 << bits):
        raise InputError(f"value {top} is above the {bits}-bit range the folder's frames were "
                         f"read with (0-{(1 << bits) - 1}): give every frame the same bit "
                         "depth, or a TIFF MaxSampleValue tag", path)
    return gray_table(bits, size=65536)[a]


def _file_fingerprint(path: Path) -> str:
    size = path.stat().st_size
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        h.update(f.read(_MIB))
        if size > _MIB:
            f.seek(max(size - _MIB, _MIB))
            h.update(f.read(_MIB))
    return f"{size}:{h.hexdigest()}"


def _pread(fd: int, n: int, offset: int) -> bytes:
    parts = []
    while n > 0:
        got = os.pread(fd, n, offset)
        if not got:
            break
        parts.append(got)
        n -= len(got)
        offset += len(got)
    return b"".join(parts)


def _ffmpeg_message(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    return str(text).splitlines()[0] if text else type(e).__name__


# --------------------------------------------------------------------------- writing


def _rgb_to_yuv420p(rgb: np.ndarray, buf: np.ndarray) -> None:
    """Fill a yuv420p buffer ``(H * 3 // 2, W)`` from an RGB frame: full-range BT.601 (the
    JPEG equations), so gray stays its own luma as in the gray frames; chroma 2x2-averaged."""
    h, w = rgb.shape[:2]
    x = rgb.astype(np.float32)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) * 0.564 + 128.0
    v = (r - y) * 0.713 + 128.0
    flat = buf.reshape(-1)
    flat[:h * w] = np.clip(np.rint(y), 0, 255).ravel()
    n = (h // 2) * (w // 2)
    for k, c in enumerate((u, v)):
        # the mean of each 2x2 block, summed in the order numpy's mean over the block's two
        # axes sums it (the same bits), without its slow reduction over axes of length 2
        sub = ((c[0::2, 0::2] + c[0::2, 1::2]) + (c[1::2, 0::2] + c[1::2, 1::2])) / np.float32(4)
        flat[h * w + k * n:h * w + (k + 1) * n] = np.clip(np.rint(sub), 0, 255).ravel()


def _yuv420p_planes(frame, buf: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """``(plane, part)`` pairs: each plane of a yuv420p ``frame`` as a writable array (its rows
    may be padded) and the part of a ``(H * 3 // 2, W)`` buffer that holds it."""
    h, w = buf.shape[0] * 2 // 3, buf.shape[1]
    flat = buf.reshape(-1)
    n = (h // 2) * (w // 2)
    parts = [buf[:h], flat[h * w:h * w + n].reshape(h // 2, w // 2),
             flat[h * w + n:].reshape(h // 2, w // 2)]
    return [(np.frombuffer(p, np.uint8).reshape(-1, p.line_size)[:, :part.shape[1]], part)
            for p, part in zip(frame.planes, parts, strict=True)]


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float,
    *,
    codec: str = "libx264",
    crf: int = 18,
    preset: str = "veryfast",
    keyframe_interval: int | None = None,
) -> Path:
    """Encode uint8 frames as an H.264 (yuv420p) video: gray values become luma as they are;
    colour (RGB) frames are converted to YUV (for figures such as the overlay).

    Parameters
    ----------
    path
        Output file; the container comes from the suffix (``.mp4`` usually). Written to a
        temporary name and renamed into place. MP4/MOV files get their index at the front
        (``faststart``), so a file cut short still opens and its first frames decode.
    frames
        2-D uint8 arrays of one shape ``(H, W)``, both even (yuv420p halves the chroma), or a
        ``(n, H, W)`` array; or ``(H, W, 3)`` RGB arrays.
    fps
        Frame rate (a fraction close to it with denominator at most 1001 is used).
    codec
        Encoder name.
    crf
        Constant rate factor: 0 lossless, 18 visually lossless, 23 x264's default.
    preset
        x264 speed preset.
    keyframe_interval
        Frames between keyframes (GOP size); the encoder's default when None.

    Returns
    -------
    Path
        ``path``.

    Notes
    -----
    Single-threaded encoding without x264's macroblock-tree rate control, so the same frames
    give the same bytes on any machine and in every run. Chroma is
    flat 128 and the colour range is left unspecified, like many camera files; the reader
    returns the luma code values unchanged, so frames read back match what was written up to
    compression error.
    """
    import av

    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001)
    if rate <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    options = {"movflags": "+faststart"} if path.suffix.lower() in (".mp4", ".mov", ".m4v") else {}
    with atomic_path(path) as tmp:
        container = av.open(str(tmp), mode="w", options=options)
        try:
            stream = container.add_stream(codec, rate=rate)
            stream.pix_fmt = "yuv420p"
            opts = {"crf": str(crf), "preset": preset, "threads": "1"}
            if codec == "libx264":
                # macroblock-tree rate control made the x264 of the PyAV 18 wheels give another
                # stream for the same frames about one run in ten; without it, bytes repeat
                opts["x264-params"] = "mbtree=0"
            stream.options = opts
            stream.codec_context.thread_count = 1
            if keyframe_interval is not None:
                stream.codec_context.gop_size = int(keyframe_interval)
            buf = None
            for i, img in enumerate(frames):
                img = np.asarray(img)
                if buf is None:
                    colour = img.ndim == 3 and img.shape[2] == 3
                    if (img.ndim != 2 and not colour) or img.dtype != np.uint8:
                        raise ValueError(f"frames must be 2-D (gray) or H x W x 3 (RGB) uint8, "
                                         f"got {img.dtype} with shape {img.shape}")
                    shape = img.shape
                    h, w = shape[:2]
                    if h % 2 or w % 2:
                        raise ValueError(f"frame size {w}x{h} (width x height) must be even for "
                                         "yuv420p: crop or pad by one pixel")
                    stream.width, stream.height = w, h
                    buf = np.full((h * 3 // 2, w), 128, dtype=np.uint8)
                    # one frame refilled for every image: its planes as arrays, and the parts
                    # of `buf` that go into them
                    frame = av.VideoFrame(w, h, "yuv420p")
                    frame.time_base = 1 / rate
                    planes = _yuv420p_planes(frame, buf)
                    for dst, src in planes:
                        dst[...] = src  # flat chroma, for gray images
                    held = frame.planes[0].buffer_ptr
                elif img.shape != shape or img.dtype != np.uint8:
                    raise ValueError(f"frame {i} is {img.dtype} {img.shape}, expected uint8 "
                                     f"{shape}")
                # an encoder may keep a reference to the frame it was sent last (x264 copies
                # it): FFmpeg's rule, a buffer of its own (a copy) before writing into it
                frame.make_writable()
                if frame.planes[0].buffer_ptr != held:
                    planes = _yuv420p_planes(frame, buf)
                    held = frame.planes[0].buffer_ptr
                if colour:
                    _rgb_to_yuv420p(img, buf)
                    for dst, src in planes:
                        dst[...] = src
                else:
                    planes[0][0][...] = img
                frame.pts = i
                for packet in stream.encode(frame):
                    container.mux(packet)
            if buf is None:
                raise ValueError("no frames to write")
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
    return path
