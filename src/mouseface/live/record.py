"""What a live session streamed, written as a results folder (``mouseface live --record DIR``).

``frames.parquet`` has the columns ``score`` writes (``session, animal, frame, time, window``, the
quality and drift columns, ``sim_<prototype>``, ``grade_<condition>`` for a model with expression
axes), plus what only a live session has:
``lsl_time`` (the sample's LSL timestamp: the frame's capture time), ``latency_ms`` (arrival to
sample pushed; empty for calibration frames, which are read out when calibration ends and not
streamed) and ``skipped`` (frames dropped just before this one to stay current). Calibration
frames have ``window = "neutral"``; frames skipped are absent (their numbers are missing).

Rows are buffered in columns and written in row groups by a writer thread, so the loop never
waits on the disk; the file is written under a temporary name and renamed into place when the
session closes (also when it ends on an error or Ctrl-C), together with ``run.json``.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from pathlib import Path

import numpy as np

from mouseface._atomic import atomic_path, write_json
from mouseface.io.layout import ResultsLayout
from mouseface.live.readout import DRIFT_COLUMNS, QUALITY_COLUMNS, Reading

__all__ = ["Recorder"]

_BOOL = ("blurry", "dark", "saturated", "duplicate", "dropped", "occluded", "large_shift", "flag")


class Recorder:
    """Writes a live session's rows into a results folder.

    Parameters
    ----------
    folder
        The results folder (created).
    session, animal
        The ``session`` and ``animal`` columns.
    names
        The prototypes (``sim_<name>`` columns).
    grades
        The conditions graded (``grade_<condition>`` columns).
    drift
        Whether the drift columns are written (drift correction on).
    note
        Kept in the Parquet metadata (``mouseface.prototypes``), as ``score`` does.
    block
        Rows per row group.
    """

    def __init__(self, folder: str | Path, *, session: str, animal: str, names,
                 drift: bool, grades=(), note: str = "", block: int = 1024):
        self.layout = ResultsLayout(folder)
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.session, self.animal = str(session), str(animal)
        self.names = tuple(names)
        self.grades = tuple(grades)
        self.note = note
        self.block = int(block)
        cols = {"frame": np.int64, "time": np.float64}
        cols.update({c: (np.bool_ if c in _BOOL else np.float32) for c in QUALITY_COLUMNS})
        if drift:
            cols.update(dict.fromkeys(DRIFT_COLUMNS, np.float32))
        cols.update(lsl_time=np.float64, latency_ms=np.float32, skipped=np.int32)
        self._dtypes = cols
        self._fresh()
        self.rows = 0
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.layout.frames))
        self._queue: queue.Queue = queue.Queue()
        self._error: BaseException | None = None
        self._writer = None
        self._thread = threading.Thread(target=self._write_loop, name="mouseface-record",
                                        daemon=True)
        self._thread.start()

    def _fresh(self) -> None:
        self._cols = {c: np.zeros(self.block, d) for c, d in self._dtypes.items()}
        self._sims = np.full((self.block, len(self.names)), np.nan, np.float32)
        self._grades = np.full((self.block, len(self.grades)), np.nan, np.float32)
        self._window: list[str] = []
        self._n = 0

    def add(self, reading: Reading, *, frame: int, time: float, window: str = "",
            lsl_time: float = np.nan, latency_ms: float = np.nan, skipped: int = 0) -> None:
        """One row (a frame's reading and how it was streamed)."""
        i = self._n
        c = self._cols
        c["frame"][i] = frame
        c["time"][i] = time
        q = reading.quality
        for k in QUALITY_COLUMNS:
            c[k][i] = q.get(k, np.nan if c[k].dtype != np.bool_ else False)
        for k in DRIFT_COLUMNS:
            if k in c:
                c[k][i] = q.get(k, np.nan)
        c["lsl_time"][i] = lsl_time
        c["latency_ms"][i] = latency_ms
        c["skipped"][i] = skipped
        self._sims[i] = reading.similarity
        self._grades[i] = reading.grades
        self._window.append(window)
        self._n += 1
        self.rows += 1
        if self._n == self.block:
            self._flush()

    def _flush(self) -> None:
        if not self._n:
            return
        n = self._n
        part = {k: v[:n] for k, v in self._cols.items()}
        part["window"] = np.asarray(self._window, dtype=object)
        part["sims"] = self._sims[:n]
        part["grades"] = self._grades[:n]
        self._queue.put(part)
        self._fresh()

    def _write_loop(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        while True:
            part = self._queue.get()
            if part is None:
                return
            if self._error is not None:
                continue
            try:
                n = len(part["frame"])
                data = {"session": pa.array([self.session] * n),
                        "animal": pa.array([self.animal] * n),
                        "frame": part["frame"], "time": part["time"],
                        "window": pa.array(part["window"].tolist(), pa.string())}
                data.update({k: part[k] for k in self._dtypes if k not in ("frame", "time")})
                for j, name in sorted(enumerate(self.names), key=lambda jn: jn[1]):
                    data[f"sim_{name}"] = part["sims"][:, j]
                for j, name in enumerate(self.grades):  # as `score`: the axes' order
                    data[f"grade_{name}"] = part["grades"][:, j]
                table = pa.table(data)
                if self._writer is None:
                    meta = {**(table.schema.metadata or {}),
                            b"mouseface.prototypes": self.note.encode()}
                    self._writer = pq.ParquetWriter(self._tmp, table.schema.with_metadata(meta))
                self._writer.write_table(table)
            except BaseException as exc:  # reported by close()
                self._error = exc

    def close(self, run: dict) -> Path:
        """Write the last rows, rename ``frames.parquet`` into place and write ``run.json``."""
        self._flush()
        self._queue.put(None)
        self._thread.join()
        try:
            if self._error is None and self._writer is None:  # no row at all: an empty table
                self._n = 0
                self._queue = queue.Queue()
                self._queue.put({k: v[:0] for k, v in self._cols.items()}
                                | {"window": np.empty(0, object), "sims": self._sims[:0],
                                   "grades": self._grades[:0]})
                self._queue.put(None)
                self._write_loop()
            if self._writer is not None:
                self._writer.close()
            if self._error is not None:
                raise self._error
        except BaseException:
            self._stack.__exit__(*_exc_info())
            raise
        self._stack.close()
        write_json(self.layout.run_json, run)
        return self.layout.root


def _exc_info():
    import sys

    return sys.exc_info()
