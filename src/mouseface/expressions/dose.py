"""Dose–response: does a trial's expression score grow with the stimulus?

The score of each trial (e.g. ``score_pain`` of ``trials.csv``) is set against a numeric
column of the events (e.g. ``intensity``). Reported: Spearman's rank correlation with its
p-value and a percentile bootstrap confidence interval over trials (trials resampled with
replacement), and a monotone fit (:class:`sklearn.isotonic.IsotonicRegression`, direction
chosen from the data) with the fitted score at each dose.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr
from sklearn.isotonic import IsotonicRegression

#: columns of :func:`dose_table`
DOSE_COLUMNS = ["scope", "prototype", "score", "column", "n", "rho", "p_value", "ci_low",
                "ci_high", "increasing", "isotonic_r2", "doses", "fitted", "mean_score"]


def bootstrap_spearman(x, y, *, n_boot: int = 2000, ci: float = 0.95,
                       random_state: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of Spearman's rho, resampling (x, y) pairs.

    Resamples in which ``x`` or ``y`` is constant are skipped.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rng = np.random.default_rng(random_state)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    rx = rankdata(x[idx], axis=1)
    ry = rankdata(y[idx], axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    den = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
    ok = den > 0
    if not ok.any():
        return float("nan"), float("nan")
    rho = (rx[ok] * ry[ok]).sum(axis=1) / den[ok]
    alpha = (1 - ci) / 2
    lo, hi = np.quantile(rho, [alpha, 1 - alpha])
    return float(lo), float(hi)


def dose_response(dose, score, *, n_boot: int = 2000, ci: float = 0.95,
                  random_state: int = 0) -> dict:
    """Spearman rho (with bootstrap CI) and an isotonic fit of ``score`` on ``dose``.

    Parameters
    ----------
    dose, score : array-like, shape (n_trials,)
        Non-finite pairs are dropped.
    n_boot : int, default=2000
    ci : float, default=0.95
    random_state : int, default=0

    Returns
    -------
    dict
        ``n``, ``rho``, ``p_value`` (two-sided, scipy), ``ci_low``, ``ci_high``,
        ``increasing`` (direction of the isotonic fit), ``isotonic_r2`` (variance of the
        scores explained by the fit), ``doses`` (distinct doses, sorted), ``fitted`` (the fit
        at each of them), ``mean_score`` (mean score at each of them).
    """
    dose = np.asarray(dose, dtype=np.float64)
    score = np.asarray(score, dtype=np.float64)
    ok = np.isfinite(dose) & np.isfinite(score)
    dose, score = dose[ok], score[ok]
    out = {"n": int(len(dose)), "rho": np.nan, "p_value": np.nan, "ci_low": np.nan,
           "ci_high": np.nan, "increasing": None, "isotonic_r2": np.nan, "doses": [],
           "fitted": [], "mean_score": []}
    if len(dose) < 3 or np.ptp(dose) == 0 or np.ptp(score) == 0:
        return out
    res = spearmanr(dose, score)
    out["rho"], out["p_value"] = float(res.statistic), float(res.pvalue)
    out["ci_low"], out["ci_high"] = bootstrap_spearman(dose, score, n_boot=n_boot, ci=ci,
                                                       random_state=random_state)
    with warnings.catch_warnings():  # it warns when rho's CI spans 0; we report that CI
        warnings.simplefilter("ignore", UserWarning)
        iso = IsotonicRegression(increasing="auto", out_of_bounds="clip").fit(dose, score)
    levels = np.unique(dose)
    resid = score - iso.predict(dose)
    out["increasing"] = bool(iso.increasing_)
    out["isotonic_r2"] = float(1 - resid.var() / score.var())
    out["doses"] = levels.tolist()
    out["fitted"] = iso.predict(levels).tolist()
    out["mean_score"] = [float(score[dose == d].mean()) for d in levels]
    return out


def dose_table(
    trials: pd.DataFrame, column: str, prototype: str | None = None, *, score: str = "score",
    conditions: list[str] | None = None, n_boot: int = 2000, ci: float = 0.95,
    random_state: int = 0,
) -> pd.DataFrame:
    """Dose–response pooled over animals and for each animal.

    Parameters
    ----------
    trials : DataFrame
        ``trials.csv``: ``trial_type``, ``animal``, ``column`` and ``<score>_<prototype>``.
    column : str
        Numeric events column holding the dose (e.g. ``intensity``).
    prototype : str, optional
        Score every trial (of ``conditions``) with this prototype. Default: each condition
        with its own prototype (trials of condition c scored with ``score_c``), one analysis
        per condition.
    score : {"score", "peak"}, default="score"
        Which trial score (mean or peak change from baseline).
    conditions : list of str, optional
        Trials to include (default all, or each condition on its own without ``prototype``).

    Returns
    -------
    DataFrame
        One row per analysis: ``scope`` (``pooled`` or the animal), ``prototype``, ``score``,
        ``column``, then the keys of :func:`dose_response`.
    """
    if column not in trials.columns:
        raise KeyError(f"no column {column!r} in the trials table")
    dose = pd.to_numeric(trials[column], errors="coerce")
    if dose.notna().sum() == 0:
        raise ValueError(f"column {column!r} holds no numbers")
    kinds = trials["trial_type"].astype(str)
    if prototype is None:
        plans = [(c, kinds == c) for c in sorted(kinds.unique())
                 if f"{score}_{c}" in trials.columns]
        if not plans:
            raise KeyError(f"no {score}_<condition> columns for the conditions "
                           f"{sorted(kinds.unique())}")
    else:
        if f"{score}_{prototype}" not in trials.columns:
            raise KeyError(f"no column '{score}_{prototype}' in the trials table")
        plans = [(prototype, kinds.isin(conditions) if conditions
                  else pd.Series(True, index=trials.index))]
    if conditions and prototype is None:
        plans = [(c, m) for c, m in plans if c in conditions]
    rows = []
    for proto, mask in plans:
        sub = trials[mask.to_numpy()]
        scopes = [("pooled", sub)] + [(str(a), g) for a, g in sub.groupby("animal", sort=True)]
        for scope, g in scopes:
            r = dose_response(dose[g.index], g[f"{score}_{proto}"], n_boot=n_boot, ci=ci,
                              random_state=random_state)
            rows.append({"scope": scope, "prototype": proto, "score": score, "column": column,
                         **r})
    return pd.DataFrame(rows, columns=DOSE_COLUMNS)


__all__ = ["DOSE_COLUMNS", "bootstrap_spearman", "dose_response", "dose_table"]
