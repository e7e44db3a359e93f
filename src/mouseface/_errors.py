"""Errors that reach the user as one line."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad user input: a file, a table row or a setting that cannot be used.

    The message is one line that names the file (when there is one) and the problem; the CLI
    prints it and exits with a non-zero code, without a traceback.

    Parameters
    ----------
    message
        What is wrong and, where possible, what to do.
    path
        The file or folder the problem is in.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = None if path is None else Path(path)
        self.problem = message
        text = message if path is None else f"{path}: {message}"
        super().__init__(text.replace("\n", " "))


#: What ``pip install`` line brings each optional extra, named by its packages: the same line
#: works in a clone, from a wheel and from an index, where ``"mouseface[extra]"`` works only from
#: an index and ``-e ".[extra]"`` only in a clone. ``tests/unit/test_install_hints.py`` checks
#: these against ``[project.optional-dependencies]`` in pyproject.toml.
EXTRAS: dict[str, str] = {
    "live": "pip install pylsl",
    "napari": 'pip install "napari[pyqt5]"',
    "umap": "pip install umap-learn",
    "slurm": "pip install dask-jobqueue",
}


def install_hint(extra: str) -> str:
    """The one install line for an optional extra, e.g. ``pip install pylsl``."""
    return EXTRAS[extra]
