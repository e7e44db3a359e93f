"""Each condition against baseline, for every prototype, with multiple-comparison control.

The test is the Wilcoxon signed-rank test on paired windows: for each trial of a condition,
the mean similarity to a prototype in the stimulus window against the mean in the baseline
window before it. A trial's ``score_<p>`` in ``trials.csv`` is exactly that difference
(stimulus mean minus baseline mean, with cross-fitted prototypes), so the test runs on those
scores. The effect size is the matched-pairs rank-biserial correlation
``r = (W+ - W-) / (W+ + W-)`` (Kerby 2014): +1 when every trial rises above its baseline, -1
when every trial falls. p-values are adjusted across all prototypes x conditions with Holm's
step-down method (family-wise error) or Benjamini–Hochberg (false discovery rate).

Trials of several animals are pooled by default (``unit="trial"``); with ``unit="animal"``
each animal contributes its mean score, the conservative choice when animals differ.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.stats import rankdata, wilcoxon

CORRECTIONS = ("holm", "bh", "none")

#: columns of :func:`condition_vs_baseline`
STATS_COLUMNS = ["prototype", "condition", "unit", "n", "mean_change", "median_change",
                 "statistic", "p_value", "p_adjusted", "correction", "rank_biserial",
                 "significant"]


def _sorted_finite(p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``p`` as float, an all-NaN output of its shape, and the finite entries in ascending
    order (NaN p-values are neither adjusted nor counted)."""
    p = np.asarray(p, dtype=np.float64)
    ok = np.flatnonzero(np.isfinite(p))
    return p, np.full_like(p, np.nan), ok[np.argsort(p[ok], kind="stable")]


def holm(p) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values (NaN stays NaN and is not counted)."""
    p, out, order = _sorted_finite(p)
    m = len(order)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted."""
    p, out, order = _sorted_finite(p)
    m = len(order)
    adj = p[order] * m / np.arange(1, m + 1)
    adj = np.minimum.accumulate(adj[::-1])[::-1]
    out[order] = np.minimum(adj, 1.0)
    return out


def adjust(p, method: str = "holm") -> np.ndarray:
    """Adjusted p-values by ``method`` (``holm``, ``bh`` or ``none``)."""
    if method == "holm":
        return holm(p)
    if method == "bh":
        return benjamini_hochberg(p)
    if method == "none":
        return np.asarray(p, dtype=np.float64)
    raise ValueError(f"correction must be one of {CORRECTIONS}, got {method!r}")


def rank_biserial(diff) -> float:
    """Matched-pairs rank-biserial correlation of paired differences (zeros dropped)."""
    d = np.asarray(diff, dtype=np.float64)
    d = d[np.isfinite(d) & (d != 0)]
    if len(d) == 0:
        return float("nan")
    r = rankdata(np.abs(d))
    pos, neg = r[d > 0].sum(), r[d < 0].sum()
    return float((pos - neg) / (pos + neg))


def condition_vs_baseline(
    trials: pd.DataFrame, *, prototypes: list[str] | None = None, score: str = "score",
    correction: str = "holm", alpha: float = 0.05, unit: str = "trial",
) -> pd.DataFrame:
    """Wilcoxon signed-rank test of every condition against baseline, for every prototype.

    Parameters
    ----------
    trials : DataFrame
        ``trial_type``, ``<score>_<prototype>`` columns (stimulus minus baseline window means
        per trial) and, for ``unit="animal"``, ``animal``.
    prototypes : list of str, optional
        Default: every ``<score>_`` column.
    score : {"score", "peak"}, default="score"
    correction : {"holm", "bh", "none"}, default="holm"
        Across all prototype x condition tests.
    alpha : float, default=0.05
        Level for ``significant``.
    unit : {"trial", "animal"}, default="trial"

    Returns
    -------
    DataFrame
        One row per prototype x condition: ``prototype``, ``condition``, ``unit``, ``n``
        (trials or animals with a finite score), ``mean_change``, ``median_change``
        (stimulus minus baseline), ``statistic`` (Wilcoxon W, the smaller rank sum),
        ``p_value`` (two-sided; NaN with fewer than 2 non-zero differences), ``p_adjusted``,
        ``correction``, ``rank_biserial``, ``significant`` (``p_adjusted < alpha``).
    """
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if unit not in ("trial", "animal"):
        raise ValueError(f"unit must be 'trial' or 'animal', got {unit!r}")
    prefix = f"{score}_"
    names = prototypes or [c.removeprefix(prefix) for c in trials.columns
                           if c.startswith(prefix)]
    missing = [p for p in names if prefix + p not in trials.columns]
    if missing:
        raise KeyError(f"no {prefix}<p> columns for {missing}")
    rows = []
    for condition, g in trials.groupby(trials["trial_type"].astype(str), sort=True):
        for p in names:
            d = pd.to_numeric(g[prefix + p], errors="coerce")
            if unit == "animal":
                d = d.groupby(g["animal"].astype(str)).mean()
            d = d[np.isfinite(d)].to_numpy()
            stat = pval = np.nan
            if (d != 0).sum() >= 2:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res = wilcoxon(d)
                stat, pval = float(res.statistic), float(res.pvalue)
            rows.append({"prototype": p, "condition": condition, "unit": unit, "n": len(d),
                         "mean_change": float(d.mean()) if len(d) else np.nan,
                         "median_change": float(np.median(d)) if len(d) else np.nan,
                         "statistic": stat, "p_value": pval, "rank_biserial": rank_biserial(d)})
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=STATS_COLUMNS)
    return with_adjusted(out, correction, alpha)[STATS_COLUMNS]


def with_adjusted(table: pd.DataFrame, correction: str, alpha: float) -> pd.DataFrame:
    """``table`` with ``p_adjusted`` (its ``p_value`` column corrected for the comparisons it
    holds), ``correction`` and ``significant`` (adjusted p below ``alpha``)."""
    table["p_adjusted"] = adjust(table["p_value"].to_numpy(), correction)
    table["correction"] = correction
    table["significant"] = table["p_adjusted"] < alpha
    return table


__all__ = ["CORRECTIONS", "STATS_COLUMNS", "adjust", "benjamini_hochberg",
           "condition_vs_baseline", "holm", "rank_biserial"]
