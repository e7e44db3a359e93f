"""What a results folder found, with its uncertainty: the report's "Findings" block and
``mouseface summary``.

:func:`findings` reads what the workflows wrote and nothing else (paths from
:class:`~mouseface.io.layout.ResultsLayout`); every part is optional and appears when its
files exist:

- **trials** (``trials.csv``): how many trials their own condition's prototype top-scores
  among the emotion prototypes (cross-fitted ``score_`` columns), with a Wilson 95% interval
  and a one-sided binomial test against chance (one over the number of emotion prototypes);
  per condition, the mean score of its own prototype with a 95% t interval over trials;
- **bouts** (``behaviour/bouts_summary.json``): freezing and escape bouts found, rejected;
- **comparisons** (``analysis/compare_<column>.json``): each condition's own prototype
  between the levels of a column: difference, interval, p and adjusted p;
- **classification** (``analysis/classification.json``): balanced accuracy against chance;
- **neurons** (``neural/neural_summary.json``): neurons tracking an expression, what the
  movement control left, decoding of the condition;
- **truth** (``simulation_check.json``, written by ``mouseface demo`` only): the same results
  against the simulation's ground truth.

:func:`findings_lines` says the same in plain text (``mouseface summary`` and ``mouseface
demo`` print it); :func:`comparison_lines` is the table ``mouseface compare`` prints.

Trials of one animal are not independent: the intervals over trials are narrower than
intervals over animals would be. ``mouseface compare --unit animal`` compares over animals.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface.expressions.trials import top_prototype
from mouseface.expressions.windows import NEUTRAL
from mouseface.io.layout import ResultsLayout
from mouseface.io.tables import natural_key

__all__ = ["binomial_p_greater", "comparison_lines", "findings", "findings_lines", "format_p",
           "truth_lines", "wilson_interval"]

#: the level of every interval shown
CONFIDENCE = 0.95


def findings(results_dir: str | Path) -> dict[str, Any]:
    """The headline results of a results folder (see the module); a part whose files are
    missing or unreadable is left out, and an unreadable file is named under ``unreadable``.

    Parameters
    ----------
    results_dir
        A folder ``mouseface run``, ``score`` or ``demo`` wrote.

    Returns
    -------
    dict
        ``trials``, ``bouts``, ``comparisons`` (a list), ``classification``, ``neurons``,
        ``truth``: each None (or empty) when its files do not exist; ``unreadable``: files that
        exist but could not be read.
    """
    layout = ResultsLayout(results_dir)
    bad: list[str] = []

    def _json(path: Path) -> dict | None:
        return optional_json(path, lambda p, _: bad.append(str(p)))

    out: dict[str, Any] = {"trials": None, "bouts": None, "comparisons": [],
                           "classification": None, "neurons": None, "truth": None,
                           "unreadable": bad}
    if layout.trials.is_file():
        try:
            trials = pd.read_csv(layout.trials)
        except (OSError, ValueError, pd.errors.ParserError):
            bad.append(str(layout.trials))
        else:
            out["trials"] = _trials(trials)
    bouts = _json(layout.bouts_summary)
    if bouts:
        out["bouts"] = {"counts": bouts.get("bouts", {}), "context": bouts.get("context"),
                        "rejected": len(bouts.get("rejected") or []),
                        "sessions": len(bouts.get("per_session") or {})}
    for by, path in layout.stored_comparisons().items():
        c = _json(path)
        if c and c.get("own_prototype"):
            out["comparisons"].append({"by": c.get("by", by),
                                       "correction": c.get("correction", ""),
                                       "rows": c["own_prototype"], "file": path.name})
    cls = _json(layout.classification)
    if cls and "balanced_accuracy" in cls:
        chance = cls.get("chance", {})
        out["classification"] = {
            "balanced_accuracy": cls["balanced_accuracy"],
            "chance": chance.get("balanced_accuracy_mean", chance.get("uniform")),
            "p_value": chance.get("p_value"), "split": cls.get("split"),
            "level": cls.get("level"), "n_classes": len(cls.get("classes", []))}
    neural = _json(layout.neural_summary)
    if neural and "counts" in neural:
        out["neurons"] = _neurons(neural)
    out["truth"] = _json(layout.simulation_check)
    return out


def optional_json(path: Path, unreadable: Callable[[Path, Exception], None]) -> dict | None:
    """A JSON file of a results folder that a later step may not have written yet: None when
    it does not exist; None, after ``unreadable(path, error)``, when it is not readable JSON."""
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        unreadable(path, exc)
        return None


def wilson_interval(k: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson's two-sided interval of a proportion ``k / n`` (``n > 0``).

    The interval of ``scipy.stats.binomtest(k, n).proportion_ci(confidence, "wilson")``, in
    its arithmetic, from :mod:`scipy.special`: the report's findings would otherwise import
    ``scipy.stats``, half a second of a ``mouseface report``.

    Examples
    --------
    >>> [round(x, 4) for x in wilson_interval(5, 7)]
    [0.3589, 0.9178]
    """
    from scipy.special import ndtri

    p = k / n
    z = ndtri(0.5 + 0.5 * confidence)
    denom = 2 * (n + z**2)
    center = (2 * n * p + z**2) / denom
    delta = z / denom * math.sqrt(4 * n * p * (1 - p) + z**2)
    return (0.0 if k == 0 else float(center - delta)), (1.0 if k == n else float(center + delta))


