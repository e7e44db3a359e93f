"""Signals before a test: high-pass filtering, calcium kernels, lagged regressors, residuals.

Everything here works on (rows, frames) arrays that may hold several sessions back to back
(``segments``: the number of frames of each); filters never cross from one session into the
next. NaN frames are left out of every fit and stay NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import fft as sfft
from scipy import signal

from mouseface._errors import InputError

#: sigma of the Gaussian low-pass, in units of the cutoff period, whose gain there is 1/2
HALF_GAIN_SIGMA = math.sqrt(2.0 * math.log(2.0)) / (2.0 * math.pi)

#: time constants (s) of the causal exponential filters of :func:`lag_basis` (0: the signal)
LAG_TAUS = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
#: time constant (s) of its one anticipatory (anti-causal) filter
LEAD_TAU = 0.5


def segment_bounds(segments: Sequence[int] | None, n_frames: int) -> list[tuple[int, int]]:
    """``[(start, stop), …]`` of each segment; one segment of every frame when ``None``.

    Examples
    --------
    >>> segment_bounds([3, 2], 5)
    [(0, 3), (3, 5)]
    """
    if segments is None:
        return [(0, n_frames)]
    lengths = [int(s) for s in segments]
    if any(s < 1 for s in lengths) or sum(lengths) != n_frames:
        raise InputError(f"segment lengths {lengths} must be positive and sum to the "
                         f"{n_frames} frames")
    edges = np.concatenate([[0], np.cumsum(lengths)])
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def gaussian_lowpass(x: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing of each row (sigma in frames), edges reflected, by FFT.

    The same as :func:`scipy.ndimage.gaussian_filter1d` with ``mode="reflect"`` away from
    the ends of rows shorter than 4 sigma, in O(T log T) whatever sigma (a direct convolution
    with a 60-s cutoff at 30 Hz would take 2 700 taps per frame).
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64))
    n = x.shape[1]
    pad = int(min(math.ceil(4 * sigma), n - 1))
    padded = np.pad(x, ((0, 0), (pad, pad)), mode="symmetric") if pad > 0 else x
    size = sfft.next_fast_len(padded.shape[1], real=True)
    gain = np.exp(-2.0 * (math.pi * sigma * sfft.rfftfreq(size)) ** 2)
    out = sfft.irfft(sfft.rfft(padded, n=size, axis=1) * gain, n=size, axis=1)
    return out[:, pad:pad + n]


def highpass(x: np.ndarray, fs: float, cutoff: float, *,
             segments: Sequence[int] | None = None) -> np.ndarray:
    """Remove what is slower than ``cutoff`` seconds from each row, session by session.

    Each row (and each segment of it) loses its least-squares straight line, then a Gaussian
    low-pass of itself with sigma ``HALF_GAIN_SIGMA · cutoff`` seconds (0.187 × the cutoff
    period), computed over valid frames only (normalised convolution, edges reflected). The
    amplitude gain is ``1 − exp(−(2π f σ)² / 2)``: 0.5 at the cutoff frequency 1/``cutoff``,
    0.94 at twice it, above 0.9999 at four times it, 0.16 at half of it; bleaching, trends and
    baseline wander slower than the cutoff go.

    Parameters
    ----------
    x
        (rows, frames); NaN frames are ignored and stay NaN.
    fs
        Sampling rate (Hz).
    cutoff
        Period (s) at which the amplitude gain is one half.
    segments
        Frames of each session when ``x`` holds several back to back.

    Returns
    -------
    ndarray
        (rows, frames), float32 for float32 input, else float64.

    Examples
    --------
    >>> t = np.arange(6000) / 10.0
    >>> x = np.vstack([np.sin(2 * np.pi * t / 5.0) + 0.01 * t])  # 5 s rhythm on a trend
    >>> y = highpass(x, 10.0, 60.0)
    >>> bool(abs(np.polyfit(t, y[0], 1)[0]) < 1e-5), round(float(y[0].std()), 2)
    (True, 0.71)
    """
    if not cutoff or cutoff <= 0:
        raise InputError(f"high-pass cutoff must be positive (s); got {cutoff}")
    x = np.atleast_2d(np.asarray(x))
    # float32 stays float32 (1 000 neurons × 30 min at 30 Hz: 216 MB, not 432), computed in
    # float64 a block of rows at a time
    x = np.array(x, dtype=np.float32 if x.dtype == np.float32 else np.float64)
    sigma = HALF_GAIN_SIGMA * cutoff * fs
    for a, b in segment_bounds(segments, x.shape[1]):
        step = max(1, 2**22 // max(b - a, 1))  # rows at a time: a few tens of MB
        for r in range(0, x.shape[0], step):
            x[r:r + step, a:b] = _highpass_block(x[r:r + step, a:b].astype(np.float64), sigma)
    return x


def _highpass_block(seg: np.ndarray, sigma: float) -> np.ndarray:
    """Line removed, then the Gaussian low-pass; NaN frames ignored (normalised convolution)."""
    tt = np.arange(seg.shape[1], dtype=np.float64)
    valid = np.isfinite(seg)
    if valid.all():  # the common case: no masks, a plain least-squares line
        tc = tt - tt.mean()
        slope = (seg @ tc) / (tc @ tc) if tc.any() else np.zeros(len(seg))
        resid = seg - seg.mean(axis=1, keepdims=True) - slope[:, None] * tc
        return resid - gaussian_lowpass(resid, sigma)  # reflected ones smooth to ones
    w = valid.astype(np.float64)
    n = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        tm = (w * tt).sum(axis=1, keepdims=True) / n
        xs = np.where(valid, seg, 0.0)
        xm = xs.sum(axis=1, keepdims=True) / n
        dt = np.where(valid, tt - tm, 0.0)
        slope = (dt * (xs - xm)).sum(axis=1, keepdims=True) / (dt * dt).sum(axis=1,
                                                                            keepdims=True)
    resid = np.where(valid, seg - np.nan_to_num(xm) - np.nan_to_num(slope) * (tt - tm), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        low = gaussian_lowpass(resid, sigma) / gaussian_lowpass(w, sigma)
    return np.where(valid, resid - np.nan_to_num(low), np.nan)


def exponential_filter(x: np.ndarray, fs: float, tau: float, *,
                       segments: Sequence[int] | None = None,
                       reverse: bool = False) -> np.ndarray:
    """Each row through a unit-area exponential kernel exp(−t/τ), per segment.

    Causal (``reverse=False``: frame t sees frames ≤ t) or anticipatory (``reverse=True``:
    frames ≥ t). Started at the first value, so a constant stays constant. ``tau=0`` returns
    the input. NaN frames must have been filled.
    """
    x = np.array(np.atleast_2d(x), dtype=np.float64)
    if not tau:
        return x
    a = math.exp(-1.0 / (fs * tau))
    for lo, hi in segment_bounds(segments, x.shape[1]):
        seg = x[:, lo:hi][:, ::-1] if reverse else x[:, lo:hi]
        out, _ = signal.lfilter([1 - a], [1, -a], seg, axis=1, zi=a * seg[:, :1])
        x[:, lo:hi] = out[:, ::-1] if reverse else out
    return x


def lag_basis(regressors: np.ndarray, fs: float, *, segments: Sequence[int] | None = None,
              taus: Sequence[float] = LAG_TAUS, lead: float | None = LEAD_TAU) -> np.ndarray:
    """Lagged copies of each regressor: causal exponential filters of several time constants.

    A neuron that follows a signal through an unknown calcium kernel (or responds a little
    before a movement) is a linear combination of these columns: each regressor itself
    (τ = 0), the regressor through causal exponentials of τ = 0.25, 0.5, 1, 2 and 4 s, and
    through one anticipatory exponential (0.5 s). Columns are z-scored; NaN frames of a
    regressor are filled with its mean first.

    Parameters
    ----------
    regressors
        (k, frames).
    fs
        Sampling rate (Hz).
    segments
        Frames of each session (filters restart at each).
    taus, lead
        Causal time constants (0: the regressor) and the anticipatory one (``None``: none).

    Returns
    -------
    ndarray
        (frames, k · (len(taus) + 1)) float64, columns grouped by regressor.

    Examples
    --------
    >>> lag_basis(np.random.default_rng(0).normal(size=(2, 300)), 10.0).shape
    (300, 14)
    """
    r = np.array(np.atleast_2d(regressors), dtype=np.float64)
    mean = np.nanmean(r, axis=1, keepdims=True) if np.isfinite(r).any() else 0.0
    r = np.where(np.isfinite(r), r, mean)
    cols = []
    for row in r:
        cols.extend(exponential_filter(row, fs, tau, segments=segments)[0] for tau in taus)
        if lead:
            cols.append(exponential_filter(row, fs, lead, segments=segments, reverse=True)[0])
    out = np.stack(cols, axis=1)
    sd = out.std(axis=0)
    return (out - out.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def residualize(x: np.ndarray, design: np.ndarray, *, ridge: float = 1e-6) -> np.ndarray:
    """Each row of ``x`` minus its least-squares fit on ``design`` (+ an intercept).

    Rows are fitted on their own valid (finite) frames; NaN frames stay NaN. A tiny ridge
    (relative to the design's scale) keeps collinear columns harmless.

    Parameters
    ----------
    x
        (rows, frames).
    design
        (frames, columns).

    Returns
    -------
    ndarray
        (rows, frames) float64 residuals.

    Examples
    --------
    >>> t = np.arange(100.0)
    >>> bool(np.abs(residualize(np.vstack([2 * t + 1]), t[:, None])).max() < 1e-3)
    True
    """
    x = np.array(np.atleast_2d(x), dtype=np.float64)
    d = np.column_stack([np.ones(design.shape[0]), np.asarray(design, dtype=np.float64)])
    valid = np.isfinite(x)
    full = valid.all(axis=1)
    lam = ridge * np.trace(d.T @ d) / d.shape[1]
    eye = np.eye(d.shape[1])
    eye[0, 0] = 0.0  # no penalty on the intercept
    if full.any():
        beta = np.linalg.solve(d.T @ d + lam * eye, d.T @ x[full].T)
        x[full] -= (d @ beta).T
    for i in np.flatnonzero(~full):
        m = valid[i]
        if m.sum() <= d.shape[1]:
            x[i] = np.nan
            continue
        dm = d[m]
        beta = np.linalg.solve(dm.T @ dm + lam * eye, dm.T @ x[i, m])
        x[i, m] -= dm @ beta
    return x


__all__ = ["HALF_GAIN_SIGMA", "LAG_TAUS", "LEAD_TAU", "exponential_filter", "gaussian_lowpass",
           "highpass", "lag_basis", "residualize", "segment_bounds"]
