"""Spontaneous states and comparisons: ``mouseface bouts`` and ``mouseface compare``."""

from __future__ import annotations

import contextlib
from pathlib import Path

import typer

from mouseface.cli._app import app, locks_folder, user_errors


def _thresholds(freeze: str | None, escape: str | None) -> dict:
    """``"motion_body=1.5,motion_energy=2.4"`` -> {measure: (freeze, escape)}."""
    out: dict[str, list] = {}
    for k, text in ((0, freeze), (1, escape)):
        for part in (text or "").split(","):
            if not part.strip():
                continue
            if "=" not in part:
                raise typer.BadParameter(f"expected MEASURE=VALUE, got {part!r}")
            name, value = (s.strip() for s in part.split("=", 1))
            try:
                out.setdefault(name, [None, None])[k] = float(value)
            except ValueError:
                raise typer.BadParameter(f"{value!r} is not a number") from None
    return {m: tuple(v) for m, v in out.items()}


def _bouts_folder(kwargs: dict) -> tuple[Path, bool] | None:
    """Where ``bouts`` writes: ``--out`` (created), else the results folder it reads."""
    out, source = kwargs.get("out"), kwargs.get("source")
    if out is not None:
        return Path(out), True
    return (Path(source), False) if source is not None and Path(source).is_dir() else None


