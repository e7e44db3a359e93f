"""Assertions shared by the command-line tests."""

from __future__ import annotations


def one_line_error(code: int, output: str, *needles: str, only: bool = True) -> str:
    """What a command answers to bad input: exit status 2, no traceback, one ``error:`` line
    holding every needle (with ``only``, nothing else printed). Returns that line."""
    assert code == 2, output
    assert "Traceback" not in output
    lines = [ln for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 1, output
    if only:
        assert lines == errors, output
    for needle in needles:
        assert needle in errors[0], errors[0]
    return errors[0]


def cli_error(result, *needles: str, only: bool = True) -> str:
    """:func:`one_line_error` of a ``CliRunner`` result."""
    return one_line_error(result.exit_code, result.output, *needles, only=only)
