"""The same stimulus under different conditions: trial scores split by an events column.

Dolensek et al. (2020) showed that a face tracks the changing value of one stimulus: sucrose
pleases a thirsty mouse more than a sated one; a very salty solution disgusts more than a mildly
salty one. :func:`compare_levels` asks that question of any events column (``need`` =
thirsty/sated, ``concentration``, ``day``...): for each condition (``trial_type``) and
prototype, how much the trial scores differ between two levels of the column.

**Unit.** Trials of one animal are not independent of each other, animals are. With at least
``min_animals`` animals the comparison is over animals (each animal's mean score per level);
with fewer it is over trials, and the table says so (``unit``):

==============  ==================  ============================================================
unit            same animals in     difference, confidence interval, test
                both levels?
==============  ==================  ============================================================
``animal``      yes (paired)        mean over animals of (mean b - mean a); bootstrap over
                                    animals; sign-flip permutation test (exact up to 2^14)
``animal``      no                  mean of animal means b - a; bootstrap over animals within
                                    each level; permutation of animals between levels
``trial``       yes (paired)        mean over animals of (mean b - mean a) from their trials;
                                    bootstrap over trials within animal and level; permutation
                                    of the level labels among each animal's own trials
``trial``       no                  mean over trials b - a; bootstrap over trials within each
                                    level; permutation of trials between levels (differences
                                    between animals are part of it: say so)
==============  ==================  ============================================================

A paired comparison over trials in which some animal has a single trial at a level is made
over animals instead (a bootstrap within animal and level would resample that one trial: a
zero-width interval); ``unit`` and ``note`` say so. Animals seen in only one level are left out
of a paired comparison. ``standardized`` is the
difference in units of the pooled within-level standard deviation of the trial scores (a
Cohen's d). p-values are two-sided, ``(1 + #|null| >= |observed|) / (1 + n)``, and adjusted
over every condition x prototype x level row (Holm by default, :mod:`.stats`).

Two levels are compared as ``b - a`` with ``a`` the first in sorted order (numbers
numerically, text alphabetically: ``sated`` before ``thirsty``, so a positive difference is
*higher when thirsty*), or as given; with more levels each is compared with the first.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _sp

from mouseface.expressions.stats import CORRECTIONS, with_adjusted
from mouseface.io.tables import event_columns

UNITS = ("auto", "animal", "trial")
#: columns of :func:`compare_levels`
COMPARE_COLUMNS = ["condition", "prototype", "by", "level_a", "level_b", "unit", "paired",
                   "n_animals", "n_a", "n_b", "mean_a", "mean_b", "difference", "ci_low",
                   "ci_high", "standardized", "test", "p_value", "p_adjusted", "correction",
                   "significant", "note"]


def sorted_levels(values: pd.Series) -> list:
    """Distinct non-empty values of a column, numbers numerically, text alphabetically.

    Examples
    --------
    >>> sorted_levels(pd.Series(["thirsty", "sated", None, "thirsty"]))
    ['sated', 'thirsty']
    >>> sorted_levels(pd.Series([0.5, 0.1, 0.5]))
    [0.1, 0.5]
    """
    v = values.dropna()
    v = v[v.astype(str).str.strip() != ""]
    num = pd.to_numeric(v, errors="coerce")
    if len(v) and num.notna().all():
        return sorted(num.unique().tolist())
    return sorted(v.astype(str).unique().tolist())


def _pooled_sd(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = len(a), len(b)
    if na + nb < 3:
        return float("nan")
    va = a.var(ddof=1) if na > 1 else 0.0
    vb = b.var(ddof=1) if nb > 1 else 0.0
    return float(np.sqrt(((na - 1) * va + (nb - 1) * vb) / max(na + nb - 2, 1)))


def _p_two_sided(null: np.ndarray, observed: float) -> float:
    null = null[np.isfinite(null)]
    return float((1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + len(null)))


def _quantiles(boot: np.ndarray, ci: float) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if len(boot) == 0:
        return float("nan"), float("nan")
    lo, hi = np.quantile(boot, [(1 - ci) / 2, (1 + ci) / 2])
    return float(lo), float(hi)


def paired_animals(d: np.ndarray, *, n_boot: int, n_perm: int, ci: float,
                   rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Mean of per-animal differences, its bootstrap CI and the sign-flip permutation p.

    Returns ``(difference, ci_low, ci_high, p_value)``. With ``2 ** len(d) <= max(n_perm,
    16384)`` every sign pattern is enumerated (an exact test).
    """
    d = np.asarray(d, dtype=np.float64)
    n = len(d)
    obs = float(d.mean())
    boot = d[rng.integers(0, n, (n_boot, n))].mean(axis=1)
    if 2 ** n <= max(n_perm, 16384):
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
        null = (signs * d).mean(axis=1)
        p = float(np.mean(np.abs(null) >= abs(obs) - 1e-12))
    else:
        signs = rng.choice((-1.0, 1.0), (n_perm, n))
        p = _p_two_sided((signs * d).mean(axis=1), obs)
    return (obs, *_quantiles(boot, ci), p)


