"""A video as an array napari can show, whose frames are decoded only when looked at.

:class:`LazyVideo` has the ``shape``, ``dtype`` and ``ndim`` of a ``(n_frames, H, W)`` uint8
array and decodes on indexing: the frame asked for and its neighbours (a *chunk*) through the
project's reader (:func:`mouseface.io.video.open_video`), which seeks to the keyframe before the
chunk. A few decoded chunks are kept, least recently used first out, so scrubbing back and forth
near a frame decodes nothing again; nothing else of the file is ever read or held, however long
it is. ``numpy.asarray`` of the whole video is refused with a clear error rather than silently
decoding everything.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from mouseface.io.video import VideoReader, open_video

__all__ = ["LazyVideo"]

#: bytes of decoded frames per chunk (a chunk holds at least 4 and at most 64 frames)
_CHUNK_BYTES = 8 << 20


class LazyVideo:
    """Grayscale frames of one video, decoded on demand.

    Parameters
    ----------
    path
        A video file or a folder of image frames (see :func:`~mouseface.io.video.open_video`).
    fps
        Frame rate; needed for image folders.
    chunk_frames
        Frames decoded together around a requested one; default about 8 MiB of frames.
    cache_chunks
        Decoded chunks kept.

    Attributes
    ----------
    shape : tuple of int
        ``(n_frames, H, W)``; ``n_frames`` is the container's count.
    dtype : numpy.dtype
        uint8.
    reader : VideoReader
        The open reader (``reader.frames_out`` counts the frames decoded so far).

    Examples
    --------
    >>> video = LazyVideo("face.mp4")  # doctest: +SKIP
    >>> video[41].shape, video.reader.frames_out  # doctest: +SKIP
    ((700, 1400), 48)
    """

    ndim = 3

    def __init__(self, path: str | Path, *, fps: float | None = None,
                 chunk_frames: int | None = None, cache_chunks: int = 4):
        self.reader: VideoReader = open_video(path, fps=fps)
        h, w = self.reader.frame_shape
        self.shape = (int(self.reader.n_frames), int(h), int(w))
        self.dtype = np.dtype(np.uint8)
        self.chunk_frames = int(chunk_frames or min(64, max(4, _CHUNK_BYTES // (h * w))))
        self.cache_chunks = max(1, int(cache_chunks))
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._lock = threading.RLock()

    @property
    def path(self) -> Path:
        return self.reader.path

    @property
    def fps(self) -> float:
        return self.reader.fps

    def __len__(self) -> int:
        return self.shape[0]

    def __repr__(self) -> str:
        return f"LazyVideo({str(self.path)!r}, shape={self.shape})"

    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self.path.name}: LazyVideo decodes frames on demand; index it "
                        "(video[k]) instead of converting the whole video to an array")

    # ----------------------------------------------------------------- frames

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (H, W) uint8 (read-only view into the cache)."""
        n = self.shape[0]
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"frame {index} is outside the video's {n} frames")
        frames, _ = self._chunk(i // self.chunk_frames)
        return frames[i % self.chunk_frames]

    def time(self, index: int) -> float:
        """Seconds from the first frame to frame ``index``, from the container's timestamps."""
        i = int(index) % self.shape[0]
        _, times = self._chunk(i // self.chunk_frames)
        return float(times[i % self.chunk_frames])

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            at = next(j for j, k in enumerate(key) if k is Ellipsis)
            key = key[:at] + (slice(None),) * (3 - len(key) + 1) + key[at + 1:]
        if len(key) > 3:
            raise IndexError(f"too many indices for a 3-D video: {len(key)}")
        first, rest = key[0], key[1:]
        if isinstance(first, int | np.integer):
            return np.asarray(self.frame(int(first))[rest])
        n = self.shape[0]
        if isinstance(first, slice):
            index = range(*first.indices(n))
        else:
            index = np.arange(n)[np.asarray(first)].ravel().tolist()
        h, w = self.shape[1:]
        out = np.empty((len(index), h, w), np.uint8)
        for j, i in enumerate(index):
            out[j] = self.frame(i)
        return out[(slice(None), *rest)]

    def _chunk(self, c: int) -> tuple[np.ndarray, np.ndarray]:
        """Frames and times of chunk ``c``, decoded once and kept while recently used."""
        with self._lock:
            if c in self._cache:
                self._cache.move_to_end(c)
                return self._cache[c]
            size = self.chunk_frames
            start = c * size
            frames = np.zeros((size, *self.shape[1:]), np.uint8)
            times = start / self.fps + np.arange(size) / self.fps
            with contextlib.closing(self.reader.iter_chunks(size, start=start,
                                                            stop=start + size)) as chunks:
                for chunk in chunks:
                    k = chunk.index - start
                    frames[k], times[k] = chunk.frames, chunk.time
            # frames past a stream that ended early stay black: napari's slider keeps its range
            frames.setflags(write=False)
            self._cache[c] = (frames, times)
            while len(self._cache) > self.cache_chunks:
                self._cache.popitem(last=False)
            return frames, times

    def close(self) -> None:
        """Release the file and the cached frames."""
        with self._lock:
            self._cache.clear()
            self.reader.close()
