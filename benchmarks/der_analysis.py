"""Expression analysis on real video: graded tail shocks in three mice (der_videos).

Per mouse (30 trials: 0, 50, 150, 300, 500 uA x 6), with trials the model never saw:

1. **Classification** of strong (>= 300 uA) against weak (<= 50 uA) shocks, held-out trials
   (stratified 6-fold, every trial its own group), logistic regression on
   (a) ``hog``: the trial's mean stimulus HOG minus its mean baseline HOG, PCA(10) fitted in
   each training fold; (b) ``scores``: the cross-fitted ``score_<p>`` of ``trials.csv``
   (similarity change to each of the mouse's six prototypes). Chance level from 100
   permutations of the trial labels.
2. **Dose–response**: Spearman rho (bootstrap 95% CI over trials) of the trial score against
   the shock intensity in uA, for the 500 uA prototype (``score_500uA``) and for the neutral
   one (``score_neutral``: the face leaving its resting shape gives negative rho), with an
   isotonic fit.

Usage (from the repository root; about 1.5 minutes on 2 busy cores, half of it the pipeline)::

    python benchmarks/der_analysis.py [DATA] [OUT]

DATA defaults to ../shared/data/real/der_videos, OUT to der_analysis/. The results folder
(``OUT/results``) is reused when it exists; the numbers go to ``OUT/der_analysis.json`` and
the usual analysis files to ``OUT/results/analysis``.
"""

from __future__ import annotations

import json
import runpy
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold
from threadpoolctl import threadpool_limits

from mouseface.expressions.classify import cross_validate, make_classifier
from mouseface.expressions.dose import dose_table
from mouseface.io.results import Results
from mouseface.workflows import analysis

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real" / "der_videos"


def strong_vs_weak(results: Path, *, n_permutations: int = 100) -> pd.DataFrame:
    """Held-out-trial classification of >= 300 uA vs <= 50 uA shocks within each mouse."""
    r = Results(results)
    rows = []
    limit = threadpool_limits(limits=1)  # small jobs: BLAS threads only wait for each other
    for features in ("hog", "similarity"):
        X, ids = analysis.trial_samples(r, features=features, neutral=False)
        dose = r.trials.set_index("event").loc[ids["event"], "intensity"].to_numpy()
        for mouse in sorted(ids["animal"].unique()):
            keep = (ids["animal"].to_numpy() == mouse) & ((dose >= 300) | (dose <= 50))
            y = np.where(dose[keep] >= 300, "strong", "weak")
            est = make_classifier("logreg", n_components=10 if features == "hog" else None)
            cv = StratifiedGroupKFold(n_splits=6, shuffle=True, random_state=0)
            res = cross_validate(est, X[keep], y, ids["event"].to_numpy()[keep], cv=cv,
                                 n_permutations=n_permutations, classes=["weak", "strong"])
            rows.append({"mouse": mouse,
                         "features": "hog" if features == "hog" else "scores",
                         "n_trials": int(keep.sum()),
                         "balanced_accuracy": res["balanced_accuracy"],
                         "chance": res["chance"]["balanced_accuracy_mean"],
                         "chance_p95": res["chance"]["balanced_accuracy_p95"],
                         "p_value": res["chance"]["p_value"],
                         "recall_strong": res["recall"]["strong"],
                         "recall_weak": res["recall"]["weak"]})
    limit.restore_original_limits()
    return pd.DataFrame(rows)


def dose_response(results: Path) -> pd.DataFrame:
    """Spearman rho of trial score against shock intensity, per mouse and pooled."""
    trials = Results(results).trials
    parts = [dose_table(trials, "intensity", p, n_boot=2000) for p in ("500uA", "neutral")]
    out = pd.concat(parts, ignore_index=True)
    return out[["prototype", "scope", "n", "rho", "ci_low", "ci_high", "p_value",
                "increasing", "isotonic_r2", "doses", "fitted"]]


def main(data: Path = DATA, out: Path = Path("der_analysis")) -> dict:
    from mouseface.workflows import pipeline

    out = Path(out)
    results = out / "results"
    t0 = time.perf_counter()
    if not (results / "trials.csv").is_file():
        make = runpy.run_path(str(REPO / "examples" / "der_videos_tables.py"))["der_tables"]
        sessions, events = make(Path(data), out / "tables")
        pipeline.run(sessions, events, results, config=out / "tables" / "mouseface.toml",
                     quiet=True)
    t_run = time.perf_counter() - t0
    clf = strong_vs_weak(results)
    dose = dose_response(results)
    # the usual analysis files, for the figures
    analysis.dose(results, "intensity", "500uA")
    analysis.stats(results)
    summary = {
        "classification": clf.to_dict(orient="records"),
        "classification_mean": clf.groupby("features")[["balanced_accuracy", "chance"]]
        .mean().to_dict(orient="index"),
        "dose_response": dose.to_dict(orient="records"),
        "pipeline_s": round(t_run, 1), "total_s": round(time.perf_counter() - t0, 1),
    }
    (out / "der_analysis.json").write_text(json.dumps(summary, indent=2, default=float) + "\n")
    with pd.option_context("display.width", 120, "display.precision", 3):
        print("strong (>=300 uA) vs weak (<=50 uA), held-out trials, logistic regression:")
        print(clf.to_string(index=False))
        print("\ndose-response (Spearman rho of trial score against uA):")
        print(dose.drop(columns=["doses", "fitted"]).to_string(index=False))
    print(f"\npipeline {t_run:.0f} s, total {summary['total_s']:.0f} s; "
          f"written {out / 'der_analysis.json'}")
    return summary


if __name__ == "__main__":
    args = [Path(a) for a in sys.argv[1:3]]
    if args and not (args[0] / "mosaic_layout.csv").is_file():
        sys.exit(f"not the der_videos folder: {args[0]}\n\n{__doc__}")
    if not args and not (DATA / "mosaic_layout.csv").is_file():
        sys.exit(f"real data not found: {DATA}\n\n{__doc__}")
    main(*args)
