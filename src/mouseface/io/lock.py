"""One writer per results folder.

Two runs writing one results folder at once would each replace the other's feature stores
and tables: a folder that matches neither, or a crash. :func:`results_lock` takes the folder's
lock (``.mouseface.lock`` in it) for as long as a command writes there; a second command
refuses at once with a line naming the folder and the holder (command, process, machine,
start time).

The lock is an advisory ``flock`` on that file, so the kernel drops it when its holder dies:
a lock left by a killed run is stale and the next run takes it over (saying whose it was).
The holder removes the file when it is done. Locks are re-entrant within one process (``demo``
runs ``run`` inside its own lock). Where ``fcntl`` does not exist (Windows) nothing is locked.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

from mouseface._atomic import naming
from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

__all__ = ["results_lock"]

log = logging.getLogger(__name__)

# folders this process holds: key -> [file descriptor, depth]
_held: dict[str, list[int]] = {}
_guard = threading.Lock()


@contextlib.contextmanager
def results_lock(folder: str | Path, command: str, *, create: bool = True) -> Iterator[Path]:
    """Hold the lock of results folder ``folder`` (created if absent) for the block.

    Parameters
    ----------
    folder
        The results folder (``--out``).
    command
        What holds it (``"run"``, ``"fit"``...), for the line a second command prints.
    create
        False for a command that adds to an existing results folder (``report``): a folder
        that does not exist is neither created nor locked, and the command says what is
        wrong with it.

    Raises
    ------
    InputError
        ``folder`` is a file, or another process holds the folder's lock.
    """
    folder = Path(folder)
    if not create and not folder.is_dir():
        yield folder
        return
    if folder.exists() and not folder.is_dir():
        raise InputError("is a file, not a results folder: give --out a folder (a new name, "
                         "or an earlier results folder to update)", folder)
    created = not folder.exists()
    with naming(folder):
        folder.mkdir(parents=True, exist_ok=True)
    key = str(folder.resolve())
    with _guard:
        if key in _held:
            _held[key][1] += 1
            reentrant = True
        else:
            reentrant = False
    if reentrant:
        try:
            yield folder
        finally:
            with _guard:
                _held[key][1] -= 1
        return
    path = ResultsLayout(folder).lock
    with naming(folder):
        fd = _acquire(path, folder, command)
    with _guard:
        _held[key] = [fd, 1]
    failed = False
    try:
        yield folder
    except BaseException:
        failed = True
        raise
    finally:
        with _guard:
            del _held[key]
        with contextlib.suppress(OSError):
            path.unlink()  # before the lock is dropped: a waiting opener sees it gone
        os.close(fd)
        if failed and created:
            with contextlib.suppress(OSError):  # not empty: the command wrote something
                folder.rmdir()  # a command refused before writing leaves no folder behind


def _acquire(path: Path, folder: Path, command: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        if fcntl is None:  # pragma: no cover - Windows
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            os.close(fd)
            raise InputError(f"{holder} is writing this results folder: wait for it to end, "
                             "or give another --out", folder) from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file as we opened it: lock the new one
    stale = _read(fd)
    if stale:
        log.warning("%s: taking over the lock of %s, which is no longer running", folder,
                 _describe(stale))
    me = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
          "started": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")}
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(me) + "\n").encode(), 0)
    except OSError:
        # a full disk: the lock holds without its holder's name; the run's first output will
        # say what is wrong, naming that output
        pass
    return fd


def _read(fd: int) -> dict:
    try:
        text = os.pread(fd, 4096, 0).decode()
        return json.loads(text) if text.strip() else {}
    except (OSError, ValueError):
        return {}


def _describe(holder: dict) -> str:
    """``mouseface run (process 123 on lab-pc, started ...)``; ``another mouseface command``
    when the holder has not written its name yet."""
    if not holder.get("pid"):
        return "another mouseface command"
    return (f"mouseface {holder.get('command', '?')} (process {holder['pid']} on "
            f"{holder.get('host', '?')}, started {holder.get('started', '?')})")
