import numpy as np
import pandas as pd
import pytest
from scipy.stats import wilcoxon

from mouseface.expressions.dose import DOSE_COLUMNS, bootstrap_spearman, dose_response, dose_table
from mouseface.expressions.stats import (
    STATS_COLUMNS,
    adjust,
    benjamini_hochberg,
    condition_vs_baseline,
    holm,
    rank_biserial,
)
from mouseface.io.results import Results


def test_dose_response_monotone_data():
    rng = np.random.default_rng(0)
    dose = np.repeat([0.0, 50, 150, 300, 500], 6)
    score = np.sqrt(dose) / 20 + rng.normal(0, 0.1, len(dose))
    r = dose_response(dose, score, n_boot=500)
    assert r["n"] == 30 and r["rho"] > 0.8 and r["p_value"] < 1e-6
    assert r["ci_low"] < r["rho"] < r["ci_high"] and r["ci_low"] > 0.5
    assert r["increasing"] is True
    assert r["doses"] == [0, 50, 150, 300, 500]
    assert np.all(np.diff(r["fitted"]) >= 0)
    assert 0.7 < r["isotonic_r2"] <= 1


def test_dose_response_decreasing_and_degenerate_inputs():
    dose = np.arange(10.0)
    r = dose_response(dose, -dose, n_boot=100)
    assert r["rho"] == pytest.approx(-1) and r["increasing"] is False
    assert r["ci_low"] == pytest.approx(-1) and r["ci_high"] == pytest.approx(-1)
    flat = dose_response(np.ones(5), np.arange(5.0))
    assert np.isnan(flat["rho"]) and flat["doses"] == []
    nan_pairs = dose_response([1, 2, np.nan, 4], [1, 2, 3, np.nan])
    assert nan_pairs["n"] == 2 and np.isnan(nan_pairs["rho"])


def test_bootstrap_interval_matches_loop_reference():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=25), rng.normal(size=25)
    lo, hi = bootstrap_spearman(x, y, n_boot=300, random_state=4)
    idx = np.random.default_rng(4).integers(0, 25, size=(300, 25))
    from scipy.stats import spearmanr

    ref = np.quantile([spearmanr(x[i], y[i]).statistic for i in idx], [0.025, 0.975])
    np.testing.assert_allclose([lo, hi], ref, atol=1e-12)


def test_dose_table_pooled_and_per_animal(results_dir):
    t = dose_table(Results(results_dir).trials, "intensity", n_boot=200)
    assert list(t.columns) == DOSE_COLUMNS
    assert set(t["scope"]) == {"pooled", "m0", "m1", "m2"}
    assert set(t["prototype"]) == {"disgust", "pain", "pleasure"}
    pooled = t[t["scope"] == "pooled"]
    assert (pooled["n"] == 12).all() and (pooled["rho"] > 0.3).all()
    one = dose_table(Results(results_dir).trials, "intensity", "pain", conditions=["pain"],
                     n_boot=200)
    assert one["prototype"].unique().tolist() == ["pain"] and one.iloc[0]["n"] == 12
    with pytest.raises(KeyError, match="no column 'volume'"):
        dose_table(Results(results_dir).trials, "volume")
    with pytest.raises(KeyError, match="score_fear"):
        dose_table(Results(results_dir).trials, "intensity", "fear")


def test_holm_and_bh_known_values():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(benjamini_hochberg(p)[:4], [0.02, 0.04, 0.04, 0.02])
    assert np.isnan(holm(p)[4]) and np.isnan(benjamini_hochberg(p)[4])
    assert np.array_equal(adjust(p[:4], "none"), p[:4])
    with pytest.raises(ValueError, match="correction must be one of"):
        adjust(p, "bonferroni")


def test_rank_biserial_extremes_and_a_known_case():
    assert rank_biserial([1, 2, 3]) == 1.0
    assert rank_biserial([-1, -2, 0]) == -1.0
    # |d| ranks 1, 2, 3 ; positives 1 and 3 ; negative 2  -> (4 - 2) / 6
    assert rank_biserial([0.1, -0.2, 0.3]) == pytest.approx(1 / 3)
    assert np.isnan(rank_biserial([0, 0]))


def test_condition_vs_baseline(results_dir):
    trials = Results(results_dir).trials
    s = condition_vs_baseline(trials, correction="bh")
    assert list(s.columns) == STATS_COLUMNS
    assert len(s) == 3 * 4  # conditions x prototypes (neutral included)
    own = s[s["prototype"] == s["condition"]]
    assert (own["rank_biserial"] == 1).all() and own["significant"].all()
    ref = wilcoxon(trials.loc[trials.trial_type == "pain", "score_pain"])
    row = own[own["condition"] == "pain"].iloc[0]
    assert row["p_value"] == pytest.approx(ref.pvalue)
    assert (s["p_adjusted"] >= s["p_value"]).all()
    by_animal = condition_vs_baseline(trials, unit="animal", correction="none")
    assert (by_animal["n"] == 3).all()


def test_condition_vs_baseline_too_few_trials_gives_nan_not_an_error():
    trials = pd.DataFrame({"trial_type": ["a"], "score_a": [0.2], "animal": ["m"]})
    s = condition_vs_baseline(trials)
    assert np.isnan(s.loc[0, "p_value"]) and not s.loc[0, "significant"]


def test_dose_candidates_are_the_events_columns_not_a_runs_action_units():
    # a run with poses writes au_<name> per trial: measured, not given, so not a dose
    from mouseface.workflows.analysis import numeric_event_columns

    t = pd.DataFrame({"session": ["s1"] * 4, "onset": [1.0, 2.0, 3.0, 4.0],
                      "trial_type": ["pain"] * 4, "intensity": [0.25, 0.5, 0.75, 1.0],
                      "score_pain": [0.1, 0.2, 0.3, 0.4], "au_eye_opening": [0.9, 0.8, 0.7, 0.6],
                      "volume": [1, 1, 1, 1]})
    assert numeric_event_columns(t) == ["intensity"]
