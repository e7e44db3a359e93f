"""Facial action units per condition: how much each changed, and which tell the conditions apart.

The trial scores ``au_<name>`` of ``trials.csv`` (``run --poses``) are already each trial's
change from its own baseline window (stimulus-window mean minus baseline-window mean, against
the animal's neutral: :mod:`mouseface.workflows.action_units`). Here they are summarised per
condition and action unit:

- :func:`au_changes`: the mean change over the condition's trials with a percentile bootstrap
  confidence interval (trials resampled within the condition; with several animals, within
  each animal, so that every resample keeps the animals' shares);
- :func:`au_separation`: for each action unit, how well it separates the conditions: the
  Kruskal–Wallis test across conditions with its effect size ε² = H / (n - 1) (0: no
  separation, 1: the conditions' trials do not overlap; Tomczak & Tomczak 2014), and each
  condition's one-vs-rest AUC (the probability that a trial of the condition has a higher
  change than a trial of another condition: 0.5 none, 1 or 0 complete).

These are descriptive: one p per action unit, no correction across them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from mouseface.io.tables import natural_key

#: columns of :func:`au_changes`
CHANGE_COLUMNS = ["action_unit", "condition", "n", "n_animals", "mean_change", "ci_low",
                  "ci_high"]
#: columns of :func:`au_separation` (then ``auc_<condition>`` per condition)
SEPARATION_COLUMNS = ["action_unit", "n", "kruskal_h", "p_value", "epsilon_squared",
                      "best_condition", "best_auc"]


def au_columns(table: pd.DataFrame) -> list[str]:
    """The ``au_<name>`` columns of a table that hold at least one finite value."""
    return [c for c in table.columns if c.startswith("au_")
            and np.isfinite(pd.to_numeric(table[c], errors="coerce")).any()]


def _conditions(trials: pd.DataFrame) -> list[str]:
    return sorted(trials["trial_type"].astype(str).unique(), key=natural_key)


def au_changes(trials: pd.DataFrame, *, n_boot: int = 2000, ci: float = 0.95,
               seed: int = 0) -> pd.DataFrame:
    """Mean change of every action unit in every condition, with a bootstrap CI.

    Parameters
    ----------
    trials : DataFrame
        ``trial_type``, ``au_<name>`` columns and optionally ``animal`` (``trials.csv``).
    n_boot : int, default=2000
        Bootstrap resamples.
    ci : float, default=0.95
    seed : int, default=0

    Returns
    -------
    DataFrame
        :data:`CHANGE_COLUMNS`: one row per action unit x condition (conditions in reading
        order); ``n`` trials with a finite score; CI NaN with fewer than 2 trials.

    Examples
    --------
    >>> t = pd.DataFrame({"trial_type": ["a"] * 4 + ["b"] * 4,
    ...                   "au_eye_opening": [-0.4, -0.5, -0.45, -0.5, 0.0, 0.05, -0.05, 0.0]})
    >>> r = au_changes(t, n_boot=200)
    >>> r[["condition", "n", "mean_change"]].round(3).values.tolist()
    [['a', 4, -0.462], ['b', 4, 0.0]]
    >>> bool(r.loc[0, "ci_high"] < r.loc[1, "ci_low"])
    True
    """
    rng = np.random.default_rng(seed)
    animal = (trials["animal"].astype(str) if "animal" in trials.columns
              else pd.Series("", index=trials.index))
    rows = []
    for col in au_columns(trials):
        x = pd.to_numeric(trials[col], errors="coerce")
        for cond in _conditions(trials):
            m = (trials["trial_type"].astype(str) == cond) & np.isfinite(x)
            v, a = x[m].to_numpy(np.float64), animal[m].to_numpy()
            lo = hi = np.nan
            if len(v) >= 2:
                # resample within each animal: every resample keeps each animal's trials
                groups = [v[a == g] for g in np.unique(a)]
                boot = np.concatenate([g[rng.integers(0, len(g), (n_boot, len(g)))]
                                       for g in groups], axis=1).mean(axis=1)
                lo, hi = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2])
            rows.append({"action_unit": col.removeprefix("au_"), "condition": cond,
                         "n": len(v), "n_animals": len(set(a)),
                         "mean_change": float(v.mean()) if len(v) else np.nan,
                         "ci_low": float(lo), "ci_high": float(hi)})
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS)


def au_separation(trials: pd.DataFrame) -> pd.DataFrame:
    """How well each action unit separates the conditions (see the module).

    Returns
    -------
    DataFrame
        :data:`SEPARATION_COLUMNS` then ``auc_<condition>`` (one-vs-rest) per condition; one
        row per action unit, the best separating first (largest ε²). Needs two conditions
        with trials; ``p_value`` is the Kruskal–Wallis test's.

    Examples
    --------
    >>> t = pd.DataFrame({"trial_type": ["a"] * 3 + ["b"] * 3,
    ...                   "au_eye_opening": [-0.5, -0.4, -0.45, 0.0, 0.1, -0.05],
    ...                   "au_ear_angle": [1.0, -2.0, 0.5, -1.0, 2.0, 0.0]})
    >>> r = au_separation(t)
    >>> r["action_unit"].tolist(), float(r.loc[0, "auc_a"])
    (['eye_opening', 'ear_angle'], 0.0)
    """
    from scipy.stats import kruskal, mannwhitneyu

    conditions = _conditions(trials)
    rows = []
    for col in au_columns(trials):
        x = pd.to_numeric(trials[col], errors="coerce")
        ok = np.isfinite(x)
        groups = {c: x[ok & (trials["trial_type"].astype(str) == c)].to_numpy(np.float64)
                  for c in conditions}
        groups = {c: g for c, g in groups.items() if len(g)}
        n = sum(len(g) for g in groups.values())
        h = p = eps = np.nan
        if len(groups) >= 2 and n > len(groups):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    res = kruskal(*groups.values())
                    h, p = float(res.statistic), float(res.pvalue)
                except ValueError:  # every value equal
                    h, p = 0.0, 1.0
            eps = h / (n - 1) if np.isfinite(h) else np.nan
        row = {"action_unit": col.removeprefix("au_"), "n": n, "kruskal_h": h, "p_value": p,
               "epsilon_squared": eps}
        best, best_auc = None, np.nan
        for c in conditions:
            g = groups.get(c)
            rest = np.concatenate([v for k, v in groups.items() if k != c] or [np.empty(0)])
            auc = np.nan
            if g is not None and len(rest):
                u = mannwhitneyu(g, rest, alternative="two-sided").statistic
                auc = float(u / (len(g) * len(rest)))
            row[f"auc_{c}"] = auc
            if np.isfinite(auc) and (best is None or abs(auc - 0.5) > abs(best_auc - 0.5)):
                best, best_auc = c, auc
        row["best_condition"], row["best_auc"] = best, best_auc
        rows.append(row)
    cols = SEPARATION_COLUMNS + [f"auc_{c}" for c in conditions]
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("epsilon_squared", ascending=False, ignore_index=True,
                           na_position="last")


__all__ = ["CHANGE_COLUMNS", "SEPARATION_COLUMNS", "au_changes", "au_columns",
           "au_separation"]
