"""Errors that reach the user as one line."""

from __future__ import annotations

import errno
import re
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
    "napari": 'pip install "napari[pyqt6]"',
    "umap": "pip install umap-learn",
    "slurm": "pip install dask-jobqueue",
}


def install_hint(extra: str) -> str:
    """The one install line for an optional extra, e.g. ``pip install pylsl``."""
    return EXTRAS[extra]


#: What the file system said, in words a user can act on (by ``errno``).
_OS_PROBLEMS = {
    errno.ENOSPC: "no space left on the device: free some or write elsewhere (--out)",
    errno.EDQUOT: "disk quota exceeded: free some space or write elsewhere (--out)",
    errno.EFBIG: "file too large for this file system",
    errno.EROFS: "read-only file system: write elsewhere (--out)",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.ENOTDIR: "a file stands where a folder is needed",
    errno.EISDIR: "is a folder, not a file",
    errno.ENOENT: "no such file or folder",
    errno.EEXIST: "already exists",
    errno.EIO: "input/output error (a failing disk or a lost network share?)",
}


def os_error_line(exc: OSError) -> str:
    """One line for a file-system error (disk full, read-only, no permission...): the file
    and the problem, without errno numbers or a traceback.

    Examples
    --------
    >>> os_error_line(OSError(errno.ENOSPC, "No space left on device", "out/trials.csv"))
    'out/trials.csv: no space left on the device: free some or write elsewhere (--out)'
    """
    code = exc.errno
    if code is None:  # Arrow and others put the errno only in the text
        m = re.search(r"\[errno (\d+)\]", str(exc), re.IGNORECASE)
        code = int(m.group(1)) if m else None
    problem = _OS_PROBLEMS.get(code) or (exc.strerror or str(exc) or type(exc).__name__)
    problem = problem.splitlines()[0] if problem.strip() else type(exc).__name__
    return problem if exc.filename is None else f"{exc.filename}: {problem}"
