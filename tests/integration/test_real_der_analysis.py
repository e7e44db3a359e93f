"""Real data: expression analysis of graded tail shocks in three mice (der_videos).

Within each mouse, trials the classifier never saw: strong shocks (>= 300 uA) are told from weak
ones (<= 50 uA); and the face departs further from its neutral shape the stronger the shock
(dose-response). The full numbers come from ``python benchmarks/der_analysis.py``.
"""

import runpy
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

BENCH = runpy.run_path(str(Path(__file__).resolve().parents[2] / "benchmarks" /
                           "der_analysis.py"))


def test_strong_vs_weak_shocks_held_out_trials(der_results):
    clf = BENCH["strong_vs_weak"](der_results, n_permutations=20)
    print(clf.to_string(index=False))
    hog = clf[clf["features"] == "hog"]
    assert len(hog) == 3
    assert hog["balanced_accuracy"].mean() >= 0.8
    assert (hog["balanced_accuracy"] > hog["chance_p95"]).all()
    assert (clf["chance"] < 0.6).all()


def test_dose_response_per_mouse(der_results):
    dose = BENCH["dose_response"](der_results)
    print(dose.drop(columns=["doses", "fitted"]).to_string(index=False))
    neutral = dose[(dose["prototype"] == "neutral") & (dose["scope"] != "pooled")]
    assert len(neutral) == 3 and (neutral["rho"] < -0.4).all() and (neutral["ci_high"] < 0).all()
    strong = dose[(dose["prototype"] == "500uA") & (dose["scope"] == "pooled")].iloc[0]
    assert strong["rho"] > 0.3 and strong["ci_low"] > 0
    assert np.all(np.diff(strong["fitted"]) >= 0)
