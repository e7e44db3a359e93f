"""Atomic writes: every output goes to a temporary name in the same folder, then is renamed.

An interrupted run therefore never leaves a half-written file that a later run could take for a
finished one.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` when the block succeeds.

    The temporary name keeps the suffix of ``path`` so that writers that choose a format from
    the suffix (pandas, matplotlib) still work. On error the temporary file is removed and any
    existing ``path`` is left untouched.
    """
    path = Path(path)
    with naming(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp",
                                        dir=path.parent))
            shutil.rmtree(tmp)
        else:
            fd, name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                        dir=path.parent)
            os.close(fd)
            tmp = Path(name)
            # mkstemp makes the file private; results are meant to be shared like any other
            # file.
            os.chmod(tmp, 0o666 & ~_umask())
    try:
        yield tmp
        if directory:
            if path.exists():
                old = path.with_name(f".{path.name}.old")
                shutil.rmtree(old, ignore_errors=True)
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(tmp, path)
        else:
            os.replace(tmp, path)
    except BaseException as exc:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            _name(exc, path)
        raise


@contextlib.contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """Let a file-system error raised in the block name ``path``, the output being written.

    A write that fills the disk names no file at all, and one that fails inside an output
    (a temporary name beside it, a chunk file inside a store) names a file the user never
    asked for; the CLI prints the name with the problem (:func:`mouseface._errors.
    os_error_line`).
    """
    try:
        yield
    except OSError as exc:
        _name(exc, Path(path))
        raise


def _name(exc: OSError, path: Path) -> None:
    name = None if exc.filename is None else str(exc.filename)
    inside = name is not None and (name.startswith(str(path) + os.sep)
                                   or Path(name).parent == path.parent
                                   and Path(name).name.startswith(f".{path.stem}."))
    if name is None or inside:
        exc.filename = str(path)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically."""
    write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")
