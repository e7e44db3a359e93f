"""Registration inside the pipeline: a session's reference face, its transform, the warp per chunk.

:mod:`mouseface.features.drift`, :mod:`~mouseface.features.warp` and
:mod:`~mouseface.features.similarity_fit` hold the image functions; this module decides what
they are applied to when features are extracted:

1. **Region.** A session is read at its ROI grown by ``margin`` pixels on every side (pixels
   beyond the frame repeat the edge), so that a moved or rotated crop still finds image
   content. Every session's region has the size ``(h + 2 margin, w + 2 margin)`` and holds the
   ROI at ``(margin, margin, w, h)``: regions of different sessions and animals compare
   directly.
2. **Reference face.** The mean of the session's baseline frames (the ``max_frames`` earliest;
   the first ``max_frames`` frames of the video when the session has no events), read in one
   short pass per video (:func:`reference_faces`).
3. **Transform.** A similarity transform (or a translation) from the reference face onto a
   template face: the animal's first session in ``run``, the mean face of the training
   sessions in ``fit`` (saved in the model), the model's template in ``score``
   (:func:`plan_alignments`).
4. **Per chunk** (:meth:`Alignment.apply`, called by the extraction pipeline): each frame's
   drift against the reference face by phase correlation, then one bilinear warp that undoes
   both drift and transform and cuts the ROI. The drift is saved in the feature store and
   becomes the ``shift_*`` and ``large_shift`` columns of ``frames.parquet``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from mouseface.features.drift import estimate_shifts
from mouseface.features.similarity_fit import (
    estimate_similarity_transform,
    mean_template,
    transform_summary,
)
from mouseface.features.warp import expand_roi, warp_frames
from mouseface.io.intervals import Intervals
from mouseface.io.tables import check_roi
from mouseface.io.video import VideoReader, open_video

if TYPE_CHECKING:
    from skimage.transform import SimilarityTransform

#: :func:`~mouseface.features.similarity_fit.transform_summary` of the identity (no transform:
#: scikit-image, whose transforms load SciPy's spatial module, is imported only for others).
IDENTITY_SUMMARY = {"rotation_deg": 0.0, "scale": 1.0, "dx": 0.0, "dy": 0.0}

__all__ = ["Alignment", "Baseline", "Region", "VideoInfo", "plan_alignments", "read_baselines",
           "reference_faces", "region_of"]

_Roi = tuple[int, int, int, int]

#: Baseline frames (the earliest) averaged into a session's reference face.
REFERENCE_FRAMES = 120
#: Bytes of baseline frames kept per session to calibrate the pass.
KEEP_BYTES = 8 << 20


@dataclass(frozen=True)
class Region:
    """Where a session's pixels are read: ``read`` (inside the frame) and the edge padding that
    completes it to ``(h + 2 margin, w + 2 margin)`` as ``((top, bottom), (left, right))``."""

    read: _Roi
    pad: tuple[tuple[int, int], tuple[int, int]]

    def complete(self, frames: np.ndarray) -> np.ndarray:
        """Frames read at ``read`` (N, h', w') padded to the full region (edges repeated, as
        ``np.pad(mode="edge")``, by slice copies: a live frame pays microseconds for it)."""
        (top, bottom), (left, right) = self.pad
        if not (top or bottom or left or right):
            return frames
        n, h, w = frames.shape
        out = np.empty((n, top + h + bottom, left + w + right), frames.dtype)
        rows = slice(top, top + h)
        out[:, rows, left:left + w] = frames
        out[:, rows, :left] = frames[:, :, :1]
        out[:, rows, left + w:] = frames[:, :, w - 1:]
        out[:, :top] = out[:, top:top + 1]
        out[:, top + h:] = out[:, top + h - 1:top + h]
        return out


def region_of(roi: _Roi, margin: int, frame_shape: tuple[int, int]) -> Region:
    """The region around ``roi`` (already checked) read for registration.

    Examples
    --------
    >>> region_of((5, 20, 80, 64), 12, (140, 233))
    Region(read=(0, 8, 97, 88), pad=((0, 0), (7, 0)))
    """
    x, y, w, h = roi
    read = expand_roi(roi, margin, frame_shape)
    rx, ry, rw, rh = read
    top, left = margin - (y - ry), margin - (x - rx)
    bottom = (h + 2 * margin) - rh - top
    right = (w + 2 * margin) - rw - left
    return Region(read, ((top, bottom), (left, right)))


@dataclass(frozen=True)
class Alignment:
    """How one session's frames are lined up before HOG.

    Attributes
    ----------
    margin
        Pixels read around the ROI.
    matrix
        3 x 3 similarity transform from the session's region onto the template's region
        (``SimilarityTransform.params``); None for the identity.
    reference
        The session's reference face over the region (float32), for drift; None: no drift
        correction.
    fill
        Masked pixels of the region (bool), set to ``fill_value`` in every frame before drift
        and warp, so that nothing inside a mask moves the face; None: no mask.
    fill_value
        The reference face's mean outside the mask.
    """

    margin: int
    matrix: np.ndarray | None = None
    reference: np.ndarray | None = None
    fill: np.ndarray | None = None
    fill_value: float = 0.0

    @property
    def drift(self) -> bool:
        return self.reference is not None

    def transform(self) -> SimilarityTransform | None:
        if self.matrix is None:
            return None
        from skimage.transform import SimilarityTransform

        return SimilarityTransform(matrix=self.matrix)

    def digest(self) -> str:
        """A short hash of everything that changes the features (part of the fingerprint)."""
        h = hashlib.blake2b(digest_size=12)
        h.update(str(int(self.margin)).encode())
        if self.matrix is not None:
            h.update(np.round(np.asarray(self.matrix, np.float64), 6).tobytes())
        if self.reference is not None:
            h.update(np.asarray(self.reference, np.float32).tobytes())
        if self.fill is not None:
            h.update(np.packbits(self.fill).tobytes() + str(self.fill_value).encode())
        return h.hexdigest()

    def meta(self, roi_shape: tuple[int, int]) -> dict:
        """What the feature store records about the alignment (JSON)."""
        h, w = roi_shape
        summary = IDENTITY_SUMMARY
        if self.matrix is not None:
            centre = (self.margin + (w - 1) / 2, self.margin + (h - 1) / 2)
            summary = transform_summary(self.transform(), centre)
        return {"margin": int(self.margin), "drift": self.drift,
                "matrix": None if self.matrix is None else np.asarray(self.matrix).tolist(),
                **summary}

    def apply(self, frames: np.ndarray, roi_shape: tuple[int, int]
              ) -> tuple[np.ndarray, np.ndarray | None]:
        """Registered ROI crops (N, h, w) uint8 of full-region frames, and their drift (N, 2)."""
        h, w = roi_shape
        if self.fill is not None:
            frames = frames.copy()
            frames[:, self.fill] = np.asarray(self.fill_value).astype(frames.dtype)
        shifts = None
        if self.drift:
            # faces are smooth at a few pixels: correlating ~100-150 px binned images costs a
            # fraction and stays within 0.3-0.4 px on synthetic faces of 184 and 424 px
            b = max(1, -(-min(frames.shape[1:]) // 150))
            shifts = estimate_shifts(frames, self.reference, bin=b)
        crops = warp_frames(frames, self.transform(), (self.margin, self.margin, w, h),
                                shifts=shifts)
        return crops, shifts


@dataclass
class Baseline:
    """A session's baseline frames, as the short pre-read gives them.

    Attributes
    ----------
    reference : (h + 2 margin, w + 2 margin) float32
        The reference face: the mean of the (at most ``max_frames`` earliest) baseline frames
        (120 by default: 4 s at 30 fps, enough for a mean face and a neutral HOG).
    frames : (k, h + 2 margin, w + 2 margin) uint8
        Some of those frames, evenly spaced (at most what ``keep_bytes`` allows): enough to
        calibrate the session's neutral HOG and occlusion reference.
    n_frames : int
        Frames averaged into the reference.
    """

    reference: np.ndarray
    frames: np.ndarray
    n_frames: int

    @classmethod
    def from_frames(cls, frames: np.ndarray, keep_bytes: int = KEEP_BYTES) -> Baseline:
        """The baseline of region frames ``(n, H, W)`` (the earliest ``REFERENCE_FRAMES`` of a
        session's baseline windows): their mean, and at most ``keep_bytes`` of them (at least
        16) evenly spaced. :func:`read_baselines` and ``mouseface live`` both build it here."""
        frames = np.asarray(frames)
        n = len(frames)
        reference = (frames.sum(axis=0, dtype=np.float64) / n).astype(np.float32)
        room = max(16, keep_bytes // max(frames[0].nbytes, 1))
        if n > room:
            frames = frames[np.linspace(0, n - 1, room).round().astype(int)]
        return cls(reference, np.ascontiguousarray(frames), n)


@dataclass(frozen=True)
class VideoInfo:
    """What opening a video told: its fingerprint, frame size, rate and frame count (with how
    far that count may be off: :attr:`~mouseface.io.video.VideoReader.count_tolerance`), and
    the frames the pre-read decoded; and the pre-read's reader when it was kept open for the
    pass (its owner closes it)."""

    fingerprint: str
    frame_shape: tuple[int, int]
    fps: float
    n_frames: int
    frames_decoded: int = 0
    reader: VideoReader | None = field(default=None, compare=False, repr=False)
    count_tolerance: int = 0

    def as_tuple(self) -> tuple[str, tuple[int, int], float, int]:
        return self.fingerprint, self.frame_shape, self.fps, self.n_frames


def read_baselines(
    video: str | Path,
    rois: Sequence[_Roi | None],
    windows: Sequence[np.ndarray | None],
    *,
    margin: int,
    fps: float | None = None,
    max_frames: int = REFERENCE_FRAMES,
    keep_bytes: int = KEEP_BYTES,
    check: Callable[[VideoInfo], None] | None = None,
    keep_open: bool = False,
    threads: int | None = None,
) -> tuple[list[Baseline], VideoInfo]:
    """The baseline frames of each session of one video, in one short pre-read.

    Only the frames of the sessions' earliest baseline windows are decoded (at most
    ``max_frames`` per session): the reader seeks to each stretch of windows, or reads through
    a gap when that costs no more than a seek (from the keyframe before the next window).

    Parameters
    ----------
    video, fps
        The video of the sessions.
    rois
        Each session's ROI (None: the whole frame).
    windows
        Each session's baseline windows, (k, 2) arrays of ``[start, stop)`` in seconds; None or
        empty: the first ``max_frames`` frames.
    margin
        Pixels around the ROI (see :func:`region_of`).
    max_frames
        Frames averaged into each reference face.
    keep_bytes
        Bytes of frames kept per session for calibration (at least 16 frames).
    check
        Called with the video's :class:`VideoInfo` once it is open, before any frame is
        decoded (to stop early on events or ROIs that do not fit the video).
    keep_open
        Hand the open reader on in ``VideoInfo.reader`` (the pass decodes from it instead of
        opening the video again); the caller closes it.
    threads
        The reader's decoder threads (see :func:`~mouseface.io.video.open_video`).

    Returns
    -------
    list of Baseline, VideoInfo

    Raises
    ------
    ValueError
        When no frame of the video falls in a session's baseline windows.
    """
    wins = [np.empty((0, 2)) if w is None else np.asarray(w, dtype=np.float64).reshape(-1, 2)
            for w in windows]
    reader = open_video(video, fps=fps, threads=threads)
    try:
        shape = reader.frame_shape
        rate, n_total = reader.fps, reader.n_frames
        if check is not None:
            check(VideoInfo(reader.fingerprint(), shape, rate, n_total,
                            count_tolerance=reader.count_tolerance))
        regions = [region_of(check_roi(r, shape, reader.path), margin, shape) for r in rois]
        chosen = [_earliest(w, max_frames, rate) for w in wins]
        spans = _spans(chosen, max_frames, rate, reader.lead_in)
        counts = [0] * len(regions)
        kept: list[list[np.ndarray]] = [[] for _ in regions]
        for lo, hi in spans:
            crops = reader.iter_crops([r.read for r in regions], chunk_size=64, start=lo,
                                      stop=hi)
            try:
                for c in crops:
                    for k, frames in enumerate(c.frames):
                        room = max_frames - counts[k]
                        if room <= 0:
                            continue
                        w = chosen[k]
                        if len(w):  # to 1 ns: container times are rounded
                            sel = Intervals(w[:, 0] - 1e-9, w[:, 1] - 1e-9).restrict(c.time)
                        else:
                            sel = c.index < max_frames
                        idx = np.flatnonzero(sel)[:room]
                        if len(idx):
                            full = regions[k].complete(frames[idx])
                            counts[k] += len(idx)
                            kept[k].append(full)
            finally:
                crops.close()
        if any(n == 0 for n in counts):
            k = counts.index(0)
            raise ValueError(f"{video}: no frame falls in the baseline windows of ROI "
                             f"{rois[k]}: no reference face")
        info = VideoInfo(reader.fingerprint(), shape, rate, reader.n_frames, reader.frames_out,
                         reader if keep_open else None, reader.count_tolerance)
    except BaseException:
        reader.close()
        raise
    if not keep_open:
        reader.close()
    return [Baseline.from_frames(np.concatenate(parts), keep_bytes) for parts in kept], info


def _earliest(windows: np.ndarray, max_frames: int, fps: float) -> np.ndarray:
    """The earliest windows that hold about ``max_frames`` frames (sorted, clipped at 0)."""
    if not len(windows):
        return windows
    w = windows[np.argsort(windows[:, 0], kind="stable")].copy()
    w[:, 0] = np.maximum(w[:, 0], 0.0)
    w = w[w[:, 1] > w[:, 0]]
    frames = np.cumsum((w[:, 1] - w[:, 0]) * fps)
    return w[: int(np.searchsorted(frames, max_frames)) + 1]


def _spans(chosen, max_frames: int, fps: float, lead_in: Callable[[int], int]) -> list[tuple]:
    """Frame ranges ``[lo, hi)`` to decode for the chosen windows of every session (a window's
    edges widened by two frames: container times are not exactly ``index / fps``), merged
    when decoding through the gap costs no more than seeking (``lead_in(frame)``: frames
    decoded from the keyframe before it)."""
    spans = []
    for w in chosen:
        if not len(w):
            spans.append((0, max_frames))
        for a, b in w:
            spans.append((max(0, int(np.floor(a * fps)) - 2), int(np.ceil(b * fps)) + 2))
    spans.sort()
    merged: list[list[int]] = []
    for lo, hi in spans:
        if merged and lo - merged[-1][1] <= lead_in(lo):
            merged[-1][1] = max(merged[-1][1], hi)
        else:
            merged.append([lo, hi])
    return [(lo, hi) for lo, hi in merged]


def reference_faces(
    video: str | Path,
    rois: Sequence[_Roi | None],
    windows: Sequence[np.ndarray | None],
    *,
    margin: int,
    fps: float | None = None,
    max_frames: int = 200,
    chunk_size: int = 256,
) -> list[np.ndarray]:
    """The reference face of each session of one video (see :func:`read_baselines`).

    Returns
    -------
    list of (h + 2 margin, w + 2 margin) float32 arrays
    """
    baselines, _ = read_baselines(video, rois, windows, margin=margin, fps=fps,
                                  max_frames=max_frames, keep_bytes=0)
    return [b.reference for b in baselines]


def plan_alignments(
    references: dict[str, np.ndarray],
    templates: dict[str, np.ndarray | None],
    *,
    margin: int,
    align: str = "translation",
    drift: bool = True,
    masks: dict[str, np.ndarray] | None = None,
) -> dict[str, Alignment]:
    """Each session's :class:`Alignment`: its transform onto its template, its drift reference.

    ``templates[s]`` None means session ``s`` is its own template (identity transform).
    ``masks[s]`` (region-size bool) are the session's masked pixels; give references and
    templates already filled (:func:`fill_masked`).
    """
    kw = {"rotation": align == "similarity", "scale": align == "similarity"}
    masks = masks or {}
    out = {}
    for s, ref in references.items():
        template = templates.get(s)
        matrix = None
        if align != "none" and template is not None:
            if template.shape != ref.shape:
                raise ValueError(f"session {s}: its region {ref.shape} differs from the "
                                 f"template's {template.shape}: use ROIs of one size")
            matrix = estimate_similarity_transform(ref, template, **kw).params
        fill = masks.get(s)
        if fill is not None and not fill.any():
            fill = None
        value = 0.0 if fill is None else fill_value(ref, fill)
        out[s] = Alignment(margin, matrix, ref if drift else None, fill, value)
    return out


def fill_value(face: np.ndarray, mask: np.ndarray) -> float:
    """What masked pixels become: the face's rounded mean outside the mask."""
    return float(np.round(face[~mask].mean())) if (~mask).any() else 0.0


def fill_masked(face: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """A reference face with its masked pixels set to its (rounded) mean outside the mask, the
    value :class:`Alignment` gives those pixels in every frame."""
    if mask is None or not mask.any() or mask.all():
        return face
    out = face.copy()
    out[mask] = fill_value(face, mask)
    return out


def template_face(references: Sequence[np.ndarray], align: str = "translation") -> np.ndarray:
    """The mean of several reference faces registered onto the first (a template for a model)."""
    refs = list(references)
    if len(refs) == 1 or align == "none":
        return np.mean(refs, axis=0).astype(np.float32)
    kw = {"rotation": align == "similarity", "scale": align == "similarity"}
    template, _ = mean_template(refs, **kw)
    return template
