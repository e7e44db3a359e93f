"""The findings of a results folder (the report's first block, ``mouseface summary``): known
answers from hand-made result files, and the commands that print them."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from tests.helpers import one_line_error
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.io.layout import ResultsLayout
from mouseface.report.findings import comparison_lines, findings, findings_lines

runner = CliRunner()

#: 4 trials of a (own prototype on top in 3), 4 of b (on top in 2, one trial not scored)
TRIALS = pd.DataFrame({
    "session": ["s1"] * 4 + ["s2"] * 4,
    "animal": ["m1", "m1", "m2", "m2"] * 2,
    "trial_type": ["a"] * 4 + ["b"] * 4,
    "onset": np.arange(8.0), "duration": 1.0,
    "score_neutral": [0.9] * 8,  # never counted: not an emotion prototype
    "score_a": [0.3, 0.2, 0.1, -0.1, 0.5, 0.0, 0.4, np.nan],
    "score_b": [0.1, 0.1, 0.0, 0.2, 0.1, 0.3, 0.6, np.nan],
})


def _wilson(k: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    centre = (k + z * z / 2) / (n + z * z)
    half = z / (n + z * z) * math.sqrt(k * (n - k) / n + z * z / 4)
    return centre - half, centre + half


@pytest.fixture
def folder(tmp_path):
    layout = ResultsLayout(tmp_path / "results")
    layout.root.mkdir()
    layout.run_json.write_text(json.dumps({"command": "run"}))
    TRIALS.to_csv(layout.trials, index=False)
    return layout


def test_trials_top_score_with_its_interval_and_the_own_scores(folder):
    t = findings(folder.root)["trials"]
    assert (t["n_trials"], t["n_scored"], t["own_top"]) == (8, 7, 5)
    assert t["chance"] == 0.5 and t["prototypes"] == ["a", "b"]
    assert t["ci"] == pytest.approx(_wilson(5, 7))
    # one-sided binomial test: P(X >= 5) for X ~ Binomial(7, 0.5) = (21 + 7 + 1) / 128
    assert t["p_value"] == pytest.approx(29 / 128)
    a, b = t["conditions"]
    assert (a["condition"], a["n"], a["own_top"], a["n_scored"]) == ("a", 4, 3, 4)
    assert a["mean"] == pytest.approx(0.125)
    sd = np.std([0.3, 0.2, 0.1, -0.1], ddof=1)
    assert a["ci"] == pytest.approx([0.125 - 3.182446 * sd / 2, 0.125 + 3.182446 * sd / 2])
    assert (b["n"], b["own_top"], b["n_scored"]) == (3, 2, 3)  # the NaN trial left out
    text = "\n".join(findings_lines(findings(folder.root)))
    lo, hi = _wilson(5, 7)
    assert f"own prototype top-scores 5 of 7 trials (71%, 95% CI {lo:.0%}-{hi:.0%}" in text
    assert "a              +0.125 [" in text


def test_every_written_result_is_found_and_said(folder):
    folder.behaviour.mkdir()
    folder.bouts_summary.write_text(json.dumps({
        "context": "pain", "bouts": {"passive_fear": 7, "active_fear": 3},
        "rejected": [{"session": "s1"}], "per_session": {"s1": {}, "s2": {}}}))
    folder.analysis.mkdir()
    row = {"condition": "a", "level_a": "sated", "level_b": "thirsty", "unit": "trial",
           "n_animals": 2, "n_a": 2, "n_b": 2, "difference": 0.097, "ci_low": 0.074,
           "ci_high": 0.118, "p_value": 0.0005, "p_adjusted": 0.001}
    (folder.analysis / "compare_need.json").write_text(json.dumps(
        {"by": "need", "correction": "holm", "own_prototype": [row]}))
    (folder.analysis / "classification.json").write_text(json.dumps(
        {"balanced_accuracy": 0.81, "chance": {"balanced_accuracy_mean": 0.33,
                                               "p_value": 0.048},
         "split": "trial", "level": "frame", "classes": ["a", "b", "neutral"]}))
    folder.neural.mkdir()
    folder.neural_summary.write_text(json.dumps({
        "counts": {"neurons": 60, "tracking": 12, "preferred": {"a": 8, "b": 4, "c": 0}},
        "settings": {"alpha": 0.05}, "null": {"name": "linear"}, "sessions": ["s1"],
        "movement": {"regressors": ["motion_energy"],
                     "of_tracking": {"expression": 9, "both": 2, "movement": 1, "shared": 0}},
        "decoding": {"balanced_accuracy": 0.9, "chance": 0.5}}))
    folder.simulation_check.write_text(json.dumps({
        "bouts": {"passive_fear": {"true": 8, "found": 7, "f1": 0.933}},
        "neurons": {"correct": 11, "tracking": 12, "recall": 0.61, "true": 18,
                    "movement_neurons": 5, "movement_as_expression": 0}}))
    (folder.analysis / "compare_day.json").write_text("{not json")
    f = findings(folder.root)
    assert f["bouts"]["counts"] == {"passive_fear": 7, "active_fear": 3}
    assert [c["by"] for c in f["comparisons"]] == ["need"]
    assert f["unreadable"] == [str(folder.analysis / "compare_day.json")]
    text = "\n".join(findings_lines(f))
    for needle in (
            "bouts found from behaviour (after the first 'pain' of each session): 7 passive "
            "fear, 3 active fear; 1 rejected",
            "thirsty - sated", "+0.097  [+0.074, +0.118]", " 0.0005 ", " 0.001 ",
            "balanced accuracy 0.81 (chance 0.33, p = 0.048)",
            "neurons tracking an expression (linear null, q <= 0.05): 12 of 60 (a 8, b 4)",
            "9 expression, 2 both, 1 only movement",
            "passive fear 7 found of 8 (F1 0.93)", "11 of the 12 tracking",
            f"not readable: {folder.analysis / 'compare_day.json'}"):
        assert needle in text, (needle, text)
    assert "c 0" not in text


def test_summary_command_prints_the_findings(folder, tmp_path):
    res = runner.invoke(app, ["summary", str(folder.root)])
    assert res.exit_code == 0, res.output
    assert res.output.splitlines() == findings_lines(findings(folder.root))
    (tmp_path / "empty").mkdir()
    res = runner.invoke(app, ["summary", str(tmp_path / "empty")])
    one_line_error(res.exit_code, res.output, "not a mouseface results folder")


def test_comparison_lines_are_an_aligned_table():
    rows = [{"condition": "pleasure", "level_a": 1.0, "level_b": 2.0, "unit": "animal",
             "n_animals": 6, "difference": -0.0123, "ci_low": -0.05, "ci_high": 0.02,
             "p_value": 0.25, "p_adjusted": 0.5},
            {"condition": "disgust", "level_a": 1.0, "level_b": 2.0, "unit": "animal",
             "n_animals": 6, "difference": 0.2, "ci_low": 0.1, "ci_high": 0.3,
             "p_value": 1e-4, "p_adjusted": 2e-4}]
    lines = comparison_lines(rows, "day", "holm")
    assert lines[0].startswith("day:")
    header, *table = lines[1:]
    assert "difference" in header and "95% interval" in header and "p (holm)" in header
    assert "2 - 1" in table[0] and "-0.012" in table[0] and "6 animals" in table[0]
    assert " 0.0001 " in table[1] and " 0.0002 " in table[1]
    # aligned: the difference column ends at the same place in every row
    ends = {line.index(" [") for line in table}
    assert len(ends) == 1


def test_the_report_opens_on_the_findings(folder):
    from mouseface.report import write_report

    html = write_report(folder.root).read_text()
    ids = re.findall(r'<section id="([^"]+)"', html)
    assert ids[0] == "findings" and "summary" in ids
    block = html[html.index('<section id="findings">'):html.index('<section id="summary">')]
    assert "<b>5 of 7</b>" in block and "+0.125 [" in block
    lo, hi = _wilson(5, 7)
    assert f"95% CI {lo:.0%}–{hi:.0%}" in block


def test_a_folder_with_nothing_found_has_no_findings_block(tmp_path):
    from mouseface.report import write_report

    (tmp_path / "run.json").write_text(json.dumps({"command": "run"}))
    html = write_report(tmp_path).read_text()
    assert 'id="findings"' not in html and 'id="summary"' in html


def test_the_trials_statistics_are_scipy_stats_own():
    # computed from scipy.special (scipy.stats costs the report half a second to import):
    # the same Wilson interval to the bit, the same binomial p-value to 1e-10
    from scipy import stats

    from mouseface.report.findings import binomial_p_greater, wilson_interval

    for n in [*range(1, 40), 100, 257, 1000, 5000]:
        for k in sorted(set(np.linspace(0, n, 9).round().astype(int))):
            ci = stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
            assert wilson_interval(k, n) == (ci.low, ci.high)
            for chance in (0.5, 1 / 3, 0.25, 1 / 7):
                assert binomial_p_greater(k, n, chance) == pytest.approx(
                    stats.binomtest(k, n, chance, alternative="greater").pvalue, rel=1e-10)


def test_the_findings_do_not_import_scipy_stats(folder):
    import subprocess
    import sys

    code = ("import sys; from mouseface.report.findings import findings; "
            f"f = findings({str(folder.root)!r}); assert f['trials']['p_value'] > 0; "
            "print('scipy.stats' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