def binomial_p_greater(k: int, n: int, p: float) -> float:
    """One-sided binomial test, P(X >= k) for X ~ Binomial(n, p): the p-value of
    ``scipy.stats.binomtest(k, n, p, alternative="greater")`` (from :mod:`scipy.special`,
    agreeing to 1e-10; see :func:`wilson_interval`).

    Examples
    --------
    >>> round(binomial_p_greater(5, 7, 0.5) * 128, 9)  # (21 + 7 + 1) / 128
    29.0
    """
    from scipy.special import bdtrc

    return 1.0 if k <= 0 else min(1.0, float(bdtrc(k - 1, n, p)))


def _trials(trials: pd.DataFrame) -> dict[str, Any] | None:
    """Own-prototype top-scores and own scores per condition (see the module)."""
    from scipy.special import stdtrit

    if trials.empty or "trial_type" not in trials.columns:
        return None
    kind = trials["trial_type"].astype(str)
    emotions = [c.removeprefix("score_") for c in trials.columns
                if c.startswith("score_") and c != f"score_{NEUTRAL}"]
    if not emotions:
        return None
    top = top_prototype(trials)
    scored = kind.isin(emotions) & top.notna()
    n, k = int(scored.sum()), int((top[scored] == kind[scored]).sum())
    chance = 1 / len(emotions)
    out: dict[str, Any] = {
        "n_trials": len(trials), "n_scored": n, "own_top": k, "chance": chance,
        "prototypes": sorted(emotions, key=natural_key),
        "n_animals": int(trials["animal"].nunique()) if "animal" in trials.columns else None}
    if n:
        # the interval two-sided, the test one-sided (better than chance)
        out.update(fraction=k / n, ci=list(wilson_interval(k, n)),
                   p_value=binomial_p_greater(k, n, chance))
    conditions = []
    for cond in sorted(set(kind[kind.isin(emotions)]), key=natural_key):
        rows = kind == cond
        x = trials.loc[rows, f"score_{cond}"].to_numpy(dtype=float)
        x = x[np.isfinite(x)]
        entry: dict[str, Any] = {"condition": cond, "n": int(x.size),
                                 "own_top": int((top[rows & scored] == cond).sum()),
                                 "n_scored": int((rows & scored).sum())}
        if x.size:
            entry["mean"] = float(x.mean())
        if x.size > 1:
            # the t quantile scipy.stats.t.ppf returns
            half = float(stdtrit(x.size - 1, 0.5 + CONFIDENCE / 2)
                         * x.std(ddof=1) / math.sqrt(x.size))
            entry["ci"] = [entry["mean"] - half, entry["mean"] + half]
        conditions.append(entry)
    out["conditions"] = conditions
    return out


def _neurons(s: dict) -> dict[str, Any]:
    c = s["counts"]
    out: dict[str, Any] = {
        "neurons": c.get("neurons", s.get("n_neurons")), "tracking": c.get("tracking"),
        "preferred": {k: v for k, v in (c.get("preferred") or {}).items() if v},
        "alpha": (s.get("settings") or {}).get("alpha"),
        "null": (s.get("null") or {}).get("name"),
        "sessions": len(s.get("sessions") or []), "movement": None, "decoding": None}
    if s.get("movement"):
        out["movement"] = dict(s["movement"].get("of_tracking") or {},
                               regressors=s["movement"].get("regressors", []))
    d = s.get("decoding") or {}
    if "balanced_accuracy" in d:
        out["decoding"] = {"balanced_accuracy": d["balanced_accuracy"],
                           "chance": d.get("chance")}
    return out


# ---------------------------------------------------------------------------- text


