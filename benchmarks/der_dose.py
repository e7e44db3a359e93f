"""Graded intensity on the real DER tail-shock mice: the paper's score against the expression axis.

One ``mouseface run`` over the three mice (30 trials each, 0/50/150/300/500 uA) gives every
frame's HOG; every readout below is then computed from the same feature stores, on the same
trials, cross-fitted:

- **within** an animal: a trial is never scored with a prototype or axis built from its own
  frames: the run's own cross-fitted ``score_500uA`` and ``peak_500uA`` (the paper's prototype)
  and ``grade_500uA`` and ``grade_mean_500uA`` (the expression axis), as ``trials.csv`` has them;
- **leave one animal out** (transfer): prototypes or axes learned on the two other mice, applied
  to the third through its own baseline frames only.

Readouts (each the trial's value for the 500 uA condition):

- ``paper``: Pearson similarity to the 500 uA prototype (10 least-neutral frames), stimulus
  window mean minus baseline mean; ``paper, peak``: the window's maximum instead. Transfer: the
  paper's pooled prototypes (``PrototypeModel`` with ``groups``) and the package's default
  ``TransferModel`` (difference prototypes from each animal's neutral).
- ``axis``: :class:`mouseface.expressions.intensity.ExpressionAxis`, the projection on the
  neutral → 500 uA axis in baseline standard deviations, window mean (``axis, mean``) or peak
  (``axis, peak``, the default readout) minus the baseline mean.

Printed per mouse and as the mean over mice: the AUC of strong (>= 300 uA) against weak
(<= 50 uA) trials (12 against 12 per mouse) and the Spearman rho of the readout with the uA of
all 30 trials.

The sessions are registered onto one template face first (``[registration] align =
"translation"``, as ``fit`` and ``score`` do), so that prototypes and axes learned on some mice
apply to another; ``--unregistered`` keeps each session where it was filmed.

Usage (from the repository root; the run takes about 2 minutes on an idle 2-core machine, a
rerun into the same OUT reuses its feature stores)::

    python benchmarks/der_dose.py [DATA] [OUT] [--unregistered]
    python benchmarks/der_dose.py [DATA] [OUT] --sweep   # registration and HOG variants, a figure
"""

from __future__ import annotations

import runpy
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from mouseface.expressions.intensity import ExpressionAxis
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.transfer import TransferModel
from mouseface.expressions.trials import window_scores
from mouseface.expressions.windows import NEUTRAL
from mouseface.io.store import FeatureStore

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real" / "der_videos"
CONDITION = "500uA"


