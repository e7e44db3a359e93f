"""Expression beyond movement: does a neuron track the face's expression, or only its movement?

Faces that express also move, and cortex encodes movement broadly (Musall et al. 2019;
Stringer et al. 2019), so a neuron that follows whisking or licking correlates with the
expression traces without encoding anything about emotion. Three analyses, all on the same
high-passed signals as the correlation test:

- **Expression after movement**: each neuron's partial correlation with each expression once
  the movement regressors (with lagged copies,
  :func:`mouseface.neural.regressors.lag_basis`) are regressed out of both, tested with the same
  shift null (:func:`mouseface.neural.encoding.encode` with ``controls``).
- **Movement after expressions**: the same the other way round, per movement regressor.
- **Unique variance**: a ridge encoding model of each neuron from all lagged expression and
  movement regressors, cross-validated with contiguous blocks of trials held out; the unique
  variance of a set of regressors is the drop in cross-validated R² when it is left out.

Categories are nested in the plain result, so the counts add up. A neuron that tracks an
expression (has a preferred one) is *expression* when some expression stays significant (r > 0)
after movement and no movement regressor stays significant after the expressions, *both* when
both do, *movement* when only movement does (it followed the expression through the face's
movement), *shared* when neither does (expression and movement explain the same variance and
cannot be told apart). A neuron that tracks no expression is *movement* when a movement
regressor is significant after the expressions, else *none*.

Movement regressors come from the same run: ``motion_energy`` and ``motion_<region>`` columns of
``frames.parquet``, and optionally a low-rank motion SVD of the HOG features
(:func:`hog_motion`): the frame-to-frame change of each HOG cell, reduced by incremental PCA.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.neural import regressors as reg
from mouseface.neural.encoding import DEFAULT_HIGHPASS, Encoding, encode

#: the categories of the ``tracks`` column, in the order figures draw them
CATEGORIES = ("expression", "both", "movement", "shared", "none")

#: ridge penalties tried, per frame of training data (chosen per neuron on the full model)
ALPHAS = (1e-3, 1e-2, 1e-1, 1.0)


# ------------------------------------------------------------------------- unique variance
@dataclass(eq=False)
class VarianceParts:
    """Cross-validated R² of each neuron's encoding model and the unique parts of it.

    Attributes
    ----------
    r2_full
        (N,) R² of the model with every expression and movement regressor.
    r2_expressions, r2_movement
        (N,) R² of the expressions alone and of movement alone.
    unique_expression
        (N, E) unique variance of each expression: ``r2_full`` minus the R² without it.
    unique_expressions, unique_movement
        (N,) unique variance of all expressions together and of all movement together.
    alpha
        (N,) ridge penalty (per training frame) chosen on the full model.
    params
        Folds, penalties, basis.
    """

    r2_full: np.ndarray
    r2_expressions: np.ndarray
    r2_movement: np.ndarray
    unique_expression: np.ndarray
    unique_expressions: np.ndarray
    unique_movement: np.ndarray
    alpha: np.ndarray
    params: dict[str, Any] = field(default_factory=dict)


def trial_blocks(n_frames: int, time: np.ndarray, onsets: np.ndarray | None,
                 n_blocks: int = 5) -> np.ndarray:
    """Label each frame of one session with one of ``n_blocks`` contiguous blocks.

    Blocks are about equally long; with trial ``onsets`` the cuts move to the middle of the
    nearest inter-trial interval, so no trial is split between two blocks (held out together,
    its frames never sit on both sides of a split).

    Examples
    --------
    >>> t = np.arange(100.0)
    >>> np.bincount(trial_blocks(100, t, np.array([18.0, 41.0, 58.0, 79.0]), 2)).tolist()
    [50, 50]
    """
    cuts = np.linspace(0, n_frames, n_blocks + 1)[1:-1]
    if onsets is not None and len(onsets) > 1:
        on = np.sort(np.asarray(onsets, dtype=np.float64))
        mids = np.searchsorted(time, (on[:-1] + on[1:]) / 2.0)
        if mids.size:
            cuts = np.array([mids[np.argmin(np.abs(mids - c))] for c in cuts])
    labels = np.searchsorted(np.sort(cuts), np.arange(n_frames), side="right")
    return labels.astype(np.int64)


def _ridge_cv(design: np.ndarray, targets: np.ndarray, folds: np.ndarray,
              models: dict[str, np.ndarray], alphas: Iterable[float]) -> tuple[dict, np.ndarray]:
    """Cross-validated R² of ridge models on column subsets, from Gram matrices.

    ``design`` (T, p) has an intercept column 0 (never penalised, always in every model);
    ``targets`` (N, T) are z-scored. For every fold only p×p and p×N products are formed, so
    every subset model and penalty costs a small solve. Returns {model: (alphas, N) R²} and
    the alphas.
    """
    alphas = np.asarray(list(alphas), dtype=np.float64)
    g_all = design.T @ design
    c_all = design.T @ targets.T
    sst = (targets**2).sum(axis=1)
    sse = {name: np.zeros((alphas.size, targets.shape[0])) for name in models}
    for f in np.unique(folds):
        test = folds == f
        d = design[test]
        g_test = d.T @ d
        c_test = d.T @ targets[:, test].T
        yy = (targets[:, test] ** 2).sum(axis=1)
        g_train, c_train = g_all - g_test, c_all - c_test
        n_train = int((~test).sum())
        for name, cols in models.items():
            gs = g_train[np.ix_(cols, cols)]
            pen = np.eye(cols.size)
            pen[0, 0] = 0.0
            for a, alpha in enumerate(alphas):
                beta = np.linalg.solve(gs + alpha * n_train * pen, c_train[cols])
                fit = (beta * (g_test[np.ix_(cols, cols)] @ beta)).sum(axis=0)
                sse[name][a] += yy - 2.0 * (beta * c_test[cols]).sum(axis=0) + fit
    with np.errstate(invalid="ignore", divide="ignore"):
        return {k: 1.0 - v / sst[None, :] for k, v in sse.items()}, alphas


def unique_variance(
    traces: np.ndarray,
    expressions: np.ndarray,
    movement: np.ndarray,
    *,
    fs: float,
    folds: np.ndarray,
    segments: list[int] | None = None,
    highpass: float | None = DEFAULT_HIGHPASS,
    tau: float | None = None,
    alphas: Iterable[float] = ALPHAS,
) -> VarianceParts:
    """Cross-validated unique variance of each expression and of movement, per neuron.

    Parameters
    ----------
    traces
        (N, frames) activity; NaN frames are set to the neuron's mean (no information).
    expressions, movement
        (E, frames) and (K, frames) regressors; each enters with its lagged copies
        (:func:`~mouseface.neural.regressors.lag_basis`). Frames NaN in any regressor are
        dropped.
    fs
        Imaging rate (Hz).
    folds
        (frames,) fold label of each frame: contiguous blocks of trials (:func:`trial_blocks`).
    segments
        Frames of each session when several are back to back.
    highpass
        Cutoff (s) applied to every signal first, as in the test (0 or None: none).
    tau
        Calcium kernel applied to the expression traces first, as in the test.
    alphas
        Ridge penalties per training frame; the best full-model one is kept per neuron.

    Returns
    -------
    VarianceParts

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> e, m = rng.normal(size=(2, 3000)).cumsum(axis=1) * 0.05
    >>> x = np.vstack([e + 0.3 * rng.normal(size=3000), m + 0.3 * rng.normal(size=3000)])
    >>> parts = unique_variance(x, e[None], m[None], fs=10.0, highpass=None,
    ...                         folds=np.repeat(np.arange(5), 600))
    >>> (parts.unique_expressions > parts.unique_movement).tolist()
    [True, False]
    """
    x = np.array(np.atleast_2d(traces), dtype=np.float64)
    e = np.array(np.atleast_2d(expressions), dtype=np.float64)
    m = np.array(np.atleast_2d(movement), dtype=np.float64)
    folds = np.asarray(folds)
    if not x.shape[1] == e.shape[1] == m.shape[1] == folds.size:
        raise InputError(f"traces ({x.shape[1]}), expressions ({e.shape[1]}), movement "
                         f"({m.shape[1]}) and folds ({folds.size}) must have the same frames")
    keep = np.isfinite(e).all(axis=0) & np.isfinite(m).all(axis=0)
    bounds = reg.segment_bounds(segments, x.shape[1])
    seg = [int(keep[a:b].sum()) for a, b in bounds]
    seg = [s for s in seg if s] or None
    seg = seg if seg and len(seg) > 1 else None
    x, e, m, folds = x[:, keep], e[:, keep], m[:, keep], folds[keep]
    if np.unique(folds).size < 2:
        raise InputError("unique variance needs at least 2 folds")
    if tau:
        from mouseface.neural.encoding import calcium_convolve

        e = np.hstack([calcium_convolve(e[:, a:b], fs, tau)
                       for a, b in reg.segment_bounds(seg, e.shape[1])])
    if highpass:
        x = reg.highpass(x, fs, highpass, segments=seg)
        e = reg.highpass(e, fs, highpass, segments=seg)
        m = reg.highpass(m, fs, highpass, segments=seg)
    mu = np.nanmean(x, axis=1, keepdims=True)
    x = np.where(np.isfinite(x), x, mu) - mu
    sd = x.std(axis=1, keepdims=True)
    x = x / np.where(sd > 0, sd, 1.0)
    be = reg.lag_basis(e, fs, segments=seg)
    bm = reg.lag_basis(m, fs, segments=seg)
    per = be.shape[1] // e.shape[0]
    design = np.column_stack([np.ones(x.shape[1]), be, bm])
    n_e = be.shape[1]
    cols_e = 1 + np.arange(n_e)
    cols_m = 1 + n_e + np.arange(bm.shape[1])
    zero = np.array([0])
    models = {"full": np.concatenate([zero, cols_e, cols_m]),
              "expressions": np.concatenate([zero, cols_e]),
              "movement": np.concatenate([zero, cols_m])}
    for j in range(e.shape[0]):
        left = np.setdiff1d(cols_e, cols_e[j * per:(j + 1) * per])
        models[f"-{j}"] = np.concatenate([zero, left, cols_m])
    r2, alphas = _ridge_cv(design, x, folds, models, alphas)
    best = np.nanargmax(np.nan_to_num(r2["full"], nan=-np.inf), axis=0)
    pick = {k: v[best, np.arange(x.shape[0])] for k, v in r2.items()}
    full = pick["full"]
    return VarianceParts(
        r2_full=full, r2_expressions=pick["expressions"], r2_movement=pick["movement"],
        unique_expression=np.stack([full - pick[f"-{j}"] for j in range(e.shape[0])], axis=1),
        unique_expressions=full - pick["movement"], unique_movement=full - pick["expressions"],
        alpha=alphas[best],
        params={"n_folds": int(np.unique(folds).size), "alphas": alphas.tolist(),
                "lag_taus": list(reg.LAG_TAUS), "lead_tau": reg.LEAD_TAU,
                "highpass": highpass, "tau": tau})


# ----------------------------------------------------------------------- movement control
@dataclass(eq=False)
class MovementControl:
    """The movement-controlled view of an :class:`~mouseface.neural.encoding.Encoding`.

    Attributes
    ----------
    after_movement
        Each expression tested after the movement regressors (partial correlations).
    movement
        Each movement regressor tested after the expressions.
    variance
        Cross-validated unique variance (:class:`VarianceParts`).
    tracks
        (N,) one of :data:`CATEGORIES` per neuron.
    movement_names
        Names of the movement regressors.
    """

    after_movement: Encoding
    movement: Encoding
    variance: VarianceParts
    tracks: np.ndarray
    movement_names: list[str]

    def counts(self) -> dict[str, int]:
        """Neurons per category."""
        return {c: int((self.tracks == c).sum()) for c in CATEGORIES}

    def tracking(self, plain: Encoding) -> dict[str, int]:
        """What became of the neurons that track an expression in ``plain``: per category,
        and the movement-only neurons among those that track none."""
        track = np.asarray(plain.preferred) != ""
        out = {c: int((self.tracks[track] == c).sum()) for c in CATEGORIES[:4]}
        out["movement_only_others"] = int((self.tracks[~track] == "movement").sum())
        return out

    def columns(self) -> pd.DataFrame:
        """Columns added to the long neuron × expression table (same row order)."""
        a, mv, v = self.after_movement, self.movement, self.variance
        n, e = a.r.shape
        q = np.nan_to_num(mv.q, nan=1.0)
        best = np.argmin(q, axis=1)
        rep = np.repeat
        return pd.DataFrame({
            "r_after_movement": a.r.ravel(), "p_after_movement": a.p.ravel(),
            "q_after_movement": a.q.ravel(),
            "significant_after_movement": a.significant.ravel(),
            "unique_r2": v.unique_expression.ravel(),
            "tracks": rep(self.tracks, e),
            "movement_best": rep(np.asarray(self.movement_names, dtype=object)[best], e),
            "movement_r": rep(mv.r[np.arange(n), best], e),
            "movement_q": rep(q[np.arange(n), best], e),
            "expression_r2_unique": rep(v.unique_expressions, e),
            "movement_r2_unique": rep(v.unique_movement, e),
            "r2_full": rep(v.r2_full, e),
        })


def classify(plain: Encoding, after_movement: Encoding, movement: Encoding) -> np.ndarray:
    """Category of each neuron (see the module docstring) from the three tests.

    Nested in the plain result, so the counts add up: a neuron that tracks an expression
    (has a preferred one) is ``expression`` when some expression is still significant with
    r > 0 after movement and no movement regressor is after the expressions, ``both`` when
    both are, ``movement`` when only movement is, ``shared`` when neither is. A neuron that
    tracks no expression is ``movement`` when a movement regressor is significant after the
    expressions, else ``none``.

    Examples
    --------
    >>> from types import SimpleNamespace as N
    >>> t, f = True, False
    >>> classify(N(preferred=np.array(["a", "a", "", "a", ""])),
    ...          N(positive=np.array([[t], [f], [f], [f], [t]])),
    ...          N(significant=np.array([[f], [t], [t], [f], [f]]))).tolist()
    ['expression', 'movement', 'movement', 'shared', 'none']
    """
    track = np.asarray(plain.preferred) != ""
    expr = after_movement.positive.any(axis=1)
    move = movement.significant.any(axis=1)
    out = np.full(track.shape, "none", dtype=object)
    out[move] = "movement"
    out[track & ~expr & ~move] = "shared"
    out[track & expr & ~move] = "expression"
    out[track & expr & move] = "both"
    return out


def movement_control(
    plain: Encoding,
    traces: np.ndarray,
    expressions: np.ndarray,
    movement: np.ndarray,
    *,
    movement_names: list[str],
    folds: np.ndarray,
    **options: Any,
) -> MovementControl:
    """Test each expression after movement, movement after expressions, and unique variance.

    Parameters
    ----------
    plain
        The plain correlation test of the same traces (its settings are reused).
    traces, expressions
        As given to :func:`~mouseface.neural.encoding.encode` for ``plain``.
    movement
        (K, frames) movement regressors on the same frames.
    movement_names
        Their names (``motion_energy``, ``motion_body``, ``hog_motion_1`` …).
    folds
        Fold label of each frame for the unique variance (:func:`trial_blocks`).
    options
        ``fs``, ``null``, ``n_shifts``, ``min_shift``, ``max_shift``, ``highpass``,
        ``segments``, ``tau``, ``alpha``, ``seed`` for both tests (default: ``plain``'s).

    Returns
    -------
    MovementControl
    """
    mv = np.atleast_2d(np.asarray(movement, dtype=np.float64))
    if len(movement_names) != mv.shape[0]:
        raise InputError(f"{mv.shape[0]} movement regressors but {len(movement_names)} names")
    pp = plain.params
    kw = {"fs": pp["fs"], "null": pp["null"], "highpass": pp["highpass"] or 0.0,
          "tau": pp["tau"], "alpha": pp["alpha"], "seed": pp["seed"],
          "segments": pp["segments"] if len(pp["segments"]) > 1 else None, **options}
    after = encode(traces, expressions, names=plain.names, neuron=plain.neuron,
                   controls=mv, **kw)
    e = np.atleast_2d(np.asarray(expressions, dtype=np.float64))
    if kw.get("tau"):  # the movement test controls for what the expression test tested
        from mouseface.neural.encoding import calcium_convolve

        bounds = reg.segment_bounds(kw["segments"], e.shape[1])
        e = np.hstack([calcium_convolve(e[:, a:b], kw["fs"], kw["tau"]) for a, b in bounds])
    mkw = {**kw, "tau": None}
    moved = encode(traces, mv, names=list(movement_names), neuron=plain.neuron, controls=e,
                   **mkw)
    parts = unique_variance(traces, expressions, mv, fs=kw["fs"], folds=folds,
                            segments=kw["segments"], highpass=kw["highpass"], tau=kw["tau"])
    return MovementControl(after, moved, parts, classify(plain, after, moved),
                           list(movement_names))


# -------------------------------------------------------------------------------- HOG motion
def hog_motion(blocks: Callable[[], Iterable[tuple[int, np.ndarray]]],
               n_components: int = 3, *, batch: int = 2048) -> np.ndarray:
    """Low-rank motion of the face from its HOG features, without decoding the video again.

    The frame-to-frame absolute change of every HOG entry (first frame: 0) is reduced by
    :class:`sklearn.decomposition.IncrementalPCA`, fitted batch by batch in a first pass over
    the blocks and applied in a second, so memory stays flat with the session's length; the
    components' time courses are returned. It is the HOG analogue of the motion SVD of facemap
    (Syeda et al. 2024), which uses pixel differences: HOG changes when edges move or turn
    (whiskers, jaw, ears, eye), hardly with uniform brightness changes.

    Parameters
    ----------
    blocks
        A function returning, afresh at each call, ``(start, hog)`` blocks of consecutive
        frames in order, e.g. ``FeatureStore.iter_blocks``; ``hog`` (frames, features) or
        (frames, cy, cx, orientations).
    n_components
        Components kept.
    batch
        Frames per partial fit (at least ``n_components``).

    Returns
    -------
    ndarray
        (n_components, frames) float64.

    Examples
    --------
    >>> hog = np.random.default_rng(0).random((500, 40))
    >>> hog_motion(lambda: [(0, hog[:300]), (300, hog[300:])], 2).shape
    (2, 500)
    """
    from sklearn.decomposition import IncrementalPCA

    def diffs() -> Iterable[np.ndarray]:
        prev = None
        for _, h in blocks():
            h = np.asarray(h, dtype=np.float32).reshape(len(h), -1)
            start = h[:1] if prev is None else prev
            yield np.abs(np.diff(np.vstack([start, h]), axis=0))
            prev = h[-1:]

    pca = None
    buf: list[np.ndarray] = []
    for d in diffs():
        if pca is None:
            pca = IncrementalPCA(n_components=int(min(n_components, d.shape[1])))
        buf.append(d)
        if sum(len(b) for b in buf) >= max(batch, pca.n_components):
            pca.partial_fit(np.vstack(buf))
            buf = []
    if pca is None:
        raise InputError("no HOG frames for the motion components")
    if buf and (sum(len(b) for b in buf) >= pca.n_components or not hasattr(pca, "components_")):
        pca.partial_fit(np.vstack(buf))
    return np.hstack([pca.transform(d).T for d in diffs()]).astype(np.float64)


__all__ = ["ALPHAS", "CATEGORIES", "MovementControl", "VarianceParts", "classify",
           "hog_motion", "movement_control", "trial_blocks", "unique_variance"]
