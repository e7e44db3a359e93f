"""``mouseface compare DIR --by COLUMN``: trial scores split by an events column.

Reads ``trials.csv`` of a results folder, compares every condition and prototype between the
levels of ``COLUMN`` (:func:`mouseface.expressions.compare.compare_levels`), and writes into
``DIR/analysis/`` (paths from :meth:`~mouseface.io.layout.ResultsLayout.comparison`):
``compare_<column>.csv`` (the table), ``compare_<column>.json`` (settings and, per condition,
its own prototype's difference: the headline the report shows) and
``compare_<column>.png/.svg``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.expressions import compare as _compare
from mouseface.io.results import Results


def compare(
    results: str | Path | Results, by: str, *, levels: Sequence | None = None,
    score: str = "score", prototypes: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None, unit: str = "auto", min_animals: int = 6,
    n_boot: int = 2000, n_perm: int = 5000, ci: float = 0.95, alpha: float = 0.05,
    correction: str = "holm", random_state: int = 0, write: bool = True,
) -> pd.DataFrame:
    """Compare trial scores between levels of the events column ``by`` (see the module).

    Parameters are those of :func:`mouseface.expressions.compare.compare_levels`.

    Returns
    -------
    DataFrame
        :data:`mouseface.expressions.compare.COMPARE_COLUMNS`; ``attrs["files"]`` lists what
        was written.

    Raises
    ------
    InputError
        No such column, fewer than two levels, no condition with trials in two levels, a bad
        option.
    """
    r = results if isinstance(results, Results) else Results(results)
    trials = r.trials
    if score not in ("score", "peak"):
        raise InputError(f"score must be score or peak; got {score!r}")
    try:
        table = _compare.compare_levels(
            trials, by, levels=levels, score=score, prototypes=prototypes,
            conditions=conditions, unit=unit, min_animals=min_animals, n_boot=n_boot,
            n_perm=n_perm, ci=ci, alpha=alpha, correction=correction,
            random_state=random_state)
    except (KeyError, ValueError) as exc:
        raise InputError(str(exc).strip("'\""), r.layout.trials) from None
    if table.empty:
        raise InputError(f"no condition has trials at two levels of '{by}'", r.layout.trials)
    if write:
        from mouseface.report.behaviour_figures import compare_figure

        lay = r.layout
        with atomic_path(lay.comparison(by)) as tmp:
            table.to_csv(tmp, index=False)
        points = _own_scores(trials, table, by, score)
        files = [lay.comparison(by)]
        files += compare_figure(table, points, lay.comparison_figure(by))
        files.append(lay.comparison_summary(by))
        write_json(files[-1], _headline(table, by, score))
        table.attrs["files"] = [str(f) for f in files]
    return table


def _own_scores(trials: pd.DataFrame, table: pd.DataFrame, by: str, score: str) -> pd.DataFrame:
    """Each compared condition's trials scored with its own prototype, at each level."""
    parts = []
    levels = list(dict.fromkeys([*table["level_a"], *table["level_b"]]))
    for cond in dict.fromkeys(table["condition"]):
        col = f"{score}_{cond}"
        if col not in trials.columns:
            continue
        t = trials[trials["trial_type"].astype(str) == cond]
        key = t[by] if isinstance(levels[0], str) else pd.to_numeric(t[by], errors="coerce")
        key = key.astype(str) if isinstance(levels[0], str) else key
        t = t[key.isin(levels)]
        parts.append(pd.DataFrame({"condition": cond, "animal": t["animal"].astype(str),
                                   "level": key[t.index], "score": t[col]}))
    out = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["condition", "animal", "level", "score"])
    out["level"] = pd.Categorical(out["level"], categories=levels, ordered=True)
    return out.sort_values("level", kind="stable").assign(level=lambda d: d["level"].astype(
        object))


def _headline(table: pd.DataFrame, by: str, score: str) -> dict[str, Any]:
    own = table[table["condition"] == table["prototype"]]
    return {"by": by, "score": score,
            "levels": list(dict.fromkeys([*table["level_a"], *table["level_b"]])),
            "correction": str(table["correction"].iloc[0]),
            "own_prototype": json.loads(own[[
                "condition", "level_a", "level_b", "unit", "paired", "n_animals", "n_a", "n_b",
                "difference", "ci_low", "ci_high", "standardized", "test", "p_value",
                "p_adjusted", "significant", "note"]].to_json(orient="records")),
            "significant_rows": int(table["significant"].sum()), "rows": len(table)}


__all__ = ["compare"]