def _level(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def format_p(p: Any) -> str:
    """A p-value for reading: three decimals, two significant digits below 0.001."""
    if p is None or (isinstance(p, float) and not math.isfinite(p)):
        return "-"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def _over(r: dict) -> str:
    if r.get("unit") == "animal":
        return f"{r.get('n_animals')} animals"
    return f"{int(r.get('n_a', 0)) + int(r.get('n_b', 0))} trials, {r.get('n_animals')} animals"


def comparison_lines(rows: Sequence[dict], by: str, correction: str = "") -> list[str]:
    """A comparison as an aligned table: each row a condition scored with its own prototype.

    ``rows`` are records with the columns of
    :data:`mouseface.expressions.compare.COMPARE_COLUMNS` (``compare_<by>.json``'s
    ``own_prototype``, or the rows of the table ``compare`` returns).
    """
    adjusted = f"p ({correction})" if correction and correction != "none" else "p adj."
    header = (f"  {'condition':<14} {'levels':<18} {'difference':>10}  "
              f"{f'{CONFIDENCE:.0%} interval':<18} {'p':>7} {adjusted:>9}  over")
    lines = [f"{by}: each condition's trial scores with its own prototype", header]
    for r in rows:
        levels = f"{_level(r['level_b'])} - {_level(r['level_a'])}"
        interval = f"[{r['ci_low']:+.3f}, {r['ci_high']:+.3f}]"
        lines.append(f"  {str(r['condition']):<14} {levels:<18} {r['difference']:>+10.3f}  "
                     f"{interval:<18} {format_p(r.get('p_value')):>7} "
                     f"{format_p(r.get('p_adjusted')):>9}  {_over(r)}")
    return lines


def findings_lines(f: dict[str, Any]) -> list[str]:
    """The findings as text, one result a line (what ``mouseface summary`` prints)."""
    lines: list[str] = []
    t = f.get("trials")
    if t and t.get("n_scored"):
        lo, hi = t["ci"]
        lines.append(
            f"own prototype top-scores {t['own_top']} of {t['n_scored']} trials "
            f"({t['fraction']:.0%}, {CONFIDENCE:.0%} CI {lo:.0%}-{hi:.0%}; chance "
            f"{t['chance']:.0%} with {len(t['prototypes'])} prototypes, "
            f"p = {format_p(t['p_value'])})")
        lines.append(f"mean trial score of each condition's own prototype "
                     f"(similarity change from baseline, {CONFIDENCE:.0%} CI over trials):")
        for c in t["conditions"]:
            ci = (f" [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}]" if "ci" in c else "")
            mean = f"{c['mean']:+.3f}" if "mean" in c else "   -  "
            lines.append(f"  {c['condition']:<14} {mean}{ci}  top in {c['own_top']} of "
                         f"{c['n_scored']} trials")
    b = f.get("bouts")
    if b:
        counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in b["counts"].items())
        where = (f"after the first '{b['context']}' of each session" if b.get("context")
                 else "whole sessions")
        lines.append(f"bouts found from behaviour ({where}): {counts or 'none'}"
                     + (f"; {b['rejected']} rejected (no bout-free baseline)"
                        if b["rejected"] else ""))
    for c in f.get("comparisons") or []:
        lines += comparison_lines(c["rows"], c["by"], c["correction"])
    cl = f.get("classification")
    if cl:
        p = f", p = {format_p(cl['p_value'])}" if cl.get("p_value") is not None else ""
        lines.append(f"classification of the condition ({cl['level']}s, held-out "
                     f"{cl['split']}s): balanced accuracy {cl['balanced_accuracy']:.2f} "
                     f"(chance {cl['chance']:.2f}{p})")
    n = f.get("neurons")
    if n:
        groups = ", ".join(f"{k} {v}" for k, v in n["preferred"].items())
        alpha = f", q <= {n['alpha']:g}" if n.get("alpha") is not None else ""
        lines.append(f"neurons tracking an expression ({n['null']} null{alpha}): "
                     f"{n['tracking']} of {n['neurons']}" + (f" ({groups})" if groups else ""))
        m = n.get("movement")
        if m and "expression" in m:
            lines.append(f"  after the movement control: {m['expression']} expression, "
                         f"{m.get('both', 0)} both, {m.get('movement', 0)} only movement, "
                         f"{m.get('shared', 0)} shared")
        d = n.get("decoding")
        if d:
            lines.append(f"  decoding of the condition from the neurons: balanced accuracy "
                         f"{d['balanced_accuracy']:.2f} (chance {d['chance']:.2f})")
    lines += truth_lines(f.get("truth"))
    for path in f.get("unreadable") or []:
        lines.append(f"not readable: {path}")
    return lines


def truth_lines(truth: dict | None) -> list[str]:
    """The demo's results against the simulation's ground truth."""
    if not truth:
        return []
    lines = ["against the simulation's ground truth:"]
    b = truth.get("bouts")
    if b:
        lines.append("  bouts: " + ", ".join(
            f"{k.replace('_', ' ')} {v['found']} found of {v['true']} (F1 {v['f1']:.2f})"
            for k, v in b.items()))
    n = truth.get("neurons")
    if n:
        lines.append(f"  neurons: {n['correct']} of the {n['tracking']} tracking an expression "
                     f"follow it in truth; recall {n['recall']:.0%} of {n['true']}")
        if "movement_neurons" in n:
            lines.append(f"  of the {n['movement_neurons']} movement-driven neurons, "
                         f"{n['movement_as_expression']} pass for expression neurons")
    a = truth.get("action_units")
    if a:
        lines.append(f"  action units: {a['in_direction']} of the {a['clear']} clear known "
                     "changes found in their direction")
    return lines
