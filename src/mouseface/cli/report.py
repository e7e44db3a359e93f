"""Commands that show and share a results folder: report, overlay, export-nwb."""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, into_results, locks_folder, user_errors

ResultsDir = typer.Argument(..., help="Results folder (what `mouseface run` wrote).",
                            show_default=False)
Quiet = typer.Option(False, "--quiet", "-q", help="No progress bars or messages.")


@app.command()
@user_errors
@locks_folder(into_results)
def report(
    results: Path = ResultsDir,
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="HTML file to write [default: RESULTS/report.html]."),
    sessions: int = typer.Option(6, "--sessions", min=1,
                                 help="Sessions whose similarity traces are drawn."),
    animals: int = typer.Option(4, "--animals", min=1,
                                help="Animals whose prototypes are drawn."),
    quiet: bool = Quiet,
) -> None:
    """Write report.html, one self-contained page of the results.

    The run, prototypes, traces and scores, and the figures of `mouseface analyze`
    (RESULTS/analysis/) and of the neural analysis (RESULTS/neural/) when they exist. The
    page needs no network: open it in any browser, mail it, archive it.
    """
    from mouseface._progress import Reporter
    from mouseface.report.html import write_report

    with Reporter(quiet).steps("report", 2) as step:
        path = write_report(results, out, max_sessions=sessions, max_animals=animals,
                            progress=step)
    if not quiet:
        typer.echo(f"report written to {path}")


@app.command()
@user_errors
def summary(results: Path = ResultsDir) -> None:
    """Print what a results folder found, with its uncertainty.

    The report's Findings: how many trials their own prototype top-scores, the own-prototype
    scores, the bouts, the comparisons, the classification and the neurons, each where its
    files exist.
    """
    from mouseface._errors import InputError
    from mouseface.io.layout import ResultsLayout
    from mouseface.report.findings import findings, findings_lines

    if not ResultsLayout(results).is_results():
        raise InputError("not a mouseface results folder (no run.json, no frames.parquet)",
                         results)
    lines = findings_lines(findings(results))
    for line in lines or ["nothing found yet: no trials.csv, analysis/, behaviour/ or "
                          "neural/ results in this folder"]:
        typer.echo(line)


@app.command()
@user_errors
@locks_folder(into_results)
def overlay(
    results: Path = ResultsDir,
    session: str = typer.Argument(..., help="Session id (a row of the sessions table).",
                                  show_default=False),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="mp4 file to write [default: RESULTS/overlay/SESSION.mp4]."),
    quiet: bool = Quiet,
) -> None:
    """Write an mp4 of a face with live similarity bars.

    The session's face crop, one bar per prototype, and the stimuli marked. One output frame
    per input frame, at the video's frame rate; the crop is re-decoded from the session's
    video, so the video must still be where the run found it.
    """
    from mouseface.report.overlay import write_overlay

    path = write_overlay(results, session, out, quiet=quiet)
    if not quiet:
        typer.echo(f"overlay written to {path}")


@app.command("export-nwb")
@user_errors
@locks_folder(into_results, "export-nwb")
def export_nwb(
    results: Path = ResultsDir,
    out: Path | None = typer.Option(None, "--out", "-o",
                                    help="Folder for SESSION.nwb files [default: RESULTS/nwb]."),
    session: list[str] | None = typer.Option(None, "--session", "-s", metavar="SESSION",
                                             help="Export only this session (repeatable)."),
    subjects: Path | None = typer.Option(
        None, "--subjects", metavar="TABLE",
        help="Subjects table, one row per animal: animal, and any of sex (M/F/U/O), age "
        "(ISO 8601, e.g. P90D), date_of_birth, strain, genotype, species, "
        "subject_description."),
    sessions_table: Path | None = typer.Option(
        None, "--sessions-table", metavar="TABLE",
        help="Sessions table whose metadata columns to use (subject columns, experimenter, "
        "institution, lab, session_start_time, session_description) [default: the one "
        "run.json records]."),
    quiet: bool = Quiet,
) -> None:
    """Write one NWB file per session, ready for an archive.

    Similarities, trials, parameters and a link to the video. DANDI requires the subject's
    sex and age (or date of birth): give them as columns of the sessions table or in a
    subjects table (--subjects); without them the export warns and each file's notes say what
    is missing. Without a session_start_time column, the start time is the video file's
    modification time (the notes say so).
    """
    from mouseface.io.nwb_export import export_nwb as _export

    def progress(s: str) -> None:
        if not quiet:
            typer.echo(f"  {s}")

    paths = _export(results, out, sessions=session or None, subjects=subjects,
                    sessions_table=sessions_table, progress=progress)
    if not quiet:
        folder = paths[0].parent if paths else out
        typer.echo(f"{len(paths)} NWB file(s) written to {folder}")
