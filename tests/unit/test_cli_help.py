"""What a new user reads first: `mouseface --help`, each command's help, `--version`."""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

import mouseface
from mouseface.cli import app
from mouseface.cli._app import COMMAND_ORDER, Group

runner = CliRunner()
COMMANDS = list(typer.main.get_command(app).commands)


def _help(*args: str, columns: int = 80) -> str:
    result = runner.invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def _listed(output: str) -> list[str]:
    section = output.split("Commands:")[1]
    return [m.group(1) for m in re.finditer(r"^  (\S+)\s", section, re.MULTILINE)]


def test_version_prints_the_package_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"mouseface {mouseface.__version__}"


def test_square_brackets_in_help_text_are_printed_as_written():
    assert '`[prototypes] mode = "pooled"`' in " ".join(_help("fit", columns=200).split())
    assert "[default: RESULTS/overlay/SESSION.mp4]" in _help("overlay", columns=200)
    assert "[default: RESULTS/report.html]" in _help("report", columns=200)


@pytest.mark.parametrize("command", COMMANDS)
def test_flags_take_no_value_and_usage_names_arguments(command):
    output = _help(command)
    assert "<bool>" not in output
    usage = output.splitlines()[0]
    assert usage.startswith(f"Usage: mouseface {command} [OPTIONS]")
    assert "{" not in usage and "}" not in usage


def test_usage_lines_name_arguments_in_capitals_optional_ones_in_brackets():
    assert _help("run").splitlines()[0] == "Usage: mouseface run [OPTIONS] SESSIONS EVENTS"
    assert (_help("score").splitlines()[0]
            == "Usage: mouseface score [OPTIONS] MODEL SESSIONS [EVENTS]")
    assert "-q, --quiet " in _help("run")  # a flag: no value after it
    assert "\n  SESSIONS  " in _help("run")


def test_commands_are_listed_in_the_order_a_user_needs_them():
    listed = _listed(_help())
    assert sorted(listed) == sorted(COMMANDS)
    assert listed[:4] == ["demo", "run", "fit", "score"]
    known = [c for c in COMMAND_ORDER if c in listed]
    assert listed[:len(known)] == known
    assert listed.index("analyze") < listed.index("classify") < listed.index("neural")
    assert listed.index("neural") < listed.index("report") < listed.index("export-nwb")


def test_every_command_summary_fits_an_80_column_terminal():
    section = _help(columns=80).split("Commands:")[1]
    lines = [line for line in section.splitlines() if line.strip()]
    assert len(lines) == len(COMMANDS)  # one line each, none wrapped
    assert all(len(line) <= 80 and not line.endswith("...") for line in lines)


def test_commands_missing_from_the_order_table_follow_the_known_ones():
    extra = typer.Typer(cls=Group)
    for name in ("zeta", "export-nwb", "alpha", "run", "demo"):
        extra.command(name)(lambda: None)
    group = typer.main.get_command(extra)
    names = group.list_commands(typer.Context(group))
    assert names == ["demo", "run", "export-nwb", "zeta", "alpha"]
