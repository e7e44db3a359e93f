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
    typer.echo("\nmean trial score of each condition's own prototype "
               "(similarity change from baseline):")
    for cond, value in s["own_condition_score"].items():
        typer.echo(f"  {cond:<14} {value:+.3f}")
    b = s["bouts_found"]
    typer.echo("fear bouts found from behaviour (mouseface bouts), against the simulated ones: "
               + ", ".join(f"{k} {v['found']} of {v['true']} (F1 {v['f1']:.2f})"
                           for k, v in b.items()))
    c = s["compare_need"]
    typer.echo(f"pleasure, {c['levels'][1]} - {c['levels'][0]} (mouseface compare --by need): "
               f"{c['difference']:+.3f} [{c['ci'][0]:+.3f}, {c['ci'][1]:+.3f}], "
               f"p = {c['p_value']:.3g} over {c['unit']}s")
    typer.echo(f"top-scoring prototype is the true condition in "
               f"{100 * s['top_prototype_is_true_condition']:.0f}% of {s['n_trials']} trials")
    if "neurons_found" in s:
        from mouseface.cli.neural import demo_lines

        for line in demo_lines(s["neural"], s["neurons_found"]):
            typer.echo(line)
    typer.echo(f"results:       {s['results']}")
    if s.get("report"):
        typer.echo(f"report:        {s['report']}")
    typer.echo(f"faces figure:  {s['states_figure']}")
    typer.echo(f"done in {s['total_s']:.0f} s (simulation {s['simulate_s']:.0f} s, bouts "
               f"{s['bouts_s']:.0f} s)")