def independent(a: np.ndarray, b: np.ndarray, *, n_boot: int, n_perm: int, ci: float,
                rng: np.random.Generator) -> tuple[float, float, float, float]:
    """``mean(b) - mean(a)``, bootstrap CI (resampling within each group), permutation p."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    obs = float(b.mean() - a.mean())
    boot = (b[rng.integers(0, len(b), (n_boot, len(b)))].mean(axis=1)
            - a[rng.integers(0, len(a), (n_boot, len(a)))].mean(axis=1))
    res = _sp.permutation_test((b, a), lambda x, y, axis: x.mean(axis=axis) - y.mean(axis=axis),
                               permutation_type="independent", vectorized=True,
                               n_resamples=n_perm, alternative="two-sided", random_state=rng)
    return (obs, *_quantiles(boot, ci), float(res.pvalue))


def stratified(scores: np.ndarray, is_b: np.ndarray, animal: np.ndarray, *, n_boot: int,
               n_perm: int, ci: float, rng: np.random.Generator
               ) -> tuple[float, float, float, float]:
    """Trials of animals seen in both levels: the mean over animals of their own difference
    (mean b - mean a), a bootstrap CI over trials within animal and level, and a permutation
    test that shuffles the level labels among each animal's own trials."""
    scores = np.asarray(scores, np.float64)
    is_b = np.asarray(is_b, bool)
    codes, animal = np.unique(np.asarray(animal).astype(str), return_inverse=True)
    k = len(codes)

    def stat(labels: np.ndarray) -> np.ndarray:
        # labels: (m, n) bool -> per-row mean over animals of (mean b - mean a)
        out = np.zeros(labels.shape[0])
        for j in range(k):
            cols = animal == j
            lab = labels[:, cols]
            x = scores[cols]
            nb = lab.sum(axis=1)
            na = lab.shape[1] - nb
            out += (lab @ x) / nb - ((~lab) @ x) / na
        return out / k

    obs = float(stat(is_b[None, :])[0])
    perms = np.empty((n_perm, len(scores)), bool)
    for j in range(k):
        cols = np.flatnonzero(animal == j)
        lab = is_b[cols]
        perms[:, cols] = lab[rng.permuted(np.tile(np.arange(len(cols)), (n_perm, 1)),
                                          axis=1)]
    p = _p_two_sided(stat(perms), obs)
    boot = np.zeros(n_boot)
    for j in range(k):
        for level in (True, False):
            x = scores[(animal == j) & (is_b == level)]
            m = x[rng.integers(0, len(x), (n_boot, len(x)))].mean(axis=1)
            boot += m if level else -m
    return (obs, *_quantiles(boot / k, ci), p)


