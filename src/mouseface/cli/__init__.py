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
    """Entry point of the ``mouseface`` console script."""
    _fewer_malloc_arenas()
    app()


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