def load(out: Path) -> tuple[pd.DataFrame, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The run's trials and, per session (one trial each), its HOG and window labels."""
    trials = pd.read_csv(out / "trials.csv")
    frames = pd.read_parquet(out / "frames.parquet", columns=["session", "frame", "window"])
    per_session = {}
    for session, f in frames.groupby("session", sort=False):
        hog = FeatureStore(out / "features" / f"{session}.zarr").read()
        per_session[session] = (hog.astype(np.float64), f.sort_values("frame")["window"].to_numpy())
    return trials, per_session


def _trial_values(trace: np.ndarray, window: np.ndarray, condition: str) -> tuple[float, float]:
    s = window_scores(trace[window == NEUTRAL, None], trace[window == condition, None])
    return float(s["peak"][0]), float(s["score"][0])


def readouts(trials: pd.DataFrame, data: dict) -> pd.DataFrame:
    """Every readout of every trial, cross-fitted within animals and across them."""
    rows = []
    animals = trials["animal"].to_numpy()
    for animal in np.unique(animals):
        mine = trials[animals == animal]
        others = trials[animals != animal]

        def stack(part: pd.DataFrame, leave_out: str | None = None):
            parts = [data[s] for s in part["session"] if s != leave_out]
            return (np.vstack([h for h, _ in parts]), np.concatenate([w for _, w in parts]))

        X_other, y_other = stack(others)
        g_other = np.concatenate([[a] * len(data[s][0]) for s, a in
                                  zip(others["session"], others["animal"], strict=True)])
        keep = y_other != ""
        pooled = PrototypeModel().fit(X_other[keep], y_other[keep], groups=g_other[keep])
        transfer = TransferModel().fit(X_other[keep], y_other[keep], groups=g_other[keep])
        axis_loao = ExpressionAxis().fit(X_other[keep], y_other[keep], groups=g_other[keep])
        X_mine, y_mine = stack(mine)
        baseline = X_mine[y_mine == NEUTRAL]
        p_col = list(pooled.classes_).index(CONDITION)
        t_col = list(transfer.classes_).index(CONDITION)
        a_col = list(axis_loao.classes_).index(CONDITION)
        for trial in mine.itertuples(index=False):
            hog, window = data[trial.session]
            window = np.where(window == NEUTRAL, NEUTRAL,
                              np.where(window == "", "", CONDITION))
            row = {"animal": animal, "session": trial.session, "uA": trial.intensity,
                   "paper": trial.score_500uA, "paper, peak": trial.peak_500uA,
                   "axis, peak": trial.grade_500uA, "axis, mean": trial.grade_mean_500uA}
            row["LOAO paper (pooled)"] = _trial_values(
                pooled.transform(hog)[:, p_col], window, CONDITION)[1]
            row["LOAO transfer (default)"] = _trial_values(
                transfer.transform(hog, baseline=baseline)[:, t_col], window, CONDITION)[1]
            grades = axis_loao.transform(hog, baseline=baseline)[:, a_col]
            row["LOAO axis, peak"], row["LOAO axis, mean"] = _trial_values(
                grades, window, CONDITION)
            rows.append(row)
    return pd.DataFrame(rows)


def table(scores: pd.DataFrame) -> pd.DataFrame:
    """AUC (strong vs weak) and Spearman rho with uA, per mouse and their mean."""
    out = {}
    methods = [c for c in scores.columns if c not in ("animal", "session", "uA")]
    for method in methods:
        for animal, g in scores.groupby("animal"):
            ends = g[(g.uA >= 300) | (g.uA <= 50)]
            out[(method, animal)] = (roc_auc_score(ends.uA >= 300, ends[method]),
                                     spearmanr(g.uA, g[method]).statistic)
    t = pd.DataFrame(out, index=["AUC", "rho"]).T
    t.index.names = ["readout", "mouse"]
    wide = t.unstack("mouse")
    wide[("AUC", "mean")] = wide["AUC"].mean(axis=1)
    wide[("rho", "mean")] = wide["rho"].mean(axis=1)
    return wide.sort_index(axis=1).loc[methods]


#: ``--sweep``: what registration and features cost, each a change from the default
VARIANTS = {
    "default (registered, drift, 8-px cells)": {},
    "not registered": {"registration": {"align": "none"}},
    "no drift correction": {"registration": {"drift": False}},
    "16-px cells": {"hog": {"pixels_per_cell": 16}},
    "L1 block norm": {"hog": {"block_norm": "L1"}},
}


def scored(out: Path, name: str, overrides: dict) -> pd.DataFrame:
    """Every readout of every trial after one run with the tutorial's settings + overrides."""
    from mouseface.settings import load_settings
    from mouseface.workflows import pipeline

    tables = out / "tables"
    registration = {"align": "translation", **overrides.get("registration", {})}
    settings = load_settings(tables / "mouseface.toml",
                             **{**overrides, "registration": registration})
    folder = out / name
    pipeline.run(tables / "sessions.csv", tables / "events.csv", folder, settings=settings,
                 quiet=True, report=False)
    return readouts(*load(folder))


def sweep(out: Path) -> None:
    """The grade's AUC and rho (within, and leave one mouse out) and the paper's, per variant;
    a figure of them in ``out/der_sweep.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = {"paper": "paper's score, within", "axis, peak": "grade, within",
             "LOAO axis, peak": "grade, new mouse"}
    rows = {}
    for k, (name, overrides) in enumerate(VARIANTS.items()):
        wide = table(scored(out, f"variant{k}", overrides))
        rows[name] = {(label, what): wide.loc[method, (what, "mean")]
                      for method, label in shown.items() for what in ("AUC", "rho")}
        print(f"{name}: " + ", ".join(f"{lab} {w} {v:.3f}" for (lab, w), v in
                                        rows[name].items()), flush=True)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    names = list(rows)
    for ax, what in zip(axes, ("AUC", "rho"), strict=True):
        for j, label in enumerate(shown.values()):
            ax.barh(np.arange(len(names)) + (j - 1) * 0.27,
                    [rows[n][(label, what)] for n in names], height=0.27, label=label)
        ax.axvline(0.93 if what == "AUC" else 0.75, color="k", lw=0.8, ls="--")
        ax.set_xlim(0.3 if what == "rho" else 0.5, 1.0)
        ax.set_xlabel("strong vs weak shocks, AUC (mean of 3 mice)" if what == "AUC"
                      else "Spearman rho with the current (mean of 3 mice)")
    axes[0].set_yticks(np.arange(len(names)), names)
    axes[0].invert_yaxis()
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=3, fontsize=9,
               frameon=False)
    fig.suptitle("Real DER mice: what registration and HOG settings cost (dashed: issue 24's bar)",
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    fig.savefig(out / "der_sweep.png", dpi=110)
    print(out / "der_sweep.png")


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    align = "none" if "--unregistered" in sys.argv else "translation"
    data = Path(args[0]) if args else DATA
    out = Path(args[1]) if len(args) > 1 else Path(tempfile.mkdtemp(prefix="der_dose"))
    make = runpy.run_path(str(REPO / "examples" / "der_videos_tables.py"))["der_tables"]
    make(data, out / "tables")
    if "--sweep" in sys.argv:
        sweep(out)
        return
    wide = table(scored(out, f"run_{align}", {"registration": {"align": align}}))
    mice = [m for m in wide["AUC"].columns if m != "mean"]
    print("| readout | " + " | ".join(f"AUC {m}" for m in mice) + " | AUC mean | "
          + " | ".join(f"rho {m}" for m in mice) + " | rho mean |")
    print("|---" * (2 * len(mice) + 3) + "|")
    for name, r in wide.iterrows():
        cells = [r[("AUC", m)] for m in mice] + [r[("AUC", "mean")]]
        cells += [r[("rho", m)] for m in mice] + [r[("rho", "mean")]]
        print(f"| {name} | " + " | ".join(f"{v:.3f}" for v in cells) + " |")


if __name__ == "__main__":
    main()
