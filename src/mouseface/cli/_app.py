"""The Typer application and the error handling every command shares."""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable

import typer

from mouseface._errors import InputError

app = typer.Typer(
    name="mouseface",
    help="Facial expressions of emotion states in mice, from face video, and the neurons "
    "that track them. Start with `mouseface demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print one line to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def user_errors(func: Callable) -> Callable:
    """Turn bad input into one line on stderr and exit code 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
        warnings.formatwarning = _one_line_warning
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"
