"""`mouseface neural`: the neurons that track each facial expression.

A thin layer over :func:`mouseface.workflows.neural.neural_correlates`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, user_errors


@app.command()
@user_errors
def neural(
    results: Path = typer.Argument(..., help="Results folder written by `mouseface run` (or "
                                   "`score`).", show_default=False),
    traces: Path = typer.Option(..., "--traces", "-t", help="Neural traces: a suite2p folder "
                                "(F.npy, Fneu.npy, iscell.npy, ops.npy), an NWB file "
                                "(RoiResponseSeries in DfOverF or Fluorescence of "
                                "processing/ophys), or a CSV/TSV/Parquet table with a time "
                                "column and one column per neuron.", show_default=False),
    kind: str | None = typer.Option(None, "--kind", "-k",
                                    help="suite2p, nwb or table (default: from the path)."),
    session: str | None = typer.Option(None, "--session", "-s",
                                       help="Session of the results the imaging belongs to "
                                       "(needed when there are several)."),
    rate: float | None = typer.Option(None, "--rate", help="Imaging rate in Hz; overrides the "
                                      "file's timestamps."),
    offset: float = typer.Option(0.0, "--offset", help="Video time (s) of the first imaging "
                                 "frame, i.e. where the imaging clock reads zero."),
    shifts: int = typer.Option(1000, "--shifts", "-n", help="Circular shifts in the null "
                               "(0: every admissible shift)."),
    min_shift: float = typer.Option(10.0, "--min-shift", help="Minimum circular shift (s)."),
    tau: float = typer.Option(0.0, "--tau", help="Convolve expressions with a calcium kernel "
                              "of this decay (s) first, e.g. 0.7 for GCaMP6s (0: off)."),
    alpha: float = typer.Option(0.05, "--alpha", help="False discovery rate."),
    neuropil: float = typer.Option(0.7, "--neuropil", help="suite2p neuropil coefficient: "
                                   "F - a*Fneu."),
    permutations: int = typer.Option(100, "--permutations",
                                     help="Label shuffles for the decoding chance level."),
    seed: int = typer.Option(0, "--seed"),
    out: Path | None = typer.Option(None, "--out", "-o", help="Output folder (default "
                                    "DIR/neural)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """The neurons whose activity tracks each facial expression.

    Every neuron is correlated with every expression trace, with a circular-shift null.
    Writes neurons.csv, neural_summary.json and figures (correlation matrix, example traces,
    PSTH heatmaps).
    """
    from mouseface._progress import Reporter
    from mouseface.workflows.neural import STEPS, neural_correlates

    with Reporter(quiet).steps("neural", len(STEPS)) as step:
        s = neural_correlates(results, traces, kind=kind, session=session, rate=rate,
                              offset=offset, n_shifts=shifts or None, min_shift=min_shift,
                              tau=tau or None, alpha=alpha, neuropil=neuropil,
                              n_permutations=permutations, seed=seed, out=out, progress=step)
    fr = s["fractions"]
    typer.echo(f"{s['n_neurons']} neurons x {len(s['expressions'])} expressions, "
               f"{s['overlap']['seconds']:.1f} s of overlap, {s['settings']['n_shifts']} shifts")
    typer.echo(f"tracking (q <= {alpha:g}): " + ", ".join(
        f"{k} {v:.0%}" for k, v in fr["per_expression"].items())
        + f"; mixed {fr['mixed']:.0%}")
    d = s["decoding"]
    if "skipped" in d:
        typer.echo(f"decoding skipped: {d['skipped']}")
    else:
        typer.echo(f"decoding of the trial condition: balanced accuracy "
                   f"{d['balanced_accuracy']:.2f} (chance {d['chance']:.2f})")
    typer.echo(f"written: {Path(s['files'][0]).parent}")
