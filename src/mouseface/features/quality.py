"""Frame quality: motion, blur, exposure, duplicate and dropped frames, and occlusion.

Every flag is a boolean column; ``flag`` is their union. Flagged frames are kept in the traces
(with their flag) but must not enter prototypes.

==================  ==============================================================================
column              meaning
==================  ==============================================================================
``motion_energy``   mean absolute difference to the previous frame in the ROI (gray levels)
``blur``            variance of the Laplacian of the frame (lower = blurrier)
``blurry``          ``blur`` below ``blur_ratio`` times the session's median ``blur``
``dark``            more than ``max_fraction`` of the pixels at or below ``dark_level`` (5)
``saturated``       more than ``max_fraction`` of the pixels at or above ``saturated_level`` (250)
``duplicate``       identical to the previous frame (a repeated frame from the recorder)
``dropped``         the gap before this frame exceeds ``gap_factor`` (1.5) median intervals
``occlusion``       area of the largest region the neutral face cannot explain (fraction of ROI)
``hog_z``           robust z-score of the HOG distance to the animal's neutral face
``occluded``        ``occlusion > min_area`` and ``hog_z > min_z``
``large_shift``     drift beyond the threshold (when shifts are given; see registration)
``flag``            any of the boolean columns
==================  ==============================================================================

**Occlusion** (paws, grooming, a spout or an arm across the face) is a frame far from the
animal's own neutral face distribution in a way an expression is not. Two tests, both needed:

1. *Far from neutral*: ``hog_z``, the frame's HOG distance to the neutral prototype
   (``1 - r``, with the median of the baseline HOGs as prototype), as a robust z-score against
   the same distance for the baseline frames (median and MAD).
2. *Not expression-like*: an expression moves and reshapes parts that are already in the
   neutral face (an eye narrows, an ear folds back, the nose moves down): every pixel of an
   expressive frame finds a similar gray value *somewhere near it* in the neutral face. An
   occluder brings gray values that the neutral face has nowhere nearby. So each pixel is
   compared with the range ``[min, max]`` of the (smoothed, median) neutral face over a disc
   of ``radius`` pixels around it (grey-scale erosion and dilation); pixels beyond that range
   by more than ``novelty_k`` (8) noise standard deviations are *novel*, and ``occlusion`` is the
   area of the largest connected novel region. A global brightness offset is removed first.

On two synthetic experiments (grooming paws marked in the truth; 1254 and 501 occluded
frames among 17,400 and 32,800) this flags 98 % of the occluded frames and 0.01 % of the
others, strong expressions included (the defaults were chosen on these data; the unit test
checks a third, smaller one). On the real DER tail-shock crops it flags 0.1-0.3 % of baseline
frames and 26 % of the frames after a >= 300 uA shock, whose startle moves the body into the
head crop (``benchmarks/der_transfer.py``). The radius should be about the largest
distance a face part moves in an expression; the default is 7.5 % of the crop's shorter side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
import pandas as pd
from scipy import ndimage

__all__ = ["frame_metrics", "frame_measures", "crop_measures", "dropped_frames",
           "OcclusionReference", "occlusion_reference", "occlusion_area", "hog_distance",
           "distance_spread", "neutral_distances", "hog_outlier_z", "quality_table",
           "quality_flags", "session_quality", "CausalQuality", "MAX_FRACTION", "BLUR_RATIO",
           "GAP_FACTOR"]

FLAG_COLUMNS = ("blurry", "dark", "saturated", "duplicate", "dropped", "occluded",
                "large_shift")

#: Fraction of dark (saturated) pixels above which a frame is ``dark`` (``saturated``).
MAX_FRACTION = 0.25
#: A frame is ``blurry`` below this fraction of the session's (or calibration's) median blur.
BLUR_RATIO = 0.3
#: A frame is ``dropped`` after a gap longer than this many median frame intervals.
GAP_FACTOR = 1.5


def _batch(frames, name="frames") -> np.ndarray:
    a = np.asarray(frames)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3:
        raise ValueError(f"{name} must be a batch of grayscale frames (N, H, W); got shape "
                         f"{a.shape}")
    if a.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers; got dtype {a.dtype}")
    return a


def frame_metrics(
    frames: np.ndarray,
    previous: np.ndarray | None = None,
    *,
    dark_level: float = 5,
    saturated_level: float = 250,
) -> pd.DataFrame:
    """Per-frame pixel measures of one chunk of ROI crops.

    Parameters
    ----------
    frames : (N, H, W) array
        Consecutive ROI crops (gray levels 0-255).
    previous : (H, W) array, optional
        The frame before the first one (the last frame of the previous chunk), so that
        ``motion_energy`` and ``duplicate`` continue across chunks. Without it the first
        frame gets NaN motion and is not a duplicate.
    dark_level, saturated_level
        Gray levels at or below / at or above which a pixel counts as dark / saturated.

    Returns
    -------
    DataFrame
        ``motion_energy``, ``blur``, ``dark_fraction``, ``saturated_fraction`` (floats) and
        ``duplicate`` (bool), one row per frame.

    Examples
    --------
    >>> f = np.zeros((3, 8, 8), dtype=np.uint8); f[2] = 255
    >>> frame_metrics(f)[["motion_energy", "duplicate", "saturated_fraction"]].values.tolist()
    [[nan, False, 0.0], [0.0, True, 0.0], [255.0, False, 1.0]]
    """
    m = frame_measures(frames, previous, dark_level=dark_level, saturated_level=saturated_level)
    return pd.DataFrame({
        "motion_energy": m[:, 0],
        "blur": m[:, 1],
        "dark_fraction": m[:, 2],
        "saturated_fraction": m[:, 3],
        "duplicate": m[:, 4] > 0,
    })


def frame_measures(
    frames: np.ndarray,
    previous: np.ndarray | None = None,
    *,
    dark_level: float = 5,
    saturated_level: float = 250,
) -> np.ndarray:
    """:func:`frame_metrics` as a float32 array ``(N, 5)``, columns in its order (``duplicate``
    as 1 or 0): what the one pass and the live loop use per batch, with no table built."""
    f = _batch(frames)
    n = len(f)
    if f.dtype == np.uint8 and n and min(f.shape[1:]) >= 1:
        return crop_measures(f, (0, 0, f.shape[2], f.shape[1]), previous,
                             dark_level=dark_level, saturated_level=saturated_level)
    motion, blur, dark, saturated, duplicate = _metrics_numpy(f, previous, dark_level,
                                                              saturated_level)
    m = np.empty((n, 5), np.float32)
    m[:, 0] = np.asarray(motion, dtype=np.float32)
    m[:, 1] = np.asarray(blur, dtype=np.float32)
    m[:, 2] = np.asarray(dark, dtype=np.float32)
    m[:, 3] = np.asarray(saturated, dtype=np.float32)
    m[:, 4] = np.asarray(duplicate, dtype=bool)
    return m


def crop_measures(
    frames: np.ndarray,
    crop: tuple[int, int, int, int],
    previous: np.ndarray | None = None,
    *,
    dark_level: float = 5,
    saturated_level: float = 250,
) -> np.ndarray:
    """:func:`frame_measures` of the crop ``(x, y, w, h)`` of uint8 frames (N, H, W), read in
    place (no copy of the crops); ``previous`` is the crop of the frame before the first."""
    f = np.ascontiguousarray(frames)
    n = len(f)
    x0, y0, w, h = (int(v) for v in crop)
    prev = np.zeros((h, w), np.uint8) if previous is None else np.asarray(previous)
    if prev.shape != (h, w):
        raise ValueError(f"previous frame has shape {prev.shape}, frames {(h, w)}")
    out = np.empty((n, 5), np.float64)
    _measure_frames(f, y0, x0, h, w, np.ascontiguousarray(prev, dtype=np.uint8),
                    previous is not None, int(np.clip(np.floor(dark_level), -1, 255)),
                    int(np.clip(np.ceil(saturated_level), 0, 256)), out)
    m = np.empty((n, 5), np.float32)
    m[:, :4] = out[:, :4]
    m[:, 4] = out[:, 4] > 0
    return m


def _metrics_numpy(f: np.ndarray, previous, dark_level, saturated_level):
    """:func:`frame_metrics` for frames that are not uint8 (float or wider integers)."""
    n = len(f)
    x = f.astype(np.float64)
    if previous is not None:
        prev = np.asarray(previous, dtype=np.float64)
        if prev.shape != f.shape[1:]:
            raise ValueError(f"previous frame has shape {prev.shape}, frames {f.shape[1:]}")
        before = np.concatenate([prev[None], x[:-1]]) if n else x
        diff = np.abs(x - before)
        motion = diff.mean(axis=(1, 2)) if n else np.zeros(0)
        duplicate = diff.max(axis=(1, 2)) == 0 if n else np.zeros(0, bool)
    else:
        motion = np.full(n, np.nan)
        duplicate = np.zeros(n, dtype=bool)
        if n > 1:
            diff = np.abs(x[1:] - x[:-1])
            motion[1:] = diff.mean(axis=(1, 2))
            duplicate[1:] = diff.max(axis=(1, 2)) == 0
    lap = (x[:, :-2, 1:-1] + x[:, 2:, 1:-1] + x[:, 1:-1, :-2] + x[:, 1:-1, 2:]
           - 4 * x[:, 1:-1, 1:-1])
    blur = lap.reshape(n, -1).var(axis=1) if lap.size else np.full(n, np.nan)
    dark = (f <= dark_level).reshape(n, -1).mean(axis=1)
    saturated = (f >= saturated_level).reshape(n, -1).mean(axis=1)
    return motion, blur, dark, saturated, duplicate


@numba.njit(cache=True, nogil=True)
def _measure_frames(frames, y0, x0, h, w, prev, has_prev, dark, saturated,
                    out):  # pragma: no cover - numba
    """Motion, Laplacian variance, dark and saturated fractions and duplicate of the crops
    ``frames[:, y0:y0 + h, x0:x0 + w]``, one pass per frame over uint8 pixels with exact
    integer sums (so chunked and whole passes agree, whatever the order of the terms).

    ``out[i]`` = (motion_energy, blur, dark_fraction, saturated_fraction, duplicate); pixels
    ``<= dark`` are dark and ``>= saturated`` saturated (``dark`` in -1..255, ``saturated`` in
    0..256); ``prev`` is the crop before the first frame; without ``has_prev`` the first
    frame's motion is NaN. The sums gather per column over blocks of at most 256 rows
    (vectorised, in the narrowest integers that cannot overflow: uint16 for the differences
    and counts, int16 for the Laplacian, int32 for its column sums and squares), then over the
    columns into int64.
    """
    n = frames.shape[0]
    area = h * w
    inner = (h - 2) * (w - 2)
    dark8 = np.uint8(max(dark, 0))  # dark = -1: no pixel is dark (counted, then dropped)
    sat8 = np.uint8(min(saturated, 255))  # saturated = 256: none is saturated
    col_diff = np.empty(w, np.uint16)  # a block's |difference| sums: <= 256 * 255
    col_dark = np.empty(w, np.uint16)
    col_sat = np.empty(w, np.uint16)
    col_lap = np.empty(w, np.int32)
    col_lap2 = np.empty(w, np.int32)  # <= 256 * 1020 ** 2
    lap_row = np.empty(w, np.int16)  # |Laplacian| <= 4 * 255
    for i in range(n):
        diff = 0
        n_dark = 0
        n_sat = 0
        s1 = 0
        s2 = 0
        for r0 in range(0, h, 256):
            col_diff[:] = 0
            col_dark[:] = 0
            col_sat[:] = 0
            col_lap[:] = 0
            col_lap2[:] = 0
            for r in range(r0, min(r0 + 256, h)):
                # whole-row loops over 0-based views vectorise (no negative-index checks)
                fr = frames[i, y0 + r, x0:x0 + w]
                pr = frames[i - 1, y0 + r, x0:x0 + w] if i > 0 else prev[r]
                for c in range(w):
                    v = fr[c]
                    p = pr[c]
                    col_diff[c] += np.uint16(max(v, p) - min(v, p))
                    col_dark[c] += np.uint16(v <= dark8)
                    col_sat[c] += np.uint16(v >= sat8)
                if 0 < r < h - 1:
                    up = frames[i, y0 + r - 1, x0 + 1:x0 + w - 1]
                    down = frames[i, y0 + r + 1, x0 + 1:x0 + w - 1]
                    left = fr[:w - 2]
                    mid = fr[1:w - 1]
                    right = fr[2:]
                    lap = lap_row[:w - 2]  # the row's Laplacian first, vectorised
                    for c in range(w - 2):
                        lap[c] = (np.int16(up[c]) + np.int16(down[c]) + np.int16(left[c])
                                  + np.int16(right[c]) - np.int16(4) * np.int16(mid[c]))
                    c1 = col_lap[:w - 2]
                    c2 = col_lap2[:w - 2]
                    for c in range(w - 2):
                        v32 = np.int32(lap[c])
                        c1[c] += v32
                        c2[c] += v32 * v32
            for c in range(w):
                diff += np.int64(col_diff[c])
                n_dark += np.int64(col_dark[c])
                n_sat += np.int64(col_sat[c])
                s1 += np.int64(col_lap[c])
                s2 += np.int64(col_lap2[c])
        if dark < 0:
            n_dark = 0
        if saturated > 255:
            n_sat = 0
        if i == 0 and not has_prev:
            out[i, 0] = np.nan
            out[i, 4] = 0.0
        else:
            out[i, 0] = diff / area
            out[i, 4] = 1.0 if diff == 0 else 0.0  # no pixel changed
        if inner > 0:
            mean = s1 / inner
            out[i, 1] = s2 / inner - mean * mean
        else:
            out[i, 1] = np.nan
        out[i, 2] = n_dark / area
        out[i, 3] = n_sat / area


def dropped_frames(time: np.ndarray, gap_factor: float = GAP_FACTOR) -> np.ndarray:
    """True for frames that follow a gap longer than ``gap_factor`` median frame intervals.

    Examples
    --------
    >>> dropped_frames(np.array([0.0, 0.05, 0.1, 0.25, 0.3])).tolist()
    [False, False, False, True, False]
    """
    t = np.asarray(time, dtype=np.float64)
    out = np.zeros(len(t), dtype=bool)
    if len(t) < 3:
        return out
    dt = np.diff(t)
    med = np.median(dt)
    if med > 0:
        out[1:] = dt > gap_factor * med
    return out


@dataclass(frozen=True)
class OcclusionReference:
    """What :func:`occlusion_area` compares frames with, built from baseline frames.

    Attributes
    ----------
    low, high : (H, W) float32
        Minimum and maximum of the smoothed median neutral face over a disc of ``radius``.
    median : (H, W) float32
        The smoothed median neutral face.
    noise : float
        Robust standard deviation of smoothed baseline frames around ``median``.
    radius, sigma : float
        Disc radius and Gaussian smoothing (pixels).
    """

    low: np.ndarray
    high: np.ndarray
    median: np.ndarray
    noise: float
    radius: float
    sigma: float


def _disc(radius: float) -> np.ndarray:
    r = int(np.ceil(radius))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    return (yy ** 2 + xx ** 2) <= radius ** 2 + 1e-9


def occlusion_reference(
    baseline_frames: np.ndarray,
    *,
    radius: float | None = None,
    sigma: float = 1.5,
    min_noise: float = 2.0,
    max_frames: int = 400,
) -> OcclusionReference:
    """The neutral face's gray-value envelope for occlusion detection.

    Parameters
    ----------
    baseline_frames : (N, H, W) array
        Baseline (neutral) ROI crops of the session or animal. The median is used, so a few
        occluded baseline frames do no harm.
    radius
        How far (pixels) a face part may move in an expression; default 5 % of the crop's
        shorter side (12 px for a 160-px crop), at least 2.
    sigma
        Gaussian smoothing (pixels) applied to every frame first (sensor noise, whiskers).
    min_noise
        Floor of the noise estimate, in gray levels. Static, compressed real video can show
        almost no variation at rest once smoothed (the DER tiles: 0.5), which would make
        every small posture change novel; 2 gray levels is about what compression and
        flicker give anyway.
    max_frames
        At most this many baseline frames (evenly spaced) are used.

    Examples
    --------
    >>> ref = occlusion_reference(np.full((5, 32, 32), 100, np.uint8))
    >>> float(ref.high.max()), ref.radius
    (100.0, 2.0)
    """
    b = _batch(baseline_frames, "baseline_frames")
    if len(b) == 0:
        raise ValueError("no baseline frames: occlusion needs the animal's neutral face")
    if len(b) > max_frames:
        b = b[np.linspace(0, len(b) - 1, max_frames).round().astype(int)]
    h, w = b.shape[1:]
    r = float(radius) if radius is not None else max(2.0, round(0.075 * min(h, w)))
    sm = _smooth(b, sigma)
    med = np.median(sm, axis=0).astype(np.float32)
    dev = sm - med
    dev -= np.median(dev, axis=(1, 2), keepdims=True)
    noise = float(1.4826 * np.median(np.abs(dev)))
    fp = _disc(r)
    return OcclusionReference(
        low=ndimage.minimum_filter(med, footprint=fp, mode="nearest").astype(np.float32),
        high=ndimage.maximum_filter(med, footprint=fp, mode="nearest").astype(np.float32),
        median=med, noise=max(noise, float(min_noise)), radius=r, sigma=float(sigma))


def _smooth(frames: np.ndarray, sigma: float) -> np.ndarray:
    x = frames.astype(np.float32)
    if sigma > 0:
        x = ndimage.gaussian_filter(x, (0, sigma, sigma), mode="nearest")
    return x


def occlusion_area(
    frames: np.ndarray, reference: OcclusionReference, *, novelty_k: float = 8.0
) -> np.ndarray:
    """Area (fraction of the ROI) of the largest region the neutral face cannot explain.

    A pixel is *novel* when its smoothed gray value, after removing the frame's median offset
    from the neutral face, lies more than ``novelty_k * reference.noise`` outside the range
    the neutral face takes within ``reference.radius`` pixels of it. Regions are 4-connected.

    Examples
    --------
    >>> base = np.full((4, 40, 40), 60, np.uint8)
    >>> ref = occlusion_reference(base)
    >>> paw = base[:1].copy(); paw[0, 10:30, 15:25] = 220  # a bright object
    >>> float(occlusion_area(paw, ref)[0]) > 0.05
    True
    """
    f = _batch(frames)
    if f.shape[1:] != reference.median.shape:
        raise ValueError(f"frames are {f.shape[1:]} but the occlusion reference is "
                         f"{reference.median.shape}: use the same ROI")
    if len(f) == 0:
        return np.zeros(0)
    thr = novelty_k * reference.noise
    out = np.zeros(len(f))
    _occlusion_areas(np.ascontiguousarray(f), _gaussian_weights(reference.sigma),
                     np.ascontiguousarray(reference.median, np.float32),
                     np.ascontiguousarray(reference.high + thr, np.float32),
                     np.ascontiguousarray(reference.low - thr, np.float32), out)
    return out


def _gaussian_weights(sigma: float, truncate: float = 4.0) -> np.ndarray:
    """The weights of ``scipy.ndimage.gaussian_filter1d`` (``[1.0]`` for no smoothing)."""
    if not sigma > 0:
        return np.ones(1)
    x = np.arange(-int(truncate * sigma + 0.5), int(truncate * sigma + 0.5) + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    return (phi / phi.sum())[::-1].copy()


@numba.njit(cache=True, nogil=True)
def _occlusion_areas(frames, weights, median, high, low, out):  # pragma: no cover - numba
    """:func:`occlusion_area` frame by frame, with the arithmetic of SciPy and NumPy's steps.

    Gaussian smoothing as ``scipy.ndimage.gaussian_filter`` (float32 frames; each axis,
    rows first, in float64 from the outermost pair of taps in, edges repeated, rounded to
    float32), the median offset from the neutral face as ``np.median`` (the mean of the two
    middle float32 values, in float32), novel pixels beyond ``high`` / ``low`` (the envelope
    with the threshold added), and the largest 4-connected region of them (a flood fill).
    ``out[i]``: its area over the frame's.
    """
    n, h, w = frames.shape
    r = (len(weights) - 1) // 2
    x = np.empty((h, w), np.float32)
    sm = np.empty((h, w), np.float32)
    acc = np.empty(w, np.float64)
    line = np.empty(w + 2 * r, np.float64)
    dev = np.empty(h * w, np.float32)
    keys = np.empty(h * w, np.uint32)
    hist = np.empty(2048, np.int64)
    novel = np.zeros((h, w), np.uint8)
    stack = np.empty(h * w, np.int64)
    for i in range(n):
        for k in range(h):
            for c in range(w):
                x[k, c] = np.float32(frames[i, k, c])
        for k in range(h):  # along the rows' axis, whole rows at a time
            xk = x[k]
            for c in range(w):
                acc[c] = np.float64(xk[c]) * weights[r]
            for j in range(r, 0, -1):
                up = x[max(k - j, 0)]
                down = x[min(k + j, h - 1)]
                wj = weights[r - j]
                for c in range(w):
                    acc[c] += (np.float64(up[c]) + np.float64(down[c])) * wj
            sk = sm[k]
            for c in range(w):
                sk[c] = np.float32(acc[c])
        for k in range(h):  # along the columns' axis, from a copy padded with the edges
            sk = sm[k]
            for c in range(w):
                line[r + c] = sk[c]
            for c in range(r):
                line[c] = sk[0]
                line[r + w + c] = sk[w - 1]
            for c in range(w):  # each pixel's terms in the same order, whole rows at a time
                acc[c] = line[r + c] * weights[r]
            for j in range(r, 0, -1):
                left = line[r - j:r - j + w]
                right = line[r + j:r + j + w]
                wj = weights[r - j]
                for c in range(w):
                    acc[c] += (left[c] + right[c]) * wj
            for c in range(w):
                sk[c] = np.float32(acc[c])
        m = h * w
        n_nan = 0
        for k in range(h):
            dk = dev[k * w:(k + 1) * w]
            for c in range(w):
                dk[c] = sm[k, c] - median[k, c]
                n_nan += np.isnan(dk[c])
        if n_nan:
            out[i] = 0.0  # a NaN median: nothing is novel
            continue
        half = m // 2
        offset = _kth_smallest(dev, half, keys, hist)
        if m % 2 == 0:  # the largest value below the middle one
            offset = (_below(dev, offset, half) + offset) / np.float32(2.0)
        for k in range(h):
            for c in range(w):
                v = sm[k, c] - offset
                novel[k, c] = 1 if (v > high[k, c] or v < low[k, c]) else 0
        best = 0
        for k in range(h):
            for c in range(w):
                if not novel[k, c]:
                    continue
                novel[k, c] = 0
                stack[0] = k * w + c
                top = 1
                size = 0
                while top:
                    top -= 1
                    p = stack[top]
                    size += 1
                    y = p // w
                    xx = p - y * w
                    if y > 0 and novel[y - 1, xx]:
                        novel[y - 1, xx] = 0
                        stack[top] = p - w
                        top += 1
                    if y < h - 1 and novel[y + 1, xx]:
                        novel[y + 1, xx] = 0
                        stack[top] = p + w
                        top += 1
                    if xx > 0 and novel[y, xx - 1]:
                        novel[y, xx - 1] = 0
                        stack[top] = p - 1
                        top += 1
                    if xx < w - 1 and novel[y, xx + 1]:
                        novel[y, xx + 1] = 0
                        stack[top] = p + 1
                        top += 1
                best = max(best, size)
        out[i] = best / float(h * w)


@numba.njit(cache=True, nogil=True)
def _kth_smallest(values, k, keys, hist):  # pragma: no cover - numba
    """The ``k``-th smallest (0-based) of float32 ``values`` (no NaN), exactly: a radix
    select on the values' bits mapped to unsigned integers in the values' order (11, 11 and
    10 bits: count per digit, keep the digit's bin that holds rank ``k``). ``keys`` (uint32,
    as long as ``values``) and ``hist`` (at least 2048) are scratch."""
    bits = values.view(np.uint32)
    n = len(values)
    for t in range(n):  # negative values: all bits flipped; the others: the sign bit set
        u = bits[t]
        keys[t] = u ^ (np.uint32(0xFFFFFFFF) if u >> np.uint32(31) else np.uint32(0x80000000))
    for shift, width in ((21, 2047), (10, 2047), (0, 1023)):
        hist[:width + 1] = 0
        for t in range(n):
            hist[(keys[t] >> shift) & width] += 1
        digit = 0
        while hist[digit] <= k:
            k -= hist[digit]
            digit += 1
        kept = 0
        for t in range(n):  # the keys of that bin, in place (kept <= t)
            if ((keys[t] >> shift) & width) == digit:
                keys[kept] = keys[t]
                kept += 1
        n = kept
    u = keys[0]  # every key left is the k-th
    out = np.empty(1, np.uint32)
    out[0] = u ^ (np.uint32(0x80000000) if u >> np.uint32(31) else np.uint32(0xFFFFFFFF))
    return out.view(np.float32)[0]


@numba.njit(cache=True, nogil=True)
def _below(values, kth, k):  # pragma: no cover - numba
    """The ``k - 1``-th smallest of ``values`` given their ``k``-th smallest ``kth``: the
    largest value below it, or ``kth`` itself when fewer than ``k`` values are below it."""
    n_below = 0
    lower = -np.inf
    for t in range(len(values)):
        v = values[t]
        n_below += v < kth
        if v < kth and v > lower:
            lower = v
    return kth if n_below < k else np.float32(lower)


def hog_distance(hog_features: np.ndarray, neutral: np.ndarray) -> np.ndarray:
    """``1 - r`` (Pearson) between each frame's HOG and the neutral HOG; NaN for a flat frame.

    Examples
    --------
    >>> d = hog_distance(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]]), np.array([0.0, 1.0, 2.0]))
    >>> np.round(d, 6).tolist()
    [0.0, 2.0]
    """
    x = np.atleast_2d(np.asarray(hog_features, dtype=np.float64))
    p = np.asarray(neutral, dtype=np.float64).ravel()
    if x.shape[1] != p.size:
        raise ValueError(f"HOG length differs: frames {x.shape[1]}, neutral {p.size}")
    a = x - x.mean(axis=1, keepdims=True)
    p = p - p.mean()
    den = np.linalg.norm(a, axis=1) * np.linalg.norm(p)
    with np.errstate(invalid="ignore", divide="ignore"):
        return 1 - np.where(den > 0, a @ p / den, np.nan)


def distance_spread(distances: np.ndarray) -> tuple[float, float]:
    """Median and robust spread (MAD x 1.4826, floored) of baseline HOG distances."""
    d = np.asarray(distances, dtype=np.float64)
    if not np.isfinite(d).any():  # flat HOG everywhere (e.g. pure noise under L2-Hys)
        return float("nan"), float("nan")
    med = float(np.nanmedian(d))
    mad = 1.4826 * float(np.nanmedian(np.abs(d - med)))
    return med, max(mad, 1e-3 * max(med, 1e-6), 1e-9)


def neutral_distances(baseline_hog: np.ndarray) -> tuple[np.ndarray, float, float]:
    """The neutral HOG (median of the baseline frames' HOG) and the median and robust spread
    of the baseline frames' own distances to it: what :func:`hog_outlier_z` scores against."""
    b = np.atleast_2d(np.asarray(baseline_hog, dtype=np.float64))
    if len(b) == 0:
        raise ValueError("no baseline HOG frames: the z-score needs the neutral distribution")
    proto = np.median(b, axis=0)
    med, scale = distance_spread(hog_distance(b, proto))
    return proto, med, scale


def hog_outlier_z(hog_features: np.ndarray, baseline_hog: np.ndarray) -> np.ndarray:
    """Robust z-score of each frame's HOG distance to the neutral face.

    The distance is ``1 - r`` (Pearson) to the median of ``baseline_hog``; the z-score uses the
    median and MAD (x 1.4826) of the baseline frames' own distances.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> base = np.linspace(0, 1, 32) + 0.01 * rng.normal(size=(50, 32))
    >>> z = hog_outlier_z(np.vstack([base[:2], rng.random((1, 32))]), base)
    >>> bool(z[2] > 10 > abs(z[0]))
    True
    """
    x = np.atleast_2d(np.asarray(hog_features, dtype=np.float64))
    b = np.atleast_2d(np.asarray(baseline_hog, dtype=np.float64))
    if len(b) and x.shape[1] != b.shape[1]:
        raise ValueError(f"HOG length differs: frames {x.shape[1]}, baseline {b.shape[1]}")
    proto, med, scale = neutral_distances(b)
    return (hog_distance(x, proto) - med) / scale


def quality_table(
    metrics: pd.DataFrame,
    time: np.ndarray | None = None,
    *,
    occlusion: np.ndarray | None = None,
    hog_z: np.ndarray | None = None,
    large_shift: np.ndarray | None = None,
    max_fraction: float = MAX_FRACTION,
    blur_ratio: float = BLUR_RATIO,
    gap_factor: float = GAP_FACTOR,
    min_area: float = 0.025,
    min_z: float = 3.0,
) -> pd.DataFrame:
    """Turn a session's measures into the quality columns of ``frames.parquet``.

    Parameters
    ----------
    metrics : DataFrame
        :func:`frame_metrics` of all the session's frames (chunks concatenated).
    time : (N,) array, optional
        Frame times (seconds) for ``dropped``; without them ``dropped`` is False.
    occlusion, hog_z : (N,) arrays, optional
        :func:`occlusion_area` and :func:`hog_outlier_z`. A frame is ``occluded`` when both
        exceed their thresholds; with only one given, that one decides; with neither,
        ``occluded`` is False.
    large_shift : (N,) bool array, optional
        From :func:`mouseface.features.drift.drift_table`.
    max_fraction
        Fraction of dark (saturated) pixels above which a frame is ``dark`` (``saturated``).
    blur_ratio
        A frame is ``blurry`` when its ``blur`` is below this fraction of the session median.
        Startle and fast face movements blur frames too; keep this low.
    gap_factor, min_area, min_z
        Thresholds of ``dropped`` and ``occluded``.

    Returns
    -------
    DataFrame
        ``motion_energy``, ``blur``, ``occlusion``, ``hog_z`` and the boolean flags
        ``blurry``, ``dark``, ``saturated``, ``duplicate``, ``dropped``, ``occluded``,
        ``large_shift``, ``flag``.
    """
    m = metrics.reset_index(drop=True)
    n = len(m)
    out = pd.DataFrame({"motion_energy": m["motion_energy"].astype(np.float32),
                        "blur": m["blur"].astype(np.float32)})
    med_blur = float(np.nanmedian(m["blur"])) if n else np.nan
    out["blurry"] = (m["blur"] < blur_ratio * med_blur).to_numpy() if n else []
    out["dark"] = (m["dark_fraction"] > max_fraction).to_numpy()
    out["saturated"] = (m["saturated_fraction"] > max_fraction).to_numpy()
    out["duplicate"] = m["duplicate"].astype(bool).to_numpy()
    out["dropped"] = (dropped_frames(time, gap_factor) if time is not None
                      else np.zeros(n, dtype=bool))
    occ = None if occlusion is None else np.asarray(occlusion, dtype=np.float64)
    z = None if hog_z is None else np.asarray(hog_z, dtype=np.float64)
    for name, arr in (("occlusion", occ), ("hog_z", z), ("large_shift", large_shift),
                      ("time", time)):
        if arr is not None and len(arr) != n:
            raise ValueError(f"{name} has {len(arr)} values for {n} frames")
    out["occlusion"] = np.full(n, np.nan, np.float32) if occ is None else occ.astype(np.float32)
    out["hog_z"] = np.full(n, np.nan, np.float32) if z is None else z.astype(np.float32)
    occluded = np.ones(n, dtype=bool) if (occ is not None or z is not None) else np.zeros(n, bool)
    if occ is not None:
        occluded &= occ > min_area
    if z is not None:
        occluded &= z > min_z
    out["occluded"] = occluded
    out["large_shift"] = (np.zeros(n, dtype=bool) if large_shift is None
                          else np.asarray(large_shift, dtype=bool))
    out["flag"] = out[list(FLAG_COLUMNS)].any(axis=1)
    return out


def session_quality(
    measures: dict[str, np.ndarray],
    time: np.ndarray,
    baseline: np.ndarray,
    large_shift: np.ndarray | None = None,
    *,
    min_area: float = 0.025,
    min_z: float = 3.0,
) -> tuple[pd.DataFrame, tuple[float, float]]:
    """The quality columns of one session from the one pass's measures.

    The HOG outlier score is the distance to neutral against the spread of the session's own
    ``baseline`` frames (``run``, ``fit`` and ``score``: its baseline windows; ``live``: its
    calibration frames).

    Parameters
    ----------
    measures : dict of (N,) arrays
        ``motion_energy``, ``blur``, ``dark_fraction``, ``saturated_fraction``,
        ``duplicate``, ``occlusion`` and ``hog_distance`` per frame
        (:data:`mouseface.features.facepass.MEASURES`).
    time : (N,) array
        Frame times in seconds.
    baseline : (N,) bool array
        The frames whose distances to neutral give the spread.
    large_shift : (N,) bool array, optional
        From :func:`mouseface.features.drift.drift_table`.
    min_area, min_z
        Thresholds of ``occluded`` (see :func:`quality_table`).

    Returns
    -------
    table : DataFrame
        The columns of :func:`quality_table`.
    spread : (median, scale)
        Of the baseline frames' distances (NaN, NaN without any).
    """
    metrics = pd.DataFrame({k: measures[k] for k in ("motion_energy", "blur", "dark_fraction",
                                                     "saturated_fraction")})
    metrics["duplicate"] = measures["duplicate"] > 0
    d = measures["hog_distance"].astype(np.float64)
    base = np.asarray(baseline, bool) & np.isfinite(d)
    z = np.full(len(d), np.nan)
    spread = (np.nan, np.nan)
    if base.any():
        spread = distance_spread(d[base])
        z = (d - spread[0]) / spread[1]
    table = quality_table(metrics, time, occlusion=measures["occlusion"], hog_z=z,
                          large_shift=large_shift, min_area=min_area, min_z=min_z)
    return table, spread


@dataclass(frozen=True)
class CausalQuality:
    """The quality flags of frames judged as they arrive (``mouseface live``).

    Offline, ``blurry`` and ``dropped`` look at the whole session and the HOG outlier score at
    its baseline windows (:func:`session_quality`); a live frame cannot wait for the session,
    so each is judged against the calibration frames: their distance spread, their median blur
    and their median frame interval. The thresholds are :func:`quality_table`'s.

    Attributes
    ----------
    distance_median, distance_scale
        Spread of the calibration frames' HOG distances to neutral.
    blur
        Median blur of the calibration frames.
    interval
        Their median frame interval (seconds; 0: ``dropped`` is never set).
    min_area, min_z
        Thresholds of ``occluded``.
    """

    distance_median: float
    distance_scale: float
    blur: float
    interval: float
    min_area: float = 0.025
    min_z: float = 3.0
    max_fraction: float = MAX_FRACTION
    blur_ratio: float = BLUR_RATIO
    gap_factor: float = GAP_FACTOR

    def flags(self, measures: dict[str, float], time: float | None = None,
              previous_time: float | None = None) -> dict:
        """The quality columns of one frame from its measures (a dict by measure name);
        ``time`` and the previous frame's ``previous_time`` (seconds) give ``dropped``."""
        z = (measures["hog_distance"] - self.distance_median) / self.distance_scale
        occ = measures["occlusion"]
        dropped = False
        if time is not None and previous_time is not None and self.interval > 0:
            dropped = bool(time - previous_time > self.gap_factor * self.interval)
        return {"motion_energy": measures["motion_energy"], "blur": measures["blur"],
                "blurry": bool(measures["blur"] < self.blur_ratio * self.blur),
                "dark": bool(measures["dark_fraction"] > self.max_fraction),
                "saturated": bool(measures["saturated_fraction"] > self.max_fraction),
                "duplicate": bool(measures["duplicate"] > 0), "dropped": dropped,
                "occlusion": occ, "hog_z": z,
                "occluded": bool(occ > self.min_area and z > self.min_z)}


def quality_flags(
    frames: np.ndarray,
    time: np.ndarray,
    baseline_hog: np.ndarray | None = None,
    *,
    baseline: np.ndarray | None = None,
    hog_features: np.ndarray | None = None,
    hog_params: dict | None = None,
    shifts: np.ndarray | None = None,
    shift_threshold: float = 2.0,
    radius: float | None = None,
    novelty_k: float = 8.0,
    dark_level: float = 5,
    saturated_level: float = 250,
    **thresholds,
) -> pd.DataFrame:
    """All quality columns of one session's ROI crops held in memory.

    Parameters
    ----------
    frames : (N, H, W) array
        The session's ROI crops (after registration, when frames are registered).
    time : (N,) array
        Frame times in seconds.
    baseline_hog : (M, D) array, optional
        HOG of the animal's baseline (neutral) frames, for ``hog_z``; default the HOG of
        ``frames[baseline]``.
    baseline : (N,) bool array or index array, optional
        The session's baseline frames, for the occlusion reference (and ``baseline_hog``).
        Without it (and without ``baseline_hog``) nothing is flagged ``occluded``.
    hog_features : (N, D) array, optional
        HOG of ``frames``; computed with ``hog_params`` when needed and not given.
    hog_params : dict, optional
        Arguments of :func:`mouseface.hog` (use the run's HOG parameters).
    shifts : (N, 2) array, optional
        Drift displacements (registration); frames beyond ``shift_threshold`` px get
        ``large_shift``.
    radius, novelty_k
        See :func:`occlusion_reference` and :func:`occlusion_area`.
    dark_level, saturated_level
        See :func:`frame_metrics`.
    **thresholds
        Passed to :func:`quality_table` (``max_fraction``, ``blur_ratio``, ``gap_factor``,
        ``min_area``, ``min_z``).

    Returns
    -------
    DataFrame
        One row per frame; the columns of :func:`quality_table`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> yy, xx = np.mgrid[:32, :32]
    >>> face = 100 + 40 * np.sin(xx / 5) * np.cos(yy / 7)
    >>> frames = np.clip(face + rng.normal(0, 2, (40, 32, 32)), 0, 255).astype(np.uint8)
    >>> frames[30, 8:24, 8:24] = 250  # something bright covers the middle
    >>> q = quality_flags(frames, np.arange(40) / 20, baseline=np.arange(20),
    ...                   hog_params={"pixels_per_cell": (8, 8)})
    >>> q["occluded"].to_numpy().nonzero()[0].tolist()
    [30]
    """
    f = _batch(frames)
    n = len(f)
    time = np.asarray(time, dtype=np.float64)
    if len(time) != n:
        raise ValueError(f"got {len(time)} times for {n} frames")
    metrics = frame_metrics(f, dark_level=dark_level, saturated_level=saturated_level)
    base_idx = None
    if baseline is not None:
        base_idx = np.asarray(baseline)
        if base_idx.dtype == bool:
            if len(base_idx) != n:
                raise ValueError(f"baseline mask has {len(base_idx)} values for {n} frames")
            base_idx = np.flatnonzero(base_idx)
    occ = z = None
    if base_idx is not None and len(base_idx):
        occ = occlusion_area(f, occlusion_reference(f[base_idx], radius=radius),
                             novelty_k=novelty_k)
    if baseline_hog is not None or (base_idx is not None and len(base_idx)):
        if hog_features is None:
            from mouseface.features.hog import hog

            hog_features = hog(f, **(hog_params or {}))
        hog_features = np.asarray(hog_features).reshape(n, -1)
        b = (np.asarray(baseline_hog).reshape(len(baseline_hog), -1)
             if baseline_hog is not None else hog_features[base_idx])
        z = hog_outlier_z(hog_features, b)
    large = None
    if shifts is not None:
        s = np.asarray(shifts, dtype=np.float64).reshape(-1, 2)
        large = np.hypot(s[:, 0], s[:, 1]) > shift_threshold
    return quality_table(metrics, time, occlusion=occ, hog_z=z, large_shift=large,
                         **thresholds)
