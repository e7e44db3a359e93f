"""The Typer application and the error handling every command shares.

Help is rendered by Click's plain formatter (``rich_markup_mode=None``): Rich markup would take
``[prototypes]`` or ``[default: ...]`` in a help text for a style tag and swallow it. Commands
are listed in the order a user needs them (:data:`COMMAND_ORDER`), arguments read as
``SESSIONS EVENTS`` in usage lines, and ``--version`` prints mouseface's version.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable
from pathlib import Path

import typer
from typer.core import TyperCommand, TyperGroup

from mouseface._errors import InputError, os_error_line

#: Where each command goes in ``mouseface --help``: first steps, core pipeline, browsing, the
#: analyses, neural correlates, outputs, live. Commands not named here follow the known ones in
#: the order they were registered, so a new command shows up without touching this table.
COMMAND_ORDER: tuple[str, ...] = (
    "demo", "run", "fit", "score", "view",
    "analyze", "classify", "embed", "cluster", "trials", "dose", "stats", "compare", "bouts",
    "neural",
    "summary", "report", "overlay", "export-nwb",
    "live",
)


class Group(TyperGroup):
    """The ``mouseface`` group: lists commands in :data:`COMMAND_ORDER`."""

    def list_commands(self, ctx) -> list[str]:
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        registered = super().list_commands(ctx)
        return sorted(registered, key=lambda n: (rank.get(n, len(rank)), registered.index(n)))


class Command(TyperCommand):
    """A command whose usage line and argument list name arguments the Unix way.

    ``mouseface run [OPTIONS] SESSIONS EVENTS`` and ``[EVENTS]`` when optional, instead of
    Typer's ``{sessions} {events}``.
    """

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if param.param_type_name != "argument":
                continue
            name = _argument_name(param)
            pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_options(self, ctx, formatter) -> None:
        args, opts = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.param_type_name == "argument":
                args.append((_argument_name(param), record[1]))
            else:
                opts.append(record)
        if args:
            with formatter.section("Arguments"):
                formatter.write_dl(args)
        if opts:
            with formatter.section("Options"):
                formatter.write_dl(opts)


def _argument_name(param) -> str:
    name = (param.metavar or param.name).upper()
    return f"{name}..." if param.nargs != 1 else name


class _Typer(typer.Typer):
    """A Typer app whose commands default to :class:`Command` (so every module's
    ``@app.command()`` gets the readable usage line without asking for it)."""

    def command(self, name: str | None = None, *, cls: type[TyperCommand] | None = None,
                **kwargs):
        return super().command(name, cls=cls or Command, **kwargs)


app = _Typer(
    name="mouseface",
    cls=Group,
    help="Facial expressions of emotion states in mice, from face video, and the neurons "
    "that track them. Start with `mouseface demo`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 100},
)


def _print_version(value: bool) -> None:
    if value:
        from mouseface import __version__

        typer.echo(f"mouseface {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                 help="Print mouseface's version and exit."),
) -> None:
    # The help text is the app's (above); this callback only carries the global options.
    pass


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
        except OSError as exc:  # disk full, read-only, no permission: the file and the problem
            raise fail(os_error_line(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


def locks_folder(where: Callable[[dict], tuple[Path, bool] | None],
                 command: str | None = None) -> Callable[[Callable], Callable]:
    """For a command that writes into a results folder: hold the folder's lock while it runs
    (:mod:`mouseface.io.lock`), so that it refuses while another command writes there.
    ``where(kwargs)`` gives the folder and whether to create it (a new results folder), or
    None when the command writes into none; ``command`` names the holder (default the
    function's name)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            import contextlib

            from mouseface.io.lock import results_lock

            folder = where(kwargs)
            with (contextlib.nullcontext() if folder is None else
                  results_lock(folder[0], command or func.__name__, create=folder[1])):
                return func(*args, **kwargs)

        return wrapper

    return decorate


def into_results(kwargs: dict) -> tuple[Path, bool] | None:
    """The ``results`` folder a command adds to, unless its ``out`` goes elsewhere (for
    :func:`locks_folder`: an ``out`` inside the folder, or none, writes there)."""
    results, out = Path(kwargs["results"]), kwargs.get("out")
    if out is not None:
        folder, target = results.resolve(), Path(out).resolve()
        if folder != target and folder not in target.parents:
            return None
    return results, False


#: for a command that writes into its ``results`` folder (the analyses)
locks_results = locks_folder(lambda kwargs: (Path(kwargs["results"]), False))


def _one_line_warning(message, category, filename, lineno, line=None) -> str:
    return f"warning: {message}\n"
