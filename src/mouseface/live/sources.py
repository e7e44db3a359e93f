"""Where live frames come from, and the hand-off that never lets them queue into lag.

Sources (:func:`open_source`):

- a **camera**: a V4L2 device (``/dev/video0``) read through PyAV's ``v4l2`` input. Its
  settings go to FFmpeg as options, e.g. ``{"video_size": "640x480", "framerate": "100",
  "input_format": "mjpeg"}`` (``v4l2-ctl --list-formats-ext`` lists what a camera offers).
  Other systems name their camera input with ``format`` (``avfoundation``, ``dshow``).
- a **stream**: any URL PyAV opens (``rtsp://``, ``udp://``, ``tcp://``, ``http://``...), or a
  named pipe another program writes video into.
- a **file**: replayed as fast as possible (every frame, in order: a session re-analysed exactly
  as it would have run live) or, with ``replay=True``, at its own frame rate, as a camera would
  deliver it.

Hand-off. A grabber thread (:class:`Grabber`) reads the source and puts each frame into a
:class:`LatestFrame`, a one-frame slot: a new frame replaces one the processor has not taken yet,
and the replaced frame is counted as skipped. Whatever the processor's pace, it always takes the
newest frame, so it can fall behind by at most one frame: latency stays bounded and nothing
queues. Fast file replay is the exception: there the grabber waits for the processor
(``wait=True``), so every frame is processed.

Clocks. Every frame carries its ``arrival`` (when the grabber handed it over) and its ``capture``
time on the clock the session stamps samples with (LSL's ``local_clock``; on Linux that is
``CLOCK_MONOTONIC``, the same as ``time.monotonic``). Files: the arrival of the first frame plus
the frame's own time in the video. Cameras: the device's timestamp when it is on the session's
clock or on the wall clock (FFmpeg's V4L2 input gives one or the other), else the arrival.
Streams: the arrival.
"""

from __future__ import annotations

import os
import stat
import threading
import time as _time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mouseface._errors import InputError
from mouseface.io.video import frame_luma, open_video

__all__ = ["Frame", "Grabber", "LatestFrame", "Source", "SourceEnded", "SourceStalled",
           "capture_time", "open_source"]


@dataclass(frozen=True)
class Frame:
    """One frame handed from the grabber to the processor.

    Attributes
    ----------
    index
        Frame number from the source's first frame.
    time
        Seconds from the source's first frame (the source's own clock).
    capture
        When the frame was captured, on the session clock (seconds).
    arrival
        When the grabber handed it over, on the session clock.
    image
        The full frame, (H, W) uint8 gray.
    """

    index: int
    time: float
    capture: float
    arrival: float
    image: np.ndarray


