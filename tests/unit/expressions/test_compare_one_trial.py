"""``compare --by`` where each animal has one trial per level: the bootstrap over trials within
animal and level has nothing to resample (it printed ``+0.037 [+0.037, +0.037]``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mouseface.expressions.compare import compare_levels, paired_animals


def _one_trial_per_level(n_animals: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for a in range(n_animals):
        offset = rng.normal(0, 0.1)
        for level, effect in ((1, 0.0), (2, 0.04)):
            rows.append({"trial_type": "shock", "animal": f"m{a}", "intensity": level,
                         "score_shock": offset + effect + rng.normal(0, 0.03)})
    return pd.DataFrame(rows)


def test_one_trial_per_level_is_compared_over_animals_with_a_real_interval():
    t = _one_trial_per_level(4)
    row = compare_levels(t, "intensity").iloc[0]
    assert row.ci_high - row.ci_low > 0.01  # not a zero-width interval
    assert row.unit == "animal" and row.paired
    assert "one trial per level" in row.note
    # the same as comparing the animals' own differences directly
    wide = t.pivot(index="animal", columns="intensity", values="score_shock")
    d = (wide[2] - wide[1]).to_numpy()
    want = paired_animals(d, n_boot=2000, n_perm=5000, ci=0.95,
                          rng=np.random.default_rng(0))
    assert row.difference == want[0] and row.p_value == want[3]
    assert row.p_value >= 1 / 16  # 4 animals: an exact sign-flip test cannot go lower


def test_one_animal_with_one_trial_per_level_has_no_interval_and_says_why():
    row = compare_levels(_one_trial_per_level(1), "intensity").iloc[0]
    assert np.isnan(row.ci_low) and np.isnan(row.ci_high) and np.isnan(row.p_value)
    assert "one trial per level" in row.note


def test_several_trials_per_level_keep_the_within_animal_bootstrap():
    t = pd.concat([_one_trial_per_level(4, seed=s) for s in range(3)], ignore_index=True)
    row = compare_levels(t, "intensity").iloc[0]
    assert row.unit == "trial" and "one trial" not in row.note
    assert row.ci_high > row.ci_low


def test_the_demo_prints_what_the_compare_command_gives(results_dir, tmp_path):
    """The demo once ran fewer permutations than the command: p = 0.0005 (1/2001, none as
    extreme) beside the command's 0.0002 (1/5001) for the same comparison."""
    import shutil

    from typer.testing import CliRunner

    from mouseface.cli import app
    from mouseface.io.layout import ResultsLayout
    from mouseface.workflows.demo import comparison_summary

    out = shutil.copytree(results_dir, tmp_path / "results")
    trials = pd.read_csv(out / "trials.csv")
    trials["day"] = (trials.groupby("session").cumcount() >= 2).astype(int) + 1
    trials.to_csv(out / "trials.csv", index=False)
    demo = comparison_summary(out, "day", "pain")
    res = CliRunner().invoke(app, ["compare", str(out), "--by", "day"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(ResultsLayout(out).comparison("day").with_suffix(".csv"))
    own = table[(table["condition"] == "pain") & (table["prototype"] == "pain")].iloc[0]
    assert demo["p_value"] == own.p_value
    assert demo["ci"] == [round(own.ci_low, 3), round(own.ci_high, 3)]
    assert demo["difference"] == round(own.difference, 3)
