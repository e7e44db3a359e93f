"""Progress bars as a user sees them in an 80-column terminal (mouseface._progress)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from mouseface._errors import InputError
from mouseface._progress import Reporter, format_duration, shorten_middle

LONG = "features 2024-02-23_08-51-34-ECO_3_000_M-der.mp4 (30 sessions)"


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _draw(build, width: int = 80) -> list[str]:
    """Run ``build(reporter, clock)`` inside a live display; the lines it finally drew."""
    buf, clock = io.StringIO(), Clock()
    console = Console(file=buf, width=width, color_system=None, force_terminal=False)
    reporter = Reporter(console=console, get_time=clock)
    with reporter.live():
        build(reporter, clock)
    return [line.rstrip() for line in buf.getvalue().splitlines() if line.strip()]


def test_a_long_label_leaves_room_for_the_bar_and_the_rate_at_80_columns():
    def build(reporter, clock):
        task = reporter.task(LONG, total=36_000)
        for _ in range(10):
            clock.now += 1.0
            task.advance(1200)

    (line,) = _draw(build)
    assert len(line) <= 80
    assert line.startswith("features 20") and "…" in line and "(30 sessions)" in line
    assert "━━" in line  # the bar, a third full
    assert "12,000/36,000" in line
    assert "1,200 frames/s" in line and "0:20 left" in line  # 24,000 frames at 1,200/s


@pytest.mark.parametrize("width", [60, 80, 120])
def test_several_bars_each_fit_the_terminal(width):
    def build(reporter, clock):
        work = [("reference faces", 20, "videos"), (LONG, 36_000, "frames"),
                ("quality", 30, "sessions")]
        tasks = [(reporter.task(label, total, unit=unit), total)
                 for label, total, unit in work]
        clock.now += 4.0
        for task, total in tasks:
            task.advance(total / 2)

    lines = _draw(build, width)
    assert len(lines) == 3
    assert all(len(line) <= width and "━" in line for line in lines)
    assert width < 100 or LONG in lines[1]  # room enough: the label is whole


def test_slow_work_shows_count_and_elapsed_time_not_a_rate_below_one():
    def build(reporter, clock):
        task = reporter.task("quality", total=4, unit="sessions")
        clock.now += 25.0
        task.advance()
        clock.now += 21.0

    (line,) = _draw(build)
    assert "1/4" in line and "0:46 elapsed" in line
    assert "sessions/s" not in line and "left" not in line


def test_steps_name_the_step_running_and_the_finished_bar_says_how_long():
    seen = []

    def build(reporter, clock):
        with reporter.steps("analyses", 3) as starting:
            for name in ("classify", "embed", "cluster"):
                starting(name)
                clock.now += 5.0
                seen.append(reporter._progress.tasks[-1].description)

    (line,) = _draw(build)
    assert seen == ["analyses: classify", "analyses: embed", "analyses: cluster"]
    assert line.startswith("analyses ") and "3/3" in line and "done in 0:15" in line


@pytest.mark.parametrize("error, bar_kept", [(InputError("no overlap", "a.nwb"), False),
                                             (KeyboardInterrupt(), True)])
def test_bad_input_leaves_no_half_drawn_bar_above_its_error_line(error, bar_kept):
    buf = io.StringIO()
    reporter = Reporter(console=Console(file=buf, width=80, color_system=None))
    with pytest.raises(type(error)), reporter.live():
        reporter.task("quality", 4, unit="sessions").advance(1)
        raise error
    # an interrupted run still shows how far it got
    assert ("1/4" in buf.getvalue()) == bar_kept


def test_quiet_draws_nothing(capsys):
    reporter = Reporter(quiet=True)
    with reporter.live(), reporter.steps("analyses", 2) as starting:
        reporter.task(LONG, 100).advance(50)
        starting("classify")
    assert capsys.readouterr().out == ""


def test_shorten_middle_keeps_both_ends_and_the_width():
    for width in (5, 12, 30, 61):
        short = shorten_middle(LONG, width)
        assert len(short) == width and short.count("…") == 1
        assert LONG.startswith(short.split("…")[0]) and LONG.endswith(short.split("…")[1])
    assert shorten_middle("quality", 30) == "quality"


def test_durations_read_as_clock_times():
    assert [format_duration(s) for s in (0, 46, 75.4, 3725)] == ["0:00", "0:46", "1:15",
                                                                  "1:02:05"]


def test_a_finished_bar_gives_the_rate_of_its_work_not_the_wait_before_it():
    def build(reporter, clock):
        task = reporter.task("features m01_pain.mp4", total=2_000)
        clock.now += 30.0  # queued behind other videos
        for _ in range(4):
            clock.now += 1.0
            task.advance(500)

    (line,) = _draw(build)
    assert "2,000/2,000" in line and line.endswith("500 frames/s")
