"""The command line: a thin Typer layer over :mod:`mouseface.workflows.pipeline` and the analyses.

Each module here registers its commands on the one app; ``main`` is the console script.
"""

from __future__ import annotations

from mouseface.cli import (  # noqa: F401  (registers commands)
    analysis,  # noqa: F401
    behaviour,  # noqa: F401
    core,
    demo,
    live,  # noqa: F401
    neural,  # noqa: F401
    poses,  # noqa: F401
    report,  # noqa: F401
    view,  # noqa: F401
)
from mouseface.cli._app import app


def main() -> None:
    """Entry point of the ``mouseface`` console script.

    A command that ends normally leaves the process without the interpreter's teardown
    (:func:`_exit_now`).
    """
    _fewer_malloc_arenas()
    try:
        app()
    except SystemExit as exc:
        _exit_now(exc.code)
        raise


def _exit_now(code) -> None:
    """End the process with ``code`` (an int or None) without the interpreter's teardown.

    Tearing down the ~2300 modules a ``run`` loads (NumPy, pandas, Numba, SciPy, Zarr...)
    costs about half a second of CPU and more of wall time, and does nothing a finished
    command needs: the exit handlers (``atexit``) still run and the standard streams are
    flushed; every file a command writes is closed before it returns. Returns, so that the
    caller exits the usual way, when a thread other than daemons is still running (the usual
    exit waits for it), when the code is not a number, or when the output cannot be flushed
    (Python then reports it and exits with 120).
    """
    import atexit
    import os
    import sys
    import threading

    if not (code is None or isinstance(code, int)):
        return
    if any(t.is_alive() and not t.daemon for t in threading.enumerate()
           if t is not threading.current_thread()):
        return
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = 120
    _flush_c_streams()
    os._exit(code or 0)


def _flush_c_streams() -> None:
    """Flush the C library's buffered streams (what a library printed through ``printf``),
    which ``os._exit`` would drop."""
    import contextlib
    import ctypes

    with contextlib.suppress(OSError, AttributeError, TypeError):
        ctypes.CDLL(None).fflush(None)


def _fewer_malloc_arenas() -> None:
    """glibc gives each new thread its own malloc arena; with a decoder and a pass thread per
    core, freed frame buffers then linger in several arenas (about 85 MB more peak memory on a
    400x400 face). Two arenas serve these threads as fast."""
    import contextlib
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):  # not glibc (e.g. musl)
        ctypes.CDLL("libc.so.6").mallopt(-8, 2)  # M_ARENA_MAX


__all__ = ["app", "main"]
