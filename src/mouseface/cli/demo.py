"""`mouseface demo`: the first minute of a new user."""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, user_errors


@app.command()
@user_errors
def demo(
    out: Path = typer.Option(Path("mouseface_demo"), "--out", "-o",
                             help="Folder for the simulated data and the results."),
    seed: int = typer.Option(0, help="Random seed of the simulated experiment."),
    animals: int = typer.Option(4, help="Number of simulated animals."),
    trials: int = typer.Option(4, help="Trials per condition (and need) and animal."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Simulate a small experiment and run the whole pipeline on it.

    Synthetic mouse faces with known expressions, and neurons with known coupling; writes
    the simulated data, the results and the report to OUT.
    """
    from mouseface.workflows import demo as pipeline

    s = pipeline.demo(out, seed=seed, n_animals=animals, n_trials=trials, quiet=quiet)
    from mouseface.report.findings import findings, findings_lines  # after: the demo's
    # simulation starts before any import it does not need
    typer.echo("")
    for line in findings_lines(findings(s["results"])):
        typer.echo(line)
    typer.echo(f"results:       {s['results']}")
    if s.get("report"):
        typer.echo(f"report:        {s['report']}")
    typer.echo(f"faces figure:  {s['states_figure']}")
    typer.echo(f"done in {s['total_s']:.0f} s (simulation {s['simulate_s']:.0f} s, bouts "
               f"{s['bouts_s']:.0f} s)")
