"""Keypoints: ``mouseface au`` (facial action units)."""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, user_errors


def _ranges(text: str | None) -> list[tuple[float, float]] | None:
    """``"0:10,30:40"`` -> [(0, 10), (30, 40)]."""
    if not text:
        return None
    out = []
    for part in text.split(","):
        try:
            a, b = (float(x) for x in part.split(":"))
        except ValueError:
            raise typer.BadParameter(f"expected START:STOP in seconds, got {part!r}") from None
        out.append((a, b))
    return out


@app.command("au")
@user_errors
def action_units(
    poses: Path = typer.Argument(..., help="Face keypoints: DeepLabCut .h5/.csv, SLEAP "
                                 ".slp/.h5, Lightning Pose .csv, Facemap .h5.",
                                 show_default=False),
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write action_units.csv, "
                             ".json and .png into.", show_default=False),
    video: Path | None = typer.Option(None, "--video", help="The video the poses come from: "
                                      "as many frames, and its frame rate."),
    fps: float | None = typer.Option(None, "--fps", help="Frame rate of the poses."),
    neutral: str | None = typer.Option(None, "--neutral", help="Neutral time ranges in "
                                       "seconds, e.g. 0:10,60:70 (default: every frame)."),
    individual: str | None = typer.Option(None, "--individual", help="The animal of a "
                                          "multi-animal file."),
    config: Path | None = typer.Option(None, "--config", help="TOML settings: [poses] roles, "
                                       "min_likelihood, max_gap, mm_per_px."),
) -> None:
    """Facial action units per frame from face keypoints.

    Eye opening, ear angle, nose bulge, whisker angle, mouth opening and more (docs/poses.md),
    against the animal's neutral frames."""
    from mouseface.settings import load_settings
    from mouseface.workflows.action_units import action_units as run

    s = run(poses, out=out, settings=load_settings(config).poses, video=video, fps=fps,
            individual=individual, neutral=_ranges(neutral))
    c = s["cleaning"]
    typer.echo(f"  {s['frames']} frames; {c['below_threshold']} points below likelihood "
               f"{c['min_likelihood']}, {c['filled']} filled, {c['left']} missing")
    typer.echo(f"  roles: {', '.join(f'{r}={k}' for r, k in s['roles'].items())}")
    for col, unit in s["units"].items():
        x = s["table"][col]
        typer.echo(f"  {col:<22} {unit:<6} median {x.median():+.3g}  "
                   f"5-95%: {x.quantile(0.05):+.3g} .. {x.quantile(0.95):+.3g}")
    typer.echo(f"action units: {s['files'][0]}")
