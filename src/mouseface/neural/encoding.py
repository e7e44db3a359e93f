"""Which neurons track which expression: correlation, shift nulls, FDR, selectivity.

For every neuron × expression pair the statistic is Pearson's r between the neuron's trace and
the expression trace on the same imaging frames (optionally after convolving the expression
with a calcium kernel, and after removing movement regressors from both: a partial
correlation). Its significance comes from a shift null: the expression is moved in time
against the neuron, which keeps both traces' autocorrelation and breaks only their alignment.
The naive Pearson p-value assumes independent frames and is badly anti-conservative for calcium
traces and slow expression traces (see the tests).

Two nulls (``null=``):

``"linear"`` (default)
    Both signals are first high-passed (``highpass``, default 60 s: trends, bleaching and
    baseline wander slower than that go; see :func:`mouseface.neural.regressors.highpass`).
    Then the linear-shift test of Harris (2020): the neuron's central frames (a quarter of the
    session is left out at each end) stay fixed and the expression is shifted by every lag
    ``k`` in ``[−N, N]`` frames, ``N`` a quarter of the session; p is the rank of the unshifted
    |r| among all ``2N + 1`` values, ``(1 + #{k ≠ 0: |r_k| ≥ |r_0|}) / (2N + 1)``. If the
    shifted series is stationary and independent of the neuron, every lag is equally likely to
    hold the largest |r|, whatever the neuron does (bleaching included), so p is valid;
    high-passing is what makes the expression stationary enough. No lag is left out: leaving
    out shifts near zero (as the circular test does) makes the smallest p far likelier than it
    says. The smallest p is ``1 / (2N + 1)``.
``"circular"``
    The original test: no high-pass; the neuron is rotated against the expression by
    ``n_shifts`` random circular shifts of at least ``min_shift`` seconds either way. Exact for
    stationary traces, but a trend breaks at the wrap-around, so two trending traces stand out
    from their own null (Harris 2020), and its smallest p, ``1 / (1 + n_shifts)``, is reached
    far more often than that under the null.

Speed: the correlation at every shift of a pair is a cross-correlation, so all shifts of all
pairs come from one real FFT per trace, a product and one inverse FFT per pair (O(T log T) per
pair) instead of one matrix product per shift.

References
----------
Harris, K. D. (2020). Nonsense correlations in neuroscience. bioRxiv
https://doi.org/10.1101/2020.11.29.402719; and A shift test for independence in generic time
series, arXiv:2012.06862.
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import fft as sfft
from scipy import signal, stats

from mouseface._errors import InputError

#: bytes of float32 cross-correlations held at once (per chunk of neurons)
CHUNK_BYTES = 96 * 2**20
#: the shift nulls, the default first
NULLS = ("linear", "circular")
#: high-pass cutoff (s) of the linear null when none is given
DEFAULT_HIGHPASS = 60.0
#: random combinations of per-session lags in the linear null of several sessions
DEFAULT_COMBINATIONS = 10_000


# ------------------------------------------------------------------------------- the kernel
def calcium_convolve(y: np.ndarray, fs: float, tau: float) -> np.ndarray:
    """Convolve each row of ``y`` causally with a unit-area exponential kernel exp(−t/tau).

    This is what a GCaMP-like indicator does to a drive; the result at frame t depends only on
    frames ≤ t. Implemented as the first-order recursion ``z_t = a·z_{t-1} + (1−a)·y_t`` with
    ``a = exp(−1 / (fs·tau))``, started at the first value. NaN frames must be removed first.

    Examples
    --------
    >>> calcium_convolve(np.array([[0., 1., 0., 0.]]), fs=1.0, tau=1.0).round(3)
    array([[0.   , 0.632, 0.233, 0.086]])
    """
    if not tau or tau <= 0:
        raise InputError(f"calcium kernel tau must be positive; got {tau}")
    a = math.exp(-1.0 / (fs * tau))
    y = np.atleast_2d(np.asarray(y, dtype=np.float64))
    zi = (a * y[:, :1])  # steady state for a constant start
    out, _ = signal.lfilter([1 - a], [1, -a], y, axis=1, zi=zi)
    return out


# ------------------------------------------------------------------------- the null (FFT)
def _zscore(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    mu = a.mean(axis=-1, keepdims=True)
    sd = a.std(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (a - mu) / sd
    z[~np.isfinite(z)] = 0.0
    return z


def _row_std(x: np.ndarray, valid: np.ndarray, step: int = 256) -> np.ndarray:
    """Std of each row over its valid frames (NaN when none), a few rows at a time."""
    out = np.full(x.shape[0], np.nan)
    with warnings.catch_warnings():  # all-NaN rows: no std
        warnings.simplefilter("ignore", RuntimeWarning)
        for s in range(0, x.shape[0], step):
            out[s:s + step] = np.nanstd(np.where(valid[s:s + step], x[s:s + step], np.nan),
                                        axis=1)
    return out


def _workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def _chunk(n_expr: int, n_frames: int, factor: int = 1) -> int:
    return max(1, int(CHUNK_BYTES // max(1, 4 * n_expr * n_frames * factor)))


def shifted_correlations(x: np.ndarray, y: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Pearson r of every row of ``x`` with every row of ``y`` at every circular shift.

    ``out[i, j, k]`` is the correlation of ``x[i]`` rotated by ``shifts[k]`` frames
    (``np.roll(x[i], -shifts[k])``) with ``y[j]``. Computed by FFT circular cross-correlation in
    float32 (|error| < 1e-5). Rows must be NaN-free; :func:`encode` handles NaNs.

    Parameters
    ----------
    x
        (n, T) traces.
    y
        (e, T) traces.
    shifts
        (s,) integer shifts in ``[0, T)``.

    Returns
    -------
    ndarray
        (n, e, s) float32.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, y = rng.normal(size=(2, 50)), rng.normal(size=(1, 50))
    >>> r = shifted_correlations(x, y, np.array([0, 7]))
    >>> bool(np.isclose(r[1, 0, 1], np.corrcoef(np.roll(x[1], -7), y[0])[0, 1], atol=1e-5))
    True
    """
    x = np.atleast_2d(x)
    y = np.atleast_2d(y)
    n_frames = x.shape[1]
    shifts = np.asarray(shifts, dtype=np.int64)
    fy = np.conj(sfft.rfft(_zscore(y).astype(np.float32), axis=1, workers=_workers()))
    out = np.empty((x.shape[0], y.shape[0], shifts.size), np.float32)
    step = _chunk(y.shape[0], n_frames)
    for s in range(0, x.shape[0], step):
        fx = sfft.rfft(_zscore(x[s:s + step]).astype(np.float32), axis=1, workers=_workers())
        cc = sfft.irfft(fx[:, None, :] * fy[None, :, :], n=n_frames, axis=2,
                        workers=_workers())
        out[s:s + step] = cc[:, :, shifts] / np.float32(n_frames)
    return out


