"""Opens of one file and bytes read from it, from an strace log.

Run::

    strace -f -e trace=openat,read -o st.txt mouseface run sessions.csv events.csv --out DIR
    python benchmarks/strace_opens.py VIDEO st.txt

Reads are attributed to the descriptor's last ``openat`` in the same thread (threads share
descriptors, so a read in another thread is missed: the byte count is approximate).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

UNFINISHED = "<unfinished ...>"


def count(path: str, log: str) -> tuple[int, int]:
    """Opens of ``path`` and bytes read from it in the strace log ``log``."""
    fds: dict[tuple[str, int], str] = {}
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
            opened = re.match(r'openat\(AT_FDCWD, "([^"]+)".*\)\s+=\s+(-?\d+)', rest)
            if opened:
                fd = int(opened.group(2))
                if fd >= 0:
                    fds[(tid, fd)] = opened.group(1)
                    opens += opened.group(1) == path
                continue
            read = re.match(r"read\((\d+),.*\)\s+=\s+(\d+)", rest)
            if read and fds.get((tid, int(read.group(1)))) == path:
                nbytes += int(read.group(2))
    return opens, nbytes


if __name__ == "__main__":
    video, log = sys.argv[1], sys.argv[2]
    n_open, n_read = count(video, log)
    size = Path(video).stat().st_size
    print(f"opens {n_open}, bytes read {n_read} = {n_read / size:.2f} x size {size}")