class SourceEnded(Exception):
    """The source has no more frames (``reason`` says why)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class SourceStalled(Exception):
    """No frame arrived within the stall timeout."""


class LatestFrame:
    """A one-frame slot between a grabber thread and the processor.

    ``put`` replaces a frame not yet taken (counted in ``skipped``); with ``wait=True`` it
    waits for the slot to be empty instead (nothing is skipped). ``take`` returns the newest
    frame and how many were skipped since the previous ``take``.
    """

    def __init__(self, *, wait: bool = False):
        self.wait = wait
        self._cond = threading.Condition()
        self._item: Frame | None = None
        self._skipped = 0
        self._end: BaseException | None = None
        self._closed = False

    def put(self, item: Frame) -> bool:
        """Hand over a frame; False once the processor has closed the slot."""
        with self._cond:
            if self.wait:
                while self._item is not None and not self._closed:
                    self._cond.wait(0.1)
            if self._closed:
                return False
            if self._item is not None:
                self._skipped += 1
            self._item = item
            self._cond.notify_all()
            return True

    def end(self, error: BaseException) -> None:
        """The grabber is done: ``take`` raises ``error`` once the last frame is taken."""
        with self._cond:
            self._end = error
            self._cond.notify_all()

    def take(self, timeout: float | None = None) -> tuple[Frame, int]:
        """The newest frame and the frames skipped before it.

        Raises :class:`SourceStalled` after ``timeout`` seconds without a frame, or what the
        grabber ended with (:class:`SourceEnded`, or its error) once no frame is left.
        """
        with self._cond:
            deadline = None if timeout is None else _time.monotonic() + timeout
            while self._item is None:
                if self._end is not None:
                    raise self._end
                left = None if deadline is None else deadline - _time.monotonic()
                if left is not None and left <= 0:
                    raise SourceStalled()
                self._cond.wait(left)
            item, skipped = self._item, self._skipped
            self._item, self._skipped = None, 0
            self._cond.notify_all()
            return item, skipped

    def close(self) -> int:
        """Stop accepting frames; returns the frames left untaken (skipped)."""
        with self._cond:
            self._closed = True
            left = self._skipped + (self._item is not None)
            self._item, self._skipped = None, 0
            self._cond.notify_all()
            return left


def capture_time(device_time: float | None, arrival: float, wall: float) -> float:
    """A camera frame's capture time on the session clock.

    ``device_time`` (seconds) is the frame's timestamp from the device: FFmpeg's V4L2 input
    gives the kernel's timestamp, on the monotonic clock or converted to the wall clock.
    ``arrival`` is the session clock and ``wall`` the wall clock (``time.time()``) when the
    frame arrived. A timestamp within 10 s before arrival on either clock is used; anything
    else (no timestamp, another clock) gives the arrival.

    Examples
    --------
    >>> capture_time(99.98, arrival=100.0, wall=1.7e9)  # the session's clock
    99.98
    >>> round(capture_time(1.7e9 - 0.03, arrival=100.0, wall=1.7e9), 3)  # the wall clock
    99.97
    >>> capture_time(None, arrival=100.0, wall=1.7e9)
    100.0
    """
    if device_time is None:
        return arrival
    for clock_now, offset in ((arrival, 0.0), (wall, arrival - wall)):
        age = clock_now - device_time
        if -0.01 <= age <= 10.0:
            return device_time + offset
    return arrival


class Source:
    """A source of frames (see the module notes); iterate :meth:`frames` in one thread.

    Attributes
    ----------
    name
        What to call it (the file's stem, the device's name, the URL's last part).
    kind
        ``"file"``, ``"camera"`` or ``"stream"``.
    frame_shape
        ``(H, W)`` of its frames.
    fps
        Its frame rate, when known (None otherwise).
    pace
        Frames are released at their own times (file replay at its own rate).
    wait
        The grabber waits for the processor (fast file replay: nothing skipped).
    """

    name: str
    kind: str
    path: str
    frame_shape: tuple[int, int]
    fps: float | None
    pace: bool = False
    wait: bool = False

    def frames(self) -> Iterator[tuple[int, float, np.ndarray, float | None]]:
        """``(index, time, image, device_time)`` per frame; ``device_time`` in seconds on the
        device's clock, or None."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the source (called from the thread that iterates it)."""

    def describe(self) -> dict:
        return {"source": self.path, "kind": self.kind, "fps": self.fps,
                "frame_shape": list(self.frame_shape),
                "replay": "own rate" if self.pace else ("fast" if self.wait else None)}


class FileSource(Source):
    """A video file (or image folder) read with :func:`~mouseface.io.video.open_video`: the
    same frames and times as the offline pipeline."""

    kind = "file"

    def __init__(self, path: str | Path, *, replay: bool = False, fps: float | None = None):
        self.path = str(path)
        self.name = Path(path).stem
        self._reader = open_video(path, fps=fps)
        self.frame_shape = tuple(self._reader.frame_shape)
        self.fps = self._reader.fps
        self.n_frames = self._reader.n_frames
        self.pace = bool(replay)
        self.wait = not replay

    def frames(self):
        try:
            for c in self._reader.iter_chunks(chunk_size=8):
                for k in range(len(c.index)):
                    yield int(c.index[k]), float(c.time[k]), c.frames[k], None
        finally:
            self.close()

    def close(self) -> None:
        self._reader.close()


class AVSource(Source):
    """A camera or a stream opened with PyAV (decoded as it arrives, never sought)."""

    def __init__(self, url: str, *, kind: str, format: str | None = None,
                 options: dict | None = None, timeout: float = 10.0):
        import av

        self.path = url
        self.kind = kind
        self.name = Path(url.rstrip("/")).name.split("?")[0] or kind
        try:
            self._container = av.open(url, format=format, options=dict(options or {}),
                                      timeout=(timeout, timeout))
        except av.error.FFmpegError as exc:
            what = "the camera" if kind == "camera" else "the stream"
            raise InputError(f"cannot open {what} ({_ffmpeg_message(exc)})", url) from None
        try:
            if not self._container.streams.video:
                raise InputError("no video stream at this source", url)
            self._stream = self._container.streams.video[0]
            rate = self._stream.average_rate or self._stream.guessed_rate
            self.fps = float(rate) if rate else None
            self._tb = self._stream.time_base
            self._decoded = self._decode()
            self._first = next(self._decoded, None)
        except InputError:
            self._container.close()
            raise
        except av.error.FFmpegError as exc:
            self._container.close()
            raise InputError(f"cannot read the {kind} ({_ffmpeg_message(exc)})", url) from None
        if self._first is None:
            self._container.close()
            raise InputError(f"the {kind} gave no frame", url)
        self.frame_shape = (self._first.height, self._first.width)

    def _decode(self):
        for packet in self._container.demux(self._stream):
            yield from packet.decode()

    def frames(self):
        import av

        first_pts = self._first.pts
        first_arrival = None
        frame, i = self._first, 0
        try:
            while frame is not None:
                pts = frame.pts
                device = None if (pts is None or self._tb is None) else float(pts * self._tb)
                if first_pts is not None and pts is not None and self._tb is not None:
                    t = float((pts - first_pts) * self._tb)
                else:  # no timestamps: the arrival clock
                    now = _time.monotonic()
                    first_arrival = now if first_arrival is None else first_arrival
                    t = now - first_arrival
                yield i, t, frame_luma(frame), device
                i += 1
                try:
                    frame = next(self._decoded, None)
                except av.error.FFmpegError as exc:
                    raise InputError(f"the {self.kind} failed after {i} frames "
                                     f"({_ffmpeg_message(exc)})", self.path) from None
        finally:
            self.close()

    def close(self) -> None:
        self._container.close()


def _ffmpeg_message(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).splitlines()[0] if text else type(exc).__name__


def open_source(
    source: str | Path,
    *,
    replay: bool = False,
    fps: float | None = None,
    format: str | None = None,
    options: dict | None = None,
    timeout: float = 10.0,
) -> Source:
    """Open a camera, a stream or a video file as a live source.

    Parameters
    ----------
    source
        ``/dev/videoN`` (a V4L2 camera), a URL PyAV opens, a named pipe, or a video file.
    replay
        Files only: deliver frames at the video's own rate (as a camera would) instead of as
        fast as possible.
    fps
        Files only: override the container's frame rate (as in the sessions table).
    format
        FFmpeg's input format (default ``v4l2`` for ``/dev/video*``, else detected).
    options
        FFmpeg options of the input, e.g. ``{"video_size": "640x480", "framerate": "100"}``.
    timeout
        Seconds to wait for a camera or stream to open.

    Raises
    ------
    InputError
        No camera at the path, a file that is missing or not a video, a stream that cannot be
        opened or gives no frame: one line naming the source.
    """
    text = str(source)
    path = Path(text)
    if "://" in text and not text.startswith("file://"):
        return AVSource(text, kind="stream", format=format, options=options, timeout=timeout)
    is_device = text.startswith("/dev/")
    if is_device and not path.exists():
        raise InputError("no camera at this path (no such device; `ls /dev/video*` or "
                         "`v4l2-ctl --list-devices` lists the cameras)", text)
    if path.exists():
        mode = os.stat(path).st_mode
        if stat.S_ISCHR(mode):
            return AVSource(text, kind="camera", format=format or "v4l2", options=options,
                            timeout=timeout)
        if stat.S_ISFIFO(mode):
            return AVSource(text, kind="stream", format=format, options=options,
                            timeout=timeout)
    return FileSource(path, replay=replay, fps=fps)


class Grabber:
    """Reads a source in a thread and hands frames over through a :class:`LatestFrame`.

    Parameters
    ----------
    source
        The source; iterated, and closed, in the grabber's thread only.
    slot
        Where frames go.
    clock
        The session clock (seconds), e.g. ``pylsl.local_clock``.
    """

    def __init__(self, source: Source, slot: LatestFrame, clock: Callable[[], float]):
        self.source = source
        self.slot = slot
        self.clock = clock
        self.delivered = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="mouseface-grab", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> int:
        """Ask the thread to stop; wait up to ``timeout`` s (a read blocked in the source may
        outlive it; the thread is a daemon and closes the source itself). Returns the frames
        left in the slot, untaken."""
        self._stop.set()
        left = self.slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return left

    def _run(self) -> None:
        src = self.source
        t0 = None
        start = None
        frames = src.frames()
        try:
            for index, t, image, device in frames:
                if self._stop.is_set():
                    return
                if src.pace:
                    if start is None:
                        start = _time.monotonic() - t
                    delay = start + t - _time.monotonic()
                    if delay > 0 and self._stop.wait(delay):
                        return
                arrival = self.clock()
                if src.kind == "file":
                    t0 = arrival - t if t0 is None else t0
                    capture = t0 + t
                elif src.kind == "camera":
                    capture = capture_time(device, arrival, _time.time())
                else:
                    capture = arrival
                if not self.slot.put(Frame(index, t, capture, arrival, image)):
                    return
                self.delivered += 1
            what = "end of file" if src.kind == "file" else f"the {src.kind} ended"
            self.slot.end(SourceEnded(what))
        except BaseException as exc:  # handed to the processor, raised there
            self.slot.end(exc)
        finally:
            frames.close()  # the source is closed in this thread, never under a pending read
