"""Progress reporting: Rich bars that fit the terminal, or nothing with ``quiet``.

Each bar reads ``label  ━━━━━━━━  n/N  pace``. The label gives way first when the terminal is
narrow: it is shortened in the middle (``features 2024-02-23…M-der.mp4 (30 sessions)``), so
the bar and the pace always stay visible. The pace is the rate and the time left while work
goes at one unit a second or faster (``1,234 frames/s, 0:12 left``); slower work (a few
sessions, a handful of analyses) shows the time elapsed instead (``0:46 elapsed``), since a
rate below one a second reads as "0 sessions/s" and its time left jumps about.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.progress import BarColumn, Progress, ProgressColumn, Task
from rich.table import Column
from rich.text import Text

_ELLIPSIS = "…"
_MIN_LABEL = 12  # the label never gets narrower than this (unless it is shorter)


def shorten_middle(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` characters by dropping its middle.

    The start (what is being done) and the end (a file's suffix, a count in brackets) are
    the informative parts of a progress label.

    Examples
    --------
    >>> shorten_middle("features 2024-02-23_08-51-34-ECO_3_000_M-der.mp4", 24)
    'features 202…0_M-der.mp4'
    """
    if len(text) <= width:
        return text
    if width <= 1:
        return _ELLIPSIS[:width]
    head = width // 2
    tail = width - 1 - head
    return text[:head] + _ELLIPSIS + (text[-tail:] if tail else "")


def format_duration(seconds: float) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above."""
    s = max(0, int(round(seconds)))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _Label:
    """A renderable label that fills the width its table cell gets, shortened in the middle."""

    def __init__(self, text: str):
        self.text = text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(len(self.text), _MIN_LABEL), len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(shorten_middle(self.text, options.max_width), style="bold",
                   no_wrap=True, overflow="crop")


class _LabelColumn(ProgressColumn):
    def render(self, task: Task) -> _Label:
        return _Label(task.description)

    def get_table_column(self) -> Column:
        # The one flexible column: it takes what the others leave of the terminal's width.
        return Column(ratio=1, no_wrap=True, min_width=_MIN_LABEL)


class _CountColumn(ProgressColumn):
    """``n/N`` (``n`` while the total is unknown)."""

    def render(self, task: Task) -> Text:
        done = f"{task.completed:,.0f}"
        return Text(done if task.total is None else f"{done}/{task.total:,.0f}",
                    style="progress.download", no_wrap=True)

    def get_table_column(self) -> Column:
        # room for "12,345/12,345" from the start, so the bar does not shift as n grows
        return Column(justify="right", no_wrap=True, min_width=13)


class _PaceColumn(ProgressColumn):
    """Rate and time left at one unit a second or faster; the time elapsed otherwise."""

    def render(self, task: Task) -> Text:
        unit = task.fields.get("unit", "frames")
        elapsed = task.finished_time if task.finished else task.elapsed
        elapsed = elapsed or 0.0
        if task.finished:
            # Rich's rate over the last stretch of work, and no duration beside it: bars are
            # often drawn before their work begins (videos queued for the cores), so the
            # time since the bar appeared is not the time the work took.
            rate = task.finished_speed or (task.completed / elapsed if elapsed > 0 else None)
            text = (f"{rate:,.0f} {unit}/s" if rate is not None and rate >= 1
                    and unit != "steps" else f"done in {format_duration(elapsed)}")
            return Text(text, style="progress.elapsed", no_wrap=True)
        speed = task.speed
        if speed is not None and speed >= 1 and unit != "steps":
            left = task.time_remaining
            text = f"{speed:,.0f} {unit}/s" + (
                f", {format_duration(left)} left" if left is not None else "")
            return Text(text, style="progress.data.speed", no_wrap=True)
        return Text(f"{format_duration(elapsed)} elapsed", style="progress.elapsed",
                    no_wrap=True)

    def get_table_column(self) -> Column:
        return Column(no_wrap=True, min_width=25)  # "1,234 frames/s, 0:12 left"


class Reporter:
    """Hands out progress tasks; with ``quiet`` every call is a no-op.

    Parameters
    ----------
    quiet
        Show nothing.
    console
        Where to draw (default: the terminal, on stdout). Tests draw into a
        ``Console(file=io.StringIO(), width=80)``.
    get_time
        The clock (default :func:`time.monotonic`); for tests.

    Examples
    --------
    >>> reporter = Reporter(quiet=True)
    >>> with reporter.live():
    ...     task = reporter.task("features m01_pain.mp4", total=1200)
    ...     task.advance(600)
    """

    def __init__(self, quiet: bool = False, *, console: Console | None = None,
                 get_time: Callable[[], float] | None = None):
        self.quiet = quiet
        self._console = console
        self._get_time = get_time
        self._progress: Progress | None = None

    @contextlib.contextmanager
    def live(self) -> Iterator[Reporter]:
        """Draw the bars of the tasks handed out inside this block; nested blocks share one."""
        if self.quiet or self._progress is not None:
            yield self
            return
        console = self._console or Console()
        bar = max(8, min(40, (console.width - 50) // 4))
        self._progress = Progress(
            _LabelColumn(), BarColumn(bar_width=bar), _CountColumn(), _PaceColumn(),
            console=console, transient=False, expand=True,
            **({"get_time": self._get_time} if self._get_time else {}))
        try:
            with self._progress:
                try:
                    yield self
                except Exception:
                    # An error ends in one line naming the problem (bad input) or a traceback:
                    # no half-drawn bars above it. An interrupt (not an Exception) keeps them:
                    # they show how far the work got.
                    for task in self._progress.tasks:
                        task.visible = False
                    raise
        finally:
            self._progress = None

    @contextlib.contextmanager
    def steps(self, label: str, total: int | None) -> Iterator[Callable[[str], None]]:
        """A bar over ``total`` steps of unequal length; yields the callback that names each
        step as it starts (``label: step``), the hook of ``write_report(progress=...)`` and
        ``neural_correlates(progress=...)``.
        """
        with self.live():
            task = self.task(label, total, unit="steps")
            yield lambda step: task.step(f"{label}: {step}")
            task.step(label)
            task.finish()

    def task(self, description: str, total: float | None, unit: str = "frames") -> _Task:
        """A bar for ``total`` units of work (``None``: unknown).

        ``unit`` names what is counted in the rate (``frames``, ``sessions``...); ``steps``
        counts stages of unequal length, for which no rate is shown.
        """
        return _Task(self._progress, description, total, unit)


class _Task:
    def __init__(self, progress: Progress | None, description: str, total, unit: str):
        self._p = progress
        self._stepping = False
        self._id = None if progress is None else progress.add_task(
            description, total=total, unit=unit)

    def advance(self, n: float = 1) -> None:
        """Count ``n`` more units done."""
        if self._p is not None:
            self._p.advance(self._id, n)

    def update(self, **kw) -> None:
        """Change the bar: ``description``, ``total``, ``completed``."""
        if self._p is not None:
            self._p.update(self._id, **kw)

    def step(self, description: str) -> None:
        """Count the previous step done and name the next one (for ``unit="steps"``)."""
        if self._p is not None:
            self._p.update(self._id, description=description,
                           advance=1 if self._stepping else 0)
        self._stepping = True

    def finish(self) -> None:
        """Mark the work done (the bar full, the time stopped)."""
        if self._p is not None:
            task = next(t for t in self._p.tasks if t.id == self._id)
            total = task.total if task.total is not None else task.completed
            self._p.update(self._id, total=total, completed=total)