def compare_levels(
    trials: pd.DataFrame,
    by: str,
    *,
    levels: Sequence | None = None,
    score: str = "score",
    prototypes: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    unit: str = "auto",
    min_animals: int = 6,
    n_boot: int = 2000,
    n_perm: int = 5000,
    ci: float = 0.95,
    alpha: float = 0.05,
    correction: str = "holm",
    random_state: int = 0,
) -> pd.DataFrame:
    """Trial scores of each condition and prototype compared between levels of ``by``.

    Parameters
    ----------
    trials : DataFrame
        ``trials.csv``: ``trial_type``, ``animal``, the column ``by`` and
        ``<score>_<prototype>`` columns.
    by : str
        The events column whose levels are compared (e.g. ``need``, ``concentration``).
    levels : sequence, optional
        The levels, reference first; default every level in sorted order (see the module).
    score : {"score", "peak"}, default="score"
    prototypes : list of str, optional
        Default every ``<score>_`` column.
    conditions : list of str, optional
        Default every condition with trials in at least two levels.
    unit : {"auto", "animal", "trial"}, default="auto"
        ``auto``: animals when at least ``min_animals`` animals contribute, else trials.
    min_animals : int, default=6
        Fewest animals for ``auto`` to compare animals (an exact paired sign-flip test of 6
        animals can reach p = 0.03; of 4, no lower than 0.125).
    n_boot, n_perm : int
        Bootstrap and permutation resamples.
    ci : float, default=0.95
    alpha : float, default=0.05
        Level for ``significant`` (on ``p_adjusted``).
    correction : {"holm", "bh", "none"}, default="holm"
    random_state : int, default=0

    Returns
    -------
    DataFrame
        One row per condition x prototype x level (against the reference):
        :data:`COMPARE_COLUMNS`.

    Raises
    ------
    KeyError
        ``by`` or a score column is missing.
    ValueError
        Fewer than two levels, a bad ``unit`` or ``correction``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> t = pd.DataFrame({"trial_type": "pleasure", "animal": np.repeat(list("abcdef"), 8),
    ...                   "need": np.tile(["thirsty"] * 4 + ["sated"] * 4, 6)})
    >>> t["score_pleasure"] = np.where(t.need == "thirsty", 0.3, 0.1) + rng.normal(0, .05, 48)
    >>> r = compare_levels(t, "need").iloc[0]
    >>> r.level_b, r.unit, bool(r.difference > 0), bool(r.significant)
    ('thirsty', 'animal', True, True)
    """
    if unit not in UNITS:
        raise ValueError(f"unit must be one of {UNITS}, got {unit!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {correction!r}")
    if by not in trials.columns:
        own = event_columns(trials)
        raise KeyError(f"no column '{by}' in the trials (columns: {', '.join(own)})")
    prefix = f"{score}_"
    names = list(prototypes) if prototypes else [c.removeprefix(prefix) for c in trials.columns
                                                 if c.startswith(prefix)]
    missing = [p for p in names if prefix + p not in trials.columns]
    if missing or not names:
        raise KeyError(f"no {prefix}<prototype> columns for {missing or 'any prototype'}")
    t = trials.copy()
    if "animal" not in t.columns:
        t["animal"] = t["session"] if "session" in t.columns else "all"
    t["animal"] = t["animal"].astype(str)
    all_levels = sorted_levels(t[by])
    if levels is None:
        levels = all_levels
    else:
        levels = list(levels)
        numeric = all(isinstance(v, int | float) for v in all_levels)
        levels = [float(v) if numeric else str(v) for v in levels]
        unknown = [v for v in levels if v not in all_levels]
        if unknown:
            raise ValueError(f"levels {unknown} not in column '{by}' (it has {all_levels})")
    if len(levels) < 2:
        raise ValueError(f"column '{by}' has fewer than two levels ({all_levels}): nothing to "
                         "compare")
    numeric = all(isinstance(v, int | float) for v in levels)
    key = pd.to_numeric(t[by], errors="coerce") if numeric else t[by].astype(str)
    rng = np.random.default_rng(random_state)
    rows = []
    kinds = conditions or sorted(t["trial_type"].astype(str).unique())
    for condition in kinds:
        g = t[t["trial_type"].astype(str) == str(condition)]
        gk = key[g.index]
        ref = levels[0]
        for other in levels[1:]:
            pair = g[gk.isin([ref, other])]
            if (gk[pair.index] == ref).sum() == 0 or (gk[pair.index] == other).sum() == 0:
                continue
            for p in names:
                rows.append(_one(pair, gk[pair.index] == other, pd.to_numeric(
                    pair[prefix + p], errors="coerce").to_numpy(dtype=np.float64),
                    condition=str(condition), prototype=p, by=by, a=ref, b=other, unit=unit,
                    min_animals=min_animals, n_boot=n_boot, n_perm=n_perm, ci=ci, rng=rng))
    out = pd.DataFrame(rows, columns=[c for c in COMPARE_COLUMNS
                                      if c not in ("p_adjusted", "correction", "significant")])
    if out.empty:
        return pd.DataFrame(columns=COMPARE_COLUMNS)
    return with_adjusted(out, correction, alpha)[COMPARE_COLUMNS]


