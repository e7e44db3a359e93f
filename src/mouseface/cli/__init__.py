"""The command line: a thin Typer layer over :mod:`mouseface.workflows.pipeline` and the analyses.

Each module here registers its commands on the one app; ``main`` is the console script.
"""

from __future__ import annotations

from mouseface.cli import (  # noqa: F401  (registers commands)
    analysis,  # noqa: F401
    core,
    demo,
    neural,  # noqa: F401
    report,  # noqa: F401
    view,  # noqa: F401
)
from mouseface.cli._app import app


def main() -> None:
    """Entry point of the ``mouseface`` console script."""
    app()


__all__ = ["app", "main"]
