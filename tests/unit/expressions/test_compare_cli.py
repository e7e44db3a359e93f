"""``mouseface compare`` over a results folder: Python and command line, files, the report's
section, and bad requests as one line naming trials.csv."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.io.layout import ResultsLayout
from mouseface.workflows.compare import compare

runner = CliRunner()


@pytest.fixture
def folder(results_dir, tmp_path):
    """The shared results folder with a ``day`` column: the later trials on day 2."""
    out = shutil.copytree(results_dir, tmp_path / "results")
    trials = pd.read_csv(out / "trials.csv")
    trials["day"] = (trials.groupby("session").cumcount() >= 2).astype(int) + 1
    trials.to_csv(out / "trials.csv", index=False)
    return out


def test_compare_from_python_writes_table_figure_and_headline(folder):
    table = compare(folder, "day", n_perm=500, n_boot=200)
    stem = ResultsLayout(folder).comparison_figure("day")
    assert set(table["condition"]) == {"pleasure", "disgust", "pain"}
    assert (table[["level_a", "level_b"]].drop_duplicates().values.tolist() == [[1, 2]])
    assert (table["unit"] == "trial").all()  # 3 animals: fewer than 6
    for ext in (".csv", ".png", ".svg", ".json"):
        assert stem.with_name(stem.name + ext).stat().st_size > 200
        assert str(stem.with_name(stem.name + ext)) in table.attrs["files"]
    head = json.loads(stem.with_name(stem.name + ".json").read_text())
    assert {r["condition"] for r in head["own_prototype"]} == {"pleasure", "disgust", "pain"}
    assert len(pd.read_csv(stem.with_name(stem.name + ".csv"))) == len(table)


def test_compare_from_the_command_line(folder):
    res = runner.invoke(app, ["compare", str(folder), "--by", "day", "--levels", "2,1",
                              "--conditions", "pain"])
    assert res.exit_code == 0, res.output
    head, header, row, *rest = res.output.splitlines()
    assert head.startswith("day:") and header.split()[:3] == ["condition", "levels", "difference"]
    assert "p (holm)" in header
    table = pd.read_csv(ResultsLayout(folder).comparison("day").with_suffix(".csv"))
    own = table[(table["condition"] == "pain") & (table["prototype"] == "pain")].iloc[0]
    # the printed row is the table's: effect, interval, p, adjusted p
    assert row.split()[:3] == ["pain", "1", "-"] and f"{own.difference:+.3f}" in row
    assert f"[{own.ci_low:+.3f}, {own.ci_high:+.3f}]" in row
    assert f"{own.p_value:.3f}" in row and f"{own.p_adjusted:.3f}" in row
    assert "trials, 3 animals" in row
    assert rest[-1].endswith("compare_day.csv")


@pytest.mark.parametrize("args, needle", [
    (["--by", "need"], "no column 'need'"),
    (["--by", "day", "--levels", "1,5"], "levels [5.0] not in column 'day'"),
    (["--by", "day", "--unit", "mice"], "unit must be one of"),
])
def test_bad_requests_are_one_line_naming_trials_csv(folder, args, needle):
    res = runner.invoke(app, ["compare", str(folder), *args])
    assert res.exit_code == 2, res.output
    errors = [line for line in res.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and needle in errors[0] and "trials.csv" in errors[0], res.output