def _shift_null(x: np.ndarray, valid: np.ndarray, y: np.ndarray,
                bounds: list[tuple[int, int]], window: np.ndarray,
                lags: list[np.ndarray], combos: np.ndarray,
                circular: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """r at shift 0, null exceedance counts and null sd for every row of ``x``, in chunks.

    The statistic for a combination of lags (one lag k_s per segment s) is Pearson's r
    between x over its ``window`` frames (valid ones only) and y at the same frames + k_s
    within each segment (modulo the segment's length when ``circular``; a linear window keeps
    t + k inside the segment by construction). With x̃ the neuron z-scored over its frames and
    zero elsewhere, m its 0/1 mask and n = Σm::

        r = Σ_s Sxy_s(k_s) / sqrt(n·Σ_s Syy_s(k_s) − (Σ_s Sy_s(k_s))²)

    where Sxy_s, Sy_s, Syy_s are cross-correlations of x̃ and m with y and y² over segment s
    (one FFT each). ``lags[s]`` are segment s's lags (frames), the first 0; ``combos`` is
    (1 + n_null, segments) indices into them, its first row all zeros (the observed r). Rows
    without NaN inside the window share Sy and Syy. ``y`` must be NaN-free.
    """
    n_rows = x.shape[0]
    n_expr = y.shape[0]
    r = np.full((n_rows, n_expr), np.nan)
    counts = np.zeros((n_rows, n_expr), np.int64)
    null_sd = np.full((n_rows, n_expr), np.nan)
    w = _workers()
    sd = y.std(axis=1, keepdims=True)
    y = (y - y.mean(axis=1, keepdims=True)) / np.where(sd > 0, sd, 1.0)  # n·Syy − Sy² exact
    plans = []
    for (a, b), lag in zip(bounds, lags, strict=True):
        nfft = b - a if circular else sfft.next_fast_len(b - a, real=True)
        fy = np.conj(sfft.rfft(y[:, a:b], n=nfft, axis=1, workers=w))
        fy2 = np.conj(sfft.rfft(y[:, a:b] ** 2, n=nfft, axis=1, workers=w))
        plans.append((a, b, nfft, fy, fy2, (-lag) % nfft))

    identity = combos.shape[1] == 1 and np.array_equal(combos[:, 0],
                                                       np.arange(combos.shape[0]))
    spectra32 = [(p[3].astype(np.complex64), p[4].astype(np.complex64)) for p in plans]

    def total(rows: np.ndarray, which: int, single: bool) -> np.ndarray:
        """Σ over segments of Σ_t rows[t]·y[t + k_s] (which=1: y²), at every combination."""
        out = None
        for s, (a, b, nfft, fy, fy2, at) in enumerate(plans):
            spec = spectra32[s][which] if single else (fy2 if which else fy)
            seg = rows[:, a:b].astype(np.float32) if single else rows[:, a:b]
            f = sfft.rfft(seg, n=nfft, axis=1, workers=w)
            # irfft(FFT(rows)·conj(FFT y))[j] = Σ_t rows[t]·y[t − j], read at j = −k
            cc = sfft.irfft(f[:, None, :] * spec[None], n=nfft, axis=2, workers=w)[:, :, at]
            part = cc if identity else cc[:, :, combos[:, s]]
            out = part if out is None else out + part
        return out

    window_rows = window.astype(np.float64)[None, :]
    shared = None
    step = _chunk(n_expr, max(max(p[2] for p in plans), combos.shape[0]), factor=4)
    rows_ok = np.flatnonzero((valid & window[None, :]).sum(axis=1) >= 3)
    for s in range(0, rows_ok.size, step):
        idx = rows_ok[s:s + step]
        m = valid[idx] & window[None, :]
        xs = np.where(m, x[idx], 0.0).astype(np.float64)
        n = m.sum(axis=1).astype(np.float64)
        dev = np.where(m, xs - (xs.sum(axis=1) / n)[:, None], 0.0)
        xsd = np.sqrt((dev**2).sum(axis=1) / n)
        ok = xsd > 0
        xt = dev / np.where(ok, xsd, 1.0)[:, None]
        if np.all(m == window[None, :]):  # no NaN inside the window: float32, shared Sy/Syy
            if shared is None:
                shared = (total(window_rows, 0, False), total(window_rows, 1, False))
            sxy = total(xt, 0, True)
            sy, syy = shared
        else:
            sxy = total(xt, 0, False)
            mf = m.astype(np.float64)
            sy, syy = total(mf, 0, False), total(mf, 1, False)
        with np.errstate(invalid="ignore", divide="ignore"):
            rr = sxy / np.sqrt(np.maximum(n[:, None, None] * syy - sy * sy, 0.0))
        rr[~ok] = np.nan
        r_obs = rr[:, :, 0]
        null = np.nan_to_num(rr[:, :, 1:], nan=0.0, posinf=0.0, neginf=0.0)
        r[idx] = r_obs
        counts[idx] = (np.abs(null) >= np.abs(np.nan_to_num(r_obs))[..., None]
                       - 1e-7).sum(axis=2)
        null_sd[idx] = null.std(axis=2)
    return r, counts, null_sd


def _lag_combinations(sizes: list[int], n: int, seed: int | None) -> np.ndarray:
    """(1 + n', len(sizes)) lag indices: first row zeros, then n' distinct combinations.

    Each column indexes a session's lags. All combinations but the all-zero one when there
    are at most ``n`` of them, else ``n`` drawn uniformly (without the all-zero one).
    """
    total = math.prod(sizes)
    if total - 1 <= n:
        grid = np.indices(sizes).reshape(len(sizes), -1).T
        return grid  # row 0 is all zeros
    rng = np.random.default_rng(seed)
    draws = np.stack([rng.integers(0, k, size=n) for k in sizes], axis=1)
    zero = ~draws.any(axis=1)
    while zero.any():  # vanishingly rare: redraw the all-zero rows
        draws[zero] = np.stack([rng.integers(0, k, size=int(zero.sum())) for k in sizes], axis=1)
        zero = ~draws.any(axis=1)
    return np.vstack([np.zeros((1, len(sizes)), np.int64), draws])


def linear_shifts(n_frames: int, *, max_shift: int | None = None,
                  n_shifts: int | None = None) -> np.ndarray:
    """Shifts (frames) of the linear-shift null: every nonzero lag in ``[−N, N]``.

    ``N`` is ``max_shift`` frames (default: a quarter of ``n_frames``, the shortest session).
    With ``n_shifts``, the lags ``±step, ±2·step, …`` (``n_shifts // 2`` each way, ``step``
    as large as fits in ``N``): a regular grid keeps the test's symmetry.

    Examples
    --------
    >>> linear_shifts(20).tolist()
    [-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]
    >>> linear_shifts(20, n_shifts=4).tolist()
    [-4, -2, 2, 4]
    """
    big = n_frames // 4 if max_shift is None else int(max_shift)
    if big < 1 or 2 * big >= n_frames:
        raise InputError(f"a recording of {n_frames} frames is too short for a linear shift "
                         f"of {big} frames either way (need more than {2 * big} frames)")
    per_side = big if not n_shifts else max(1, min(big, n_shifts // 2))
    step = max(1, big // per_side)
    half = np.arange(1, per_side + 1) * step
    return np.concatenate([-half[::-1], half])


def choose_shifts(n_frames: int, fs: float, *, n_shifts: int | None = 1000,
                  min_shift: float = 10.0, seed: int | None = 0) -> np.ndarray:
    """Circular shifts (frames) for the null: ``n_shifts`` drawn without replacement.

    Admissible shifts are ``min_shift·fs ≤ s ≤ T − min_shift·fs`` (at least ``min_shift``
    seconds either way round the circle). ``n_shifts=None`` takes every admissible shift.
    When fewer are admissible than asked, all are used, with a warning.
    """
    lo = max(1, int(math.ceil(min_shift * fs)))
    hi = n_frames - lo
    if hi < lo:
        raise InputError(f"recording of {n_frames / fs:.1f} s is too short for a minimum "
                         f"shift of {min_shift:g} s each way; lower the minimum shift")
    allowed = hi - lo + 1
    if n_shifts is None or n_shifts >= allowed:
        if n_shifts is not None and n_shifts > allowed:
            warnings.warn(f"only {allowed} distinct shifts of at least {min_shift:g} s exist in "
                          f"{n_frames / fs:.1f} s; using all of them instead of {n_shifts}",
                          UserWarning, stacklevel=3)
        return np.arange(lo, hi + 1)
    if n_shifts < 1:
        raise InputError(f"number of shifts must be at least 1; got {n_shifts}")
    rng = np.random.default_rng(seed)
    return np.sort(lo + rng.choice(allowed, size=n_shifts, replace=False))


# --------------------------------------------------------------------------------- results
@dataclass(eq=False)
class Encoding:
    """Result of :func:`encode`: per neuron × expression statistics and per neuron summaries.

    Attributes
    ----------
    neuron
        (N,) neuron ids.
    names
        (E,) expression names.
    r, p, q
        (N, E) Pearson r at zero shift (over the frames the test uses, after the high-pass,
        kernel and controls), shift-null p (two-sided), Benjamini–Hochberg q. NaN for a neuron
        with fewer than 3 valid frames or a constant trace.
    significant
        (N, E) bool, ``q ≤ alpha``.
    null_sd
        (N, E) standard deviation of r under the null (width of the shift distribution).
    preferred
        (N,) name of the expression with the largest r among those significant with r > 0;
        ``""`` when there is none.
    selectivity
        (N,) selectivity index (see :func:`selectivity_index`).
    n_frames, n_excluded
        (N,) frames used and frames excluded (NaN in the neuron or in any expression).
    shifts
        The shifts (frames) of the null.
    params
        Settings: ``null``, ``highpass``, ``p_floor`` (the smallest attainable p) …
    """

    neuron: np.ndarray
    names: list[str]
    r: np.ndarray
    p: np.ndarray
    q: np.ndarray
    significant: np.ndarray
    null_sd: np.ndarray
    preferred: np.ndarray
    selectivity: np.ndarray
    n_frames: np.ndarray
    n_excluded: np.ndarray
    shifts: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def positive(self) -> np.ndarray:
        """(N, E) bool: significant with r > 0 (the neuron rises with the expression)."""
        return self.significant & (self.r > 0)

    @property
    def mixed(self) -> np.ndarray:
        """(N,) bool: significant with r > 0 for more than one expression."""
        return self.positive.sum(axis=1) > 1

    def fractions(self) -> dict[str, Any]:
        """Fractions of neurons: per expression (positive and negative), any, mixed."""
        n = max(1, len(self.neuron))
        neg = self.significant & (self.r < 0)
        return {
            "per_expression": {name: float(self.positive[:, j].sum() / n)
                               for j, name in enumerate(self.names)},
            "per_expression_negative": {name: float(neg[:, j].sum() / n)
                                        for j, name in enumerate(self.names)},
            "preferred": {name: float((self.preferred == name).sum() / n)
                          for name in self.names},
            "any": float(self.positive.any(axis=1).sum() / n),
            "any_sign": float(self.significant.any(axis=1).sum() / n),
            "mixed": float(self.mixed.sum() / n),
            "mixed_any_sign": float((self.significant.sum(axis=1) > 1).sum() / n),
        }

    def counts(self) -> dict[str, Any]:
        """Neuron counts: tracking any expression (having a preferred one), per preferred
        expression (the groups of the correlation figure), per expression positive and
        negative, mixed.

        Examples
        --------
        >>> rng = np.random.default_rng(1)
        >>> expr = np.convolve(rng.normal(size=3000), np.ones(60) / 60, "same")[None, :]
        >>> x = np.vstack([expr[0] + 0.05 * rng.normal(size=3000), rng.normal(size=3000)])
        >>> c = encode(x, expr, fs=20.0, names=["pain"]).counts()
        >>> c["tracking"], c["preferred"]
        (1, {'pain': 1})
        """
        neg = self.significant & (self.r < 0)
        return {
            "neurons": int(len(self.neuron)),
            "tracking": int((self.preferred != "").sum()),
            "preferred": {n: int((self.preferred == n).sum()) for n in self.names},
            "positive": {n: int(self.positive[:, j].sum()) for j, n in enumerate(self.names)},
            "negative": {n: int(neg[:, j].sum()) for j, n in enumerate(self.names)},
            "any_sign": int(self.significant.any(axis=1).sum()),
            "mixed": int(self.mixed.sum()),
        }

    def to_frame(self) -> pd.DataFrame:
        """Long table, one row per neuron × expression (what ``neurons.csv`` holds).

        Columns: neuron, expression, r, p, q, significant, preferred (this row's expression is
        the neuron's preferred one), preferred_expression, selectivity, mixed, null_sd,
        n_frames, n_excluded.
        """
        n, e = self.r.shape
        rep = np.repeat
        return pd.DataFrame({
            "neuron": rep(self.neuron, e),
            "expression": np.tile(np.asarray(self.names, dtype=object), n),
            "r": self.r.ravel(), "p": self.p.ravel(), "q": self.q.ravel(),
            "significant": self.significant.ravel(),
            "preferred": (self.preferred[:, None] == np.asarray(self.names)[None, :]).ravel(),
            "preferred_expression": rep(self.preferred, e),
            "selectivity": rep(self.selectivity, e),
            "mixed": rep(self.mixed, e),
            "null_sd": self.null_sd.ravel(),
            "n_frames": rep(self.n_frames, e), "n_excluded": rep(self.n_excluded, e),
        })


def selectivity_index(r: np.ndarray) -> np.ndarray:
    """Selectivity of each row of ``r`` (neurons, expressions) for its best expression.

    With r⁺ = max(r, 0), the best r⁺_max and the mean r⁺_other over the other expressions::

        SI = (r⁺_max − r⁺_other) / (r⁺_max + r⁺_other)

    1 when the neuron rises with one expression only, 0 when equally with all; NaN when no r
    is positive. With one expression SI is 1 (when r > 0).

    Examples
    --------
    >>> selectivity_index(np.array([[0.6, 0.0, -0.2], [0.3, 0.3, 0.3], [-0.1, -0.2, 0.0]])).round(3)
    array([ 1.,  0., nan])
    """
    r = np.atleast_2d(np.asarray(r, dtype=np.float64))
    rp = np.clip(np.nan_to_num(r, nan=0.0), 0, None)
    best = rp.max(axis=1)
    other = (rp.sum(axis=1) - best) / max(r.shape[1] - 1, 1)  # 0 with one expression
    with np.errstate(invalid="ignore", divide="ignore"):
        si = (best - other) / (best + other)
    si[best <= 0] = np.nan
    return si


# ----------------------------------------------------------------------------------- encode
def encode(
    traces: np.ndarray,
    expressions: np.ndarray,
    *,
    fs: float,
    names: list[str] | None = None,
    neuron: np.ndarray | None = None,
    null: str = "linear",
    n_shifts: int | None = None,
    min_shift: float = 10.0,
    max_shift: float | None = None,
    highpass: float | None = None,
    segments: list[int] | None = None,
    controls: np.ndarray | None = None,
    tau: float | None = None,
    alpha: float = 0.05,
    seed: int | None = 0,
) -> Encoding:
    """Correlate every neuron with every expression and test each pair against a shift null.

    Parameters
    ----------
    traces
        (neurons, frames) activity (ΔF/F or deconvolved) on imaging frames; NaN frames are
        excluded per neuron and counted.
    expressions
        (expressions, frames) expression traces on the same frames; a frame NaN in any
        expression (or control) is excluded for every neuron.
    fs
        Imaging rate (Hz).
    names, neuron
        Expression names and neuron ids (default: indices).
    null
        ``"linear"`` (default: high-pass, then the linear-shift test) or ``"circular"`` (the
        original circular-shift test); see the module's docstring.
    n_shifts
        Shifts in the null. ``None`` (default): every admissible shift, which costs little
        more since all shifts come out of one inverse FFT. Linear: at most this many, on a
        regular grid of lags. Circular: this many drawn at random.
    min_shift
        Circular null only: minimum shift in seconds each way (10 s).
    max_shift
        Linear null only: largest shift N in seconds (default: a quarter of the shortest
        session). The neuron's frames within N of a session's ends are left out of the test.
    highpass
        Cutoff period (s) of the high-pass applied to traces, expressions and controls
        (:func:`mouseface.neural.regressors.highpass`). ``None``: the null's default (60 s for
        linear, none for circular); ``0``: none.
    segments
        Frames of each session when ``traces`` holds several sessions of the same neurons back
        to back: filters restart at each and every session is shifted by the same lag within
        itself, the statistic pooling all sessions.
    controls
        (regressors, frames), e.g. movement: each regressor's lagged copies
        (:func:`mouseface.neural.regressors.lag_basis`) are regressed out of the neuron and of
        the expression before the test, so r is a partial correlation (the expression beyond
        those regressors).
    tau
        When given, each expression trace is first convolved with a causal exponential
        calcium kernel of this decay time (s), e.g. 0.7 for GCaMP6s-like indicators; it puts
        the peak of the neuron–expression cross-correlation at zero lag, which the linear null
        needs for power.
    alpha
        False discovery rate for ``significant``.
    seed
        Seed of the random circular shifts.

    Returns
    -------
    Encoding

    Raises
    ------
    InputError
        Shapes that disagree, an unknown null, sessions too short for the shifts.

    Warns
    -----
    UserWarning
        When NaN frames are excluded, and when the smallest attainable p is too coarse for
        Benjamini–Hochberg over this many tests to call anything unless many pairs are
        extreme.

    Notes
    -----
    Linear: p = (1 + #{k ≠ 0: |r_k| ≥ |r_0|}) / (2N + 1), floor 1 / (2N + 1) (Harris's
    large-N rank rule; his conservative bound is twice that). Circular: p = (1 + #{shifts with
    |r_shift| ≥ |r|}) / (1 + n_shifts). Two-sided, never 0. q is Benjamini–Hochberg over all
    neurons × expressions (:func:`scipy.stats.false_discovery_control`). With m tests a pair
    can pass at FDR alpha only if at least ``m · p_floor / alpha`` pairs reach the floor.
    Expression traces are often correlated with each other (every emotion prototype is
    anti-correlated with neutral), so a neuron significant for several expressions is not
    necessarily encoding each of them; the preferred expression and selectivity index say
    which dominates. Frames excluded for NaN are removed before shifting.

    Measured on simulated sessions with bleaching, wander, bursts, neuropil and motion
    artefacts (``benchmarks/bench_null.py``): see the README for the figures.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> expr = np.convolve(rng.normal(size=3000), np.ones(60) / 60, "same")[None, :]
    >>> x = np.vstack([expr[0] + 0.05 * rng.normal(size=3000), rng.normal(size=3000)])
    >>> enc = encode(x, expr, fs=20.0, names=["pain"])
    >>> enc.significant[:, 0].tolist(), enc.preferred.tolist(), round(enc.params["p_floor"], 5)
    ([True, False], ['pain', ''], 0.00067)
    """
    from mouseface.neural import regressors as reg

    if null not in NULLS:
        raise InputError(f"null must be one of {', '.join(NULLS)}; got {null!r}")
    x = np.atleast_2d(np.asarray(traces))
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    y = np.atleast_2d(np.asarray(expressions, dtype=np.float64))
    if x.shape[1] != y.shape[1]:
        raise InputError(f"traces have {x.shape[1]} frames but expressions {y.shape[1]}")
    if not fs or not np.isfinite(fs) or fs <= 0:
        raise InputError(f"imaging rate must be positive; got {fs}")
    n_neurons, n_expr = x.shape[0], y.shape[0]
    names = list(names) if names is not None else [f"e{j}" for j in range(n_expr)]
    if len(names) != n_expr:
        raise InputError(f"{n_expr} expression traces but {len(names)} names")
    neuron = np.arange(n_neurons) if neuron is None else np.asarray(neuron)
    if neuron.size != n_neurons:
        raise InputError(f"{n_neurons} traces but {neuron.size} neuron ids")
    c = None if controls is None else np.atleast_2d(np.asarray(controls, dtype=np.float64))
    if c is not None and c.shape[1] != x.shape[1]:
        raise InputError(f"traces have {x.shape[1]} frames but controls {c.shape[1]}")
    bounds = reg.segment_bounds(segments, x.shape[1])
    if highpass is None:
        highpass = DEFAULT_HIGHPASS if null == "linear" else 0.0

    # Frames NaN in any expression (or control) go for everyone; NaN frames of a neuron for
    # that neuron.
    keep = np.all(np.isfinite(y), axis=0)
    if c is not None:
        keep &= np.all(np.isfinite(c), axis=0)
    n_dropped_expr = int((~keep).sum())
    lengths = [int(keep[a:b].sum()) for a, b in bounds]
    if n_dropped_expr:
        x, y = x[:, keep], y[:, keep]
        c = None if c is None else c[:, keep]
    lengths = [n for n in lengths if n]
    n_frames = x.shape[1]
    if not lengths:
        raise InputError("no frame has every expression trace")
    seg = lengths if len(lengths) > 1 else None
    bounds = reg.segment_bounds(seg, n_frames)
    if tau:
        y = np.vstack([np.concatenate([calcium_convolve(row[None, a:b], fs, tau)[0]
                                       for a, b in bounds]) for row in y])
    if highpass:
        x = reg.highpass(x, fs, highpass, segments=seg)
        y = reg.highpass(y, fs, highpass, segments=seg)
        c = None if c is None else reg.highpass(c, fs, highpass, segments=seg)
    if c is not None:
        design = reg.lag_basis(c, fs, segments=seg)
        x = reg.residualize(x, design)
        y = reg.residualize(y, design)
    valid = np.isfinite(x)
    n_valid = valid.sum(axis=1)
    if (n_valid < n_frames).any() or n_dropped_expr:
        n_nan = int((n_frames - n_valid).sum())
        if n_nan or n_dropped_expr:
            warnings.warn(f"{n_nan} NaN neuron frames in {int((n_valid < n_frames).sum())} "
                          f"neurons and {n_dropped_expr} NaN expression frames excluded",
                          UserWarning, stacklevel=2)

    shortest = min(lengths)
    window = np.ones(n_frames, bool)
    big = None
    if null == "circular":
        shifts = choose_shifts(shortest, fs, n_shifts=n_shifts, min_shift=min_shift,
                               seed=seed)
        # y at t − s against x at t: the neuron rotated by s, as shifted_correlations does
        lags = [np.concatenate([[0], -shifts])] * len(bounds)
        combos = np.repeat(np.arange(shifts.size + 1)[:, None], len(bounds), axis=1)
    else:
        big = [n // 4 if max_shift is None else int(round(max_shift * fs)) for n in lengths]
        for n, k in zip(lengths, big, strict=True):
            if k < 1 or 2 * k >= n:
                raise InputError(f"a session of {n / fs:.1f} s is too short for the linear-"
                                 f"shift null with shifts up to {k / fs:.1f} s either way; "
                                 "lower the maximum shift")
        for (a, b), k in zip(bounds, big, strict=True):
            window[a:a + k] = False
            window[b - k:b] = False
        if len(bounds) == 1:
            shifts = linear_shifts(lengths[0], max_shift=big[0], n_shifts=n_shifts)
            lags = [np.concatenate([[0], shifts])]
            combos = np.arange(shifts.size + 1)[:, None]
        else:
            lags = [np.concatenate([[0], linear_shifts(n, max_shift=k)])
                    for n, k in zip(lengths, big, strict=True)]
            combos = _lag_combinations([lag.size for lag in lags],
                                       n_shifts or DEFAULT_COMBINATIONS, seed)
            shifts = np.stack([lag[c] for lag, c in zip(lags, combos[1:].T, strict=True)],
                              axis=1)
    n_null = combos.shape[0] - 1
    p_floor = 1.0 / (1.0 + n_null)
    n_used = (valid & window[None, :]).sum(axis=1)
    n_excluded = (n_dropped_expr + (n_frames - n_valid)).astype(np.int64)

    r, counts, null_sd = _shift_null(x, valid, y, bounds, window, lags, combos,
                                     circular=null == "circular")
    r[:, ~(np.nanstd(y, axis=1) > 0)] = np.nan
    p = (1.0 + counts) / (1.0 + n_null)
    p[~np.isfinite(r)] = np.nan
    q = np.full_like(p, np.nan)
    fin = np.isfinite(p)
    if fin.any():
        q[fin] = stats.false_discovery_control(p[fin], method="bh")
    significant = np.nan_to_num(q, nan=1.0) <= alpha

    m_tests = int(fin.sum())
    needed = math.ceil(p_floor * m_tests / alpha) if m_tests else 0
    if needed > max(10, m_tests // 100):
        warnings.warn(f"with {n_null} shifts the smallest p is {p_floor:.2g}: "
                      f"Benjamini-Hochberg over {m_tests} tests can call a pair only if at "
                      f"least {needed} pairs reach it; "
                      + ("use more shifts (e.g. "
                         f"{math.ceil(m_tests / alpha)})" if null == "circular" else
                         "record longer sessions, a higher imaging rate, or test fewer "
                         "expressions"), UserWarning, stacklevel=2)

    pos = significant & (np.nan_to_num(r) > 0)
    masked_r = np.where(pos, r, -np.inf)
    best = np.argmax(masked_r, axis=1)
    preferred = np.where(pos.any(axis=1), np.asarray(names, dtype=object)[best], "")
    params = {"null": null, "highpass": float(highpass) if highpass else None,
              "fs": float(fs), "n_shifts": int(n_null),
              "min_shift": float(min_shift) if null == "circular" else 0.0,
              "max_shift": [k / fs for k in big] if big else None,
              "shifts_per_session": "independent" if len(bounds) > 1 and null == "linear"
              else "shared", "tau": tau, "alpha": float(alpha),
              "seed": seed, "p_floor": p_floor, "n_frames": int(n_frames),
              "n_test_frames": int(window.sum()), "segments": lengths,
              "controls": 0 if c is None else int(c.shape[0]),
              "n_expression_frames_excluded": n_dropped_expr, "needed_at_floor": needed}
    return Encoding(neuron=neuron, names=names, r=r, p=p, q=q, significant=significant,
                    null_sd=null_sd, preferred=preferred.astype(object),
                    selectivity=selectivity_index(r), n_frames=n_used.astype(np.int64),
                    n_excluded=n_excluded, shifts=shifts, params=params)


def naive_encode(traces: np.ndarray, expressions: np.ndarray,
                 alpha: float = 0.05) -> dict[str, np.ndarray]:
    """The naive analysis, for comparison only: Pearson's textbook p-value, then BH.

    p is what :func:`scipy.stats.pearsonr` returns (two-sided, t distribution with T − 2
    degrees of freedom), computed for all pairs at once. It assumes independent frames, which
    calcium and expression traces are not.
    """
    x = np.atleast_2d(np.asarray(traces, dtype=np.float64))
    y = np.atleast_2d(np.asarray(expressions, dtype=np.float64))
    n = x.shape[1]
    r = np.clip(_zscore(x) @ _zscore(y).T / n, -1.0, 1.0)
    with np.errstate(divide="ignore"):
        t = np.abs(r) * np.sqrt((n - 2) / np.maximum(1.0 - r * r, 0.0))
    p = 2.0 * stats.t.sf(t, n - 2)
    q = stats.false_discovery_control(p.ravel(), method="bh").reshape(p.shape)
    return {"r": r, "p": p, "q": q, "significant": q <= alpha}


__all__ = ["DEFAULT_HIGHPASS", "NULLS", "Encoding", "calcium_convolve", "choose_shifts",
           "encode", "linear_shifts", "naive_encode", "selectivity_index",
           "shifted_correlations"]
