"""Opens of one file and bytes read from it, from an strace log.

Run::

    strace -f -e trace=openat,read,pread64,readv,preadv,dup,dup2,dup3,fcntl,close \\
        -o st.txt mouseface run sessions.csv events.csv --out DIR
    python benchmarks/strace_opens.py VIDEO st.txt

An open is an ``openat`` of the file; every descriptor that refers to it (the ``openat``'s,
and its copies by ``dup``/``dup2``/``dup3``/``fcntl(F_DUPFD)``) counts the bytes of its reads
(``read``, ``pread64``, ``readv``, ``preadv``) until it is closed. Descriptors are one table
for the whole log (the threads of one process share them), so a run that starts other
processes reading the file is not for this count.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

UNFINISHED = "<unfinished ...>"

#: The ``-e trace=`` list that gives this count everything it needs.
TRACE = "openat,read,pread64,readv,preadv,dup,dup2,dup3,fcntl,close"

_OPENAT = re.compile(r'openat\(AT_FDCWD, "([^"]+)".*\)\s+=\s+(-?\d+)')
_DUP = re.compile(r"(?:dup|dup2|dup3)\((\d+)(?:,[^)]*)?\)\s+=\s+(-?\d+)")
_FCNTL_DUP = re.compile(r"fcntl\((\d+), F_DUPFD(?:_CLOEXEC)?,.*\)\s+=\s+(-?\d+)")
_READ = re.compile(r"(?:read|pread64|readv|preadv)\((\d+),.*\)\s+=\s+(\d+)")
_CLOSE = re.compile(r"close\((\d+)\)\s+=\s+0")


def count(path: str, log: str) -> tuple[int, int]:
    """Opens of ``path`` and bytes read from it in the strace log ``log``."""
    fds: dict[int, str] = {}
    pending: dict[str, str] = {}
    opens = nbytes = 0
    with open(log) as fh:
        for line in fh:
            m = re.match(r"(\d+)\s+(.*)", line.rstrip("\n"))
            if not m:
                continue
            tid, rest = m.groups()
            if "resumed>" in rest and tid in pending:
                rest = pending.pop(tid) + rest.split("resumed>", 1)[1]
            elif rest.endswith(UNFINISHED):
                pending[tid] = rest[:-len(UNFINISHED)]
                continue
            if opened := _OPENAT.match(rest):
                fd = int(opened.group(2))
                if fd >= 0:
                    fds[fd] = opened.group(1)
                    opens += opened.group(1) == path
            elif dup := _DUP.match(rest) or _FCNTL_DUP.match(rest):
                old, new = int(dup.group(1)), int(dup.group(2))
                if new >= 0 and old in fds:
                    fds[new] = fds[old]
                elif new >= 0:
                    fds.pop(new, None)
            elif read := _READ.match(rest):
                if fds.get(int(read.group(1))) == path:
                    nbytes += int(read.group(2))
            elif closed := _CLOSE.match(rest):
                fds.pop(int(closed.group(1)), None)
    return opens, nbytes


if __name__ == "__main__":
    video, log = sys.argv[1], sys.argv[2]
    n_open, n_read = count(video, log)
    size = Path(video).stat().st_size
    print(f"opens {n_open}, bytes read {n_read} = {n_read / size:.2f} x size {size}")
