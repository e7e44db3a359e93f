"""Progress reporting: Rich bars with frames/s and time left, or nothing with ``quiet``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)


class Reporter:
    """Hands out progress tasks; with ``quiet`` every call is a no-op."""

    def __init__(self, quiet: bool = False):
        self.quiet = quiet
        self._progress: Progress | None = None

    @contextlib.contextmanager
    def live(self) -> Iterator[Reporter]:
        if self.quiet:
            yield self
            return
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeRemainingColumn(),
            transient=False)
        with self._progress:
            yield self
        self._progress = None

    def task(self, description: str, total: float | None, unit: str = "frames") -> _Task:
        return _Task(self._progress, description, total, unit)


class _Task:
    def __init__(self, progress: Progress | None, description: str, total, unit: str):
        self._p = progress
        self._unit = unit
        self._id = None if progress is None else progress.add_task(
            description, total=total, rate="")

    def advance(self, n: float = 1) -> None:
        if self._p is None:
            return
        self._p.advance(self._id, n)
        speed = self._p.tasks[self._id].speed if self._id < len(self._p.tasks) else None
        if speed:
            self._p.update(self._id, rate=f"{speed:,.0f} {self._unit}/s")

    def update(self, **kw) -> None:
        if self._p is not None:
            self._p.update(self._id, **kw)