@app.command()
@user_errors
@locks_folder(_bouts_folder)
def bouts(
    source: Path | None = typer.Argument(None, help="A sessions table (movement is measured "
                                         "here, one decoding pass per video) or a results "
                                         "folder (its frames.parquet movement columns); "
                                         "none with --poses.", show_default=False),
    events: Path | None = typer.Argument(None, help="Events table: the stimuli and the event "
                                         "that starts the fear context (default for a results "
                                         "folder: its trials.csv)."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Results folder to write "
                                    "behaviour/ into (default: the results folder given)."),
    context: str | None = typer.Option(None, "--context", help="Trial type whose first event "
                                       "in a session starts its fear context (e.g. footshock) "
                                       "[default: whole sessions]."),
    session: list[str] = typer.Option(None, "--session", help="Analyse only this session "
                                      "(repeat for several)."),
    speed: Path | None = typer.Option(None, "--speed", help="Running-speed or wheel-encoder "
                                      "table (time in s on the video clock + one value column) "
                                      "of the one session analysed; or a 'speed' column in the "
                                      "sessions table."),
    min_freeze: float = typer.Option(5.0, "--min-freeze", help="Freezing lasts more than this "
                                     "many seconds."),
    min_escape: float = typer.Option(2.0, "--min-escape", help="Escape lasts more than this "
                                     "many seconds."),
    baseline: float | None = typer.Option(None, "--baseline", help="Bout-free seconds before "
                                          "each bout (its baseline); default the run's "
                                          "prototypes.baseline, or 2."),
    freeze_fraction: float = typer.Option(0.4, "--freeze-fraction", help="Freezing: below "
                                          "floor + this x (typical - floor) of each animal's "
                                          "movement."),
    escape_factor: float | None = typer.Option(None, "--escape-factor", help="Escape: above "
                                               "typical + this x (typical - floor) (default 5;"
                                               " with --poses 2, typical = the 75th percentile "
                                               "of the centroid speed)."),
    typical_quantile: float = typer.Option(0.5, "--typical-quantile", help="Quantile of each "
                                           "animal's movement taken as typical (0.75 for an "
                                           "animal that freezes most of the time)."),
    floor_window: float | None = typer.Option(None, "--floor-window", help="Divide each camera "
                                              "measure by its running 5th percentile over this "
                                              "many seconds (a drifting camera), e.g. 60."),
    freeze_threshold: str | None = typer.Option(None, "--freeze-threshold", help="Fixed "
                                                "freezing thresholds for every animal, e.g. "
                                                "motion_body=1.5,motion_energy=2.4."),
    escape_threshold: str | None = typer.Option(None, "--escape-threshold", help="Fixed escape "
                                                "threshold, e.g. motion_wheel=3 or speed=5."),
    freeze_measures: str | None = typer.Option(None, "--freeze-measures", help="Comma-separated "
                                               "measures that must all be still (default "
                                               "motion_body,motion_energy)."),
    escape_measure: str | None = typer.Option(None, "--escape-measure", help="Measure of "
                                              "escape (default speed, else motion_wheel, else "
                                              "motion_body)."),
    smooth: float | None = typer.Option(None, "--smooth", help="Seconds of moving mean "
                                        "first (default 0.5; 0.25 with --poses)."),
    poses: Path | None = typer.Option(None, "--poses", help="A pose file (DeepLabCut .h5/.csv,"
                                      " SLEAP .slp/.h5, Lightning Pose .csv, Facemap .h5): "
                                      "bouts from the tracked body, no video; writes "
                                      "OUT/bouts.tsv.", show_default=False),
    fps: float | None = typer.Option(None, "--fps", help="Frame rate of the poses (when the "
                                     "file has none)."),
    individual: str | None = typer.Option(None, "--individual", help="The animal of a "
                                          "multi-animal pose file."),
    min_likelihood: float = typer.Option(0.6, "--min-likelihood", help="Pose points below "
                                         "this likelihood are dropped (DeepLabCut's pcutoff)."),
    max_gap: int = typer.Option(5, "--max-gap", help="Frames of a pose gap filled by "
                                "interpolation; longer gaps stay missing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Find freezing and escape bouts from movement or poses.

    Freezing (passive fear) and escape (active fear) bouts from the body, wheel and face
    movement, written as events for `run`, `fit` and `score`; with --poses, from a pose
    file's tracked body parts (freezing: every part still)."""
    if poses is not None:
        _pose_bouts(source, poses, out, events=events, session=session,
                    context=None if context is None or context.lower() == "none" else context,
                    fps=fps, individual=individual,
                    min_likelihood=min_likelihood, max_gap=max_gap, min_freeze=min_freeze,
                    min_escape=min_escape, baseline=baseline, freeze_fraction=freeze_fraction,
                    escape_factor=escape_factor, typical_quantile=typical_quantile,
                    thresholds=_thresholds(freeze_threshold, escape_threshold) or None,
                    smooth=smooth)
        return
    if source is None:
        raise typer.BadParameter("give a sessions table or a results folder (or --poses)")
    escape_factor = 5.0 if escape_factor is None else escape_factor
    smooth = 0.5 if smooth is None else smooth
    from mouseface.workflows import behaviour

    freeze = [m.strip() for m in freeze_measures.split(",") if m.strip()] \
        if freeze_measures else None
    if context is not None and context.lower() == "none":  # the earlier spelling of the default
        context = None
    s = behaviour.bouts(
        source, events, out=out, context=context,
        sessions=session or None, speed=speed, freeze=freeze, escape=escape_measure,
        thresholds=_thresholds(freeze_threshold, escape_threshold) or None, smooth=smooth,
        min_freeze=min_freeze, min_escape=min_escape, baseline=baseline,
        freeze_fraction=freeze_fraction, escape_factor=escape_factor,
        typical_quantile=typical_quantile, floor_window=floor_window, quiet=quiet)
    for sess, counts in s["per_session"].items():
        typer.echo(f"  {sess:<24} {counts['passive_fear']:>3} freezing  "
                   f"{counts['active_fear']:>3} escape")
    if s["rejected"]:
        typer.echo(f"  {len(s['rejected'])} bouts rejected (no bout-free baseline): see "
                   f"{s['paths']['summary']}")
    for sess, why in s["skipped_sessions"].items():
        typer.echo(f"  skipped {sess}: {why}")
    typer.echo(f"bouts:  {s['paths']['bouts']}")
    typer.echo(f"events with the bouts (give them to run): {s['paths']['events']}")


def _pose_bouts(source, poses, out, *, smooth, escape_factor, events, session, context,
                **kw) -> None:
    from mouseface._errors import InputError
    from mouseface.workflows.pose_bouts import POSE_DEFAULTS, bouts_from_poses

    if source is not None:
        if not source.is_dir():
            raise InputError("with --poses, SOURCE is a results folder (the poses are of one "
                             "of its sessions), or none", source)
        if session and len(session) > 1:
            raise InputError("--poses is one session's: give one --session", poses)
        kw.update(results=source, session=session[0] if session else None, events=events,
                  context=context)
    elif out is None:
        raise InputError("give --out: the folder to write bouts.tsv into", poses)
    s = bouts_from_poses(poses, out=out,
                         smooth=POSE_DEFAULTS["smooth"] if smooth is None else smooth,
                         escape_factor=POSE_DEFAULTS["escape_factor"] if escape_factor is None
                         else escape_factor, **kw)
    c = s["cleaning"]
    typer.echo(f"  {s['individual']}: {s['frames']} frames at {s['fps']:g} fps; "
               f"{c['below_threshold']} points below likelihood {c['min_likelihood']}, "
               f"{c['filled']} filled, {c['left']} missing")
    typer.echo(f"  {s['counts']['passive_fear']} freezing  {s['counts']['active_fear']} escape"
               + (f"  ({len(s['rejected'])} rejected: no bout-free baseline)"
                  if s["rejected"] else ""))
    typer.echo(f"bouts:  {s['files'][0]}")
    if source is not None:
        typer.echo(f"events with the bouts (give them to run): {s['files'][1]}")


@app.command()
@user_errors
def compare(
    results: Path = typer.Argument(..., help="Results folder written by `mouseface run` (or "
                                   "`score`).", show_default=False),
    by: str = typer.Option(..., "--by", help="Events column whose levels are compared, e.g. "
                           "need (thirsty/sated), concentration, day."),
    levels: str | None = typer.Option(None, "--levels", help="Comma-separated levels, the "
                                      "reference first (default: sorted; each other level is "
                                      "compared with the first)."),
    unit: str = typer.Option("auto", "--unit", help="auto (animals when there are at least "
                             "--min-animals, else trials), animal, or trial."),
    min_animals: int = typer.Option(6, "--min-animals", help="Fewest animals for auto to "
                                    "compare over animals."),
    conditions: str | None = typer.Option(None, "--conditions", help="Comma-separated "
                                          "conditions (default: all with two levels)."),
    correction: str = typer.Option("holm", "--correction", help="holm, bh or none."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Trial scores compared between the levels of an events column.

    The effect of an events column (need, concentration, day...) on every condition's trial
    scores: difference with a bootstrap CI, paired test, figure and table."""
    from mouseface.workflows.compare import compare as run_compare

    lv = [x.strip() for x in levels.split(",") if x.strip()] if levels else None
    if lv:
        with contextlib.suppress(ValueError):  # numeric levels (a concentration, a day)
            lv = [float(x) for x in lv]
    conds = [c.strip() for c in conditions.split(",") if c.strip()] if conditions else None
    table = run_compare(results, by, levels=lv, unit=unit, min_animals=min_animals,
                        conditions=conds, correction=correction, random_state=seed)
    from mouseface.report.findings import comparison_lines

    own = table[table["condition"] == table["prototype"]]
    for line in comparison_lines(own.to_dict("records"), by, correction):
        typer.echo(line)
    typer.echo(f"{int(table['significant'].sum())} of {len(table)} condition x prototype "
               f"comparisons significant after {correction}; all of them in "
               f"{table.attrs['files'][0]}")

