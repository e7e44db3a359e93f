"""Commands of the core pipeline: run, fit, score.

Each calls the workflow function that Python users call as ``mouseface.run``, ``fit`` and
``score`` (:mod:`mouseface.workflows.pipeline`), with the same arguments.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, user_errors

Sessions = typer.Argument(..., help="Sessions table (CSV, TSV or Parquet): session, video, "
                          "animal, optional roi 'x,y,w,h' and fps.", show_default=False)
Events = typer.Argument(..., help="Events table: session, onset (s), duration (s), trial_type, "
                        "any other columns.", show_default=False)
Config = typer.Option(None, "--config", "-c", help="TOML settings file (sections hog, "
                      "prototypes, quality, registration, masks, compute).")
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars.")
Report = typer.Option(True, "--report/--no-report", help="Write report.html into the results.")
Workers = typer.Option(None, "--workers", "-w", min=1, help="Extract features on a local Dask "
                       "cluster of N worker processes (overrides workers in the config).")
Scheduler = typer.Option(None, "--scheduler", help="Extract features on a running Dask "
                         "cluster: its scheduler's address, e.g. tcp://host:8786 (overrides "
                         "scheduler in the config).")
Poses = typer.Option(None, "--poses", help="Poses table (session, poses = a DeepLabCut/SLEAP/"
                     "Lightning Pose/Facemap file, optional individual): facial action units "
                     "(au_ columns) beside the scores. Without it, a poses column of the "
                     "sessions table is used.")


@app.command()
@user_errors
def run(
    sessions: Path = Sessions,
    events: Path = Events,
    out: Path = typer.Option(..., "--out", "-o", help="Results folder to write."),
    config: Path | None = Config,
    quiet: bool = Quiet,
    workers: int | None = Workers,
    scheduler: str | None = Scheduler,
    report: bool = Report,
    poses: Path | None = Poses,
) -> None:
    """Score every frame and trial with per-animal prototypes.

    The paper's way: each animal's prototypes come from its own trials. Writes
    frames.parquet, trials.csv, run.json and report.html to the results folder.
    """
    from mouseface.workflows import pipeline

    results = pipeline.run(sessions, events, out, config, workers=workers, scheduler=scheduler,
                           quiet=quiet, report=report, poses=poses)
    _after_run(results.path, quiet)


@app.command()
@user_errors
def fit(
    sessions: Path = Sessions,
    events: Path = Events,
    out: Path = typer.Option(..., "--out", "-o", help="Model folder to write."),
    config: Path | None = Config,
    quiet: bool = Quiet,
    workers: int | None = Workers,
    scheduler: str | None = Scheduler,
) -> None:
    """Fit prototypes on some animals and save them as a model.

    The model keeps the registration template and mask. By default transfer prototypes,
    which score new animals relative to their own neutral face; `[prototypes] mode =
    "pooled"` in the config for the paper's pooled ones.
    """
    from mouseface.workflows import pipeline

    written = pipeline.fit(sessions, events, out, config, workers=workers, scheduler=scheduler,
                           quiet=quiet)
    typer.echo(f"model written to {written} (give it to `mouseface score`)")


@app.command()
@user_errors
def score(
    model: Path = typer.Argument(..., help="Model folder (from `fit` or a results folder).",
                                 show_default=False),
    sessions: Path = Sessions,
    events: Path | None = typer.Argument(None, help="Events table; when given, trials are "
                                         "scored and the neutral face comes from each animal's "
                                         "own baseline (required for transfer models)."),
    out: Path = typer.Option(..., "--out", "-o", help="Results folder to write."),
    quiet: bool = Quiet,
    workers: int | None = Workers,
    scheduler: str | None = Scheduler,
    report: bool = Report,
    poses: Path | None = Poses,
) -> None:
    """Apply a saved model to new sessions.

    Each session is registered onto the model's template first. With poses (and events), the
    action units as `run --poses` measures them.
    """
    from mouseface.workflows import pipeline

    results = pipeline.score(model, sessions, events, out, quiet=quiet, workers=workers,
                             scheduler=scheduler, report=report, poses=poses)
    _after_run(results.path, quiet)


def _after_run(out: Path, quiet: bool) -> None:
    if not quiet:
        typer.echo(f"results written to {out}")