def _one(g: pd.DataFrame, is_b: pd.Series, x: np.ndarray, *, condition, prototype, by, a, b,
         unit, min_animals, n_boot, n_perm, ci, rng) -> dict:
    ok = np.isfinite(x)
    x, is_b, animal = x[ok], is_b.to_numpy()[ok], g["animal"].to_numpy()[ok]
    xa, xb = x[~is_b], x[is_b]
    both = sorted(set(animal[is_b]) & set(animal[~is_b]))
    paired = len(both) > 0
    n_animals = len(both) if paired else len(set(animal))
    chosen = unit if unit != "auto" else ("animal" if n_animals >= min_animals else "trial")
    row = {"condition": condition, "prototype": prototype, "by": by, "level_a": a,
           "level_b": b, "unit": chosen, "paired": paired, "n_animals": n_animals,
           "mean_a": float(xa.mean()) if len(xa) else np.nan,
           "mean_b": float(xb.mean()) if len(xb) else np.nan,
           "standardized": np.nan, "note": ""}
    nan = (np.nan, np.nan, np.nan, np.nan)
    if paired:
        keep = np.isin(animal, both)
        x, is_b, animal = x[keep], is_b[keep], animal[keep]
        left = n_animals < len(set(g["animal"]))
        if left:
            row["note"] = "animals seen in one level only are left out"
        cells = pd.Series(is_b).groupby([animal, is_b]).size()
        if chosen == "trial" and cells.min() < 2:
            # a bootstrap within animal and level would resample one trial (a zero-width
            # interval): each animal's own difference is the unit there is
            chosen = row["unit"] = "animal"
            row["note"] = "; ".join(filter(None, [
                row["note"], "one trial per level in some animal: nothing to resample within "
                "animals, compared over animals (paired)"]))
        if chosen == "animal":
            means = pd.DataFrame({"x": x, "b": is_b, "animal": animal}).groupby(
                ["animal", "b"])["x"].mean().unstack()
            d = (means[True] - means[False]).to_numpy()
            res = paired_animals(d, n_boot=n_boot, n_perm=n_perm, ci=ci, rng=rng) \
                if len(d) >= 2 else nan
            test = "sign-flip permutation over animals (paired)"
        else:
            res = stratified(x, is_b, animal, n_boot=n_boot, n_perm=n_perm, ci=ci, rng=rng) \
                if len(x) >= 4 else nan
            test = "permutation of levels within each animal's trials"
    else:
        if chosen == "animal":
            means = pd.DataFrame({"x": x, "b": is_b, "animal": animal}).groupby(
                ["animal", "b"])["x"].mean().reset_index()
            ma, mb = (means.loc[~means["b"], "x"].to_numpy(),
                      means.loc[means["b"], "x"].to_numpy())
            res = independent(ma, mb, n_boot=n_boot, n_perm=n_perm, ci=ci, rng=rng) \
                if min(len(ma), len(mb)) >= 2 else nan
            test = "permutation of animals between levels"
        else:
            res = independent(x[~is_b], x[is_b], n_boot=n_boot, n_perm=n_perm, ci=ci,
                              rng=rng) if min((~is_b).sum(), is_b.sum()) >= 2 else nan
            test = "permutation of trials between levels"
            row["note"] = ("different animals in the two levels, compared over trials: "
                           "differences between animals are part of the difference")
    row["n_a"], row["n_b"] = int((~is_b).sum()), int(is_b.sum())
    row["difference"], row["ci_low"], row["ci_high"], row["p_value"] = res
    sd = _pooled_sd(x[~is_b], x[is_b])
    if np.isfinite(res[0]) and sd > 0:
        row["standardized"] = float(res[0] / sd)
    row["test"] = test
    return row


__all__ = ["COMPARE_COLUMNS", "UNITS", "compare_levels", "independent", "paired_animals",
           "sorted_levels", "stratified"]
