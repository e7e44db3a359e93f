"""`mouseface neural`: the neurons that track each facial expression, beyond movement.

A thin layer over :func:`mouseface.workflows.neural.neural_correlates`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, into_results, locks_folder, user_errors


@app.command()
@user_errors
@locks_folder(into_results)
def neural(
    results: Path = typer.Argument(..., help="Results folder written by `mouseface run` (or "
                                   "`score`).", show_default=False),
    traces: list[Path] = typer.Option(..., "--traces", "-t", help="Neural traces: a suite2p "
                                      "folder (F.npy, Fneu.npy, iscell.npy, ops.npy), an NWB "
                                      "file (RoiResponseSeries in DfOverF or Fluorescence of "
                                      "processing/ophys), or a CSV/TSV/Parquet table with a "
                                      "time column and one column per neuron. Repeat it with "
                                      "--session, once per session, for the same neurons in "
                                      "several sessions.", show_default=False),
    kind: str | None = typer.Option(None, "--kind", "-k",
                                    help="suite2p, nwb or table (default: from the path)."),
    session: list[str] | None = typer.Option(None, "--session", "-s",
                                             help="Session of the results the imaging belongs "
                                             "to (needed when there are several). Repeat it "
                                             "for the same neurons imaged in several "
                                             "sessions."),
    rate: float | None = typer.Option(None, "--rate", help="Imaging rate in Hz; overrides the "
                                      "file's timestamps."),
    offset: list[float] | None = typer.Option(None, "--offset", help="Video time (s) of the "
                                              "first imaging frame, i.e. where the imaging "
                                              "clock reads zero (once, or once per session)."),
    deconvolved: bool = typer.Option(False, "--deconvolved", help="Use the deconvolved "
                                     "activity (suite2p spks.npy, an NWB deconvolved series) "
                                     "instead of dF/F."),
    null: str = typer.Option("linear", "--null", help="Significance test: 'linear' (high-pass, "
                             "then the linear-shift test; holds on drifting, bleaching traces) "
                             "or 'circular' (the original circular-shift test, for "
                             "comparison)."),
    highpass: float | None = typer.Option(None, "--highpass", help="High-pass cutoff period "
                                          "(s) before the test (default: 60 for linear, none "
                                          "for circular; 0: none)."),
    shifts: int = typer.Option(0, "--shifts", "-n", help="Shifts in the null (0: every "
                               "admissible lag; several sessions: 10000 random combinations)."),
    max_shift: float | None = typer.Option(None, "--max-shift", help="Linear null: largest "
                                           "shift (s); default a quarter of each session."),
    min_shift: float = typer.Option(10.0, "--min-shift", help="Circular null: minimum "
                                    "shift (s)."),
    tau: float | None = typer.Option(None, "--tau", help="Convolve expressions with a calcium "
                                     "kernel of this decay (s) first (default 0.7, GCaMP6s-"
                                     "like, for dF/F; none for --deconvolved; 0: none)."),
    movement: bool = typer.Option(True, "--movement/--no-movement", help="Control for the "
                                  "face's movement (motion_energy, motion_<region>)."),
    hog_motion: int = typer.Option(0, "--hog-motion", help="Add this many low-rank motion "
                                   "components of the HOG features as movement regressors."),
    action_units: bool = typer.Option(False, "--action-units", help="Test the facial action "
                                      "units (au_ columns of run --poses) like the "
                                      "expression traces, beside them."),
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
    """The neurons that track each expression, beyond movement.

    Finds the neurons that track each expression trace, and which of them only track movement.

    Writes neurons.csv, neural_summary.json and figures (correlation matrix, movement
    control, example traces, PSTH heatmaps).
    """
    from mouseface._progress import Reporter
    from mouseface.workflows.neural import STEPS, neural_correlates

    with Reporter(quiet).steps("neural", len(STEPS)) as step:
        s = neural_correlates(
            results, traces if len(traces) > 1 else traces[0], kind=kind,
            session=session if session and len(session) > 1 else
            (session[0] if session else None),
            rate=rate, offset=(offset if offset and len(offset) > 1 else
                               (offset[0] if offset else 0.0)),
            deconvolved=deconvolved, null=null, n_shifts=shifts or None, min_shift=min_shift,
            max_shift=max_shift, highpass=highpass, tau=tau, movement=movement,
            hog_components=hog_motion, action_units=action_units, alpha=alpha,
            neuropil=neuropil,
            n_permutations=permutations, seed=seed, out=out, progress=step)
    for line in summary_lines(s):
        typer.echo(line)


def movement_line(s: dict) -> str:
    """What the movement control did to the neurons that track an expression."""
    t = s["movement"]["of_tracking"]
    return (f"after movement control, of the {s['counts']['tracking']}: {t['expression']} "
            f"expression, {t['both']} both, {t['movement']} only movement, {t['shared']} "
            f"shared; {t['movement_only_others']} other neurons track movement only")


def summary_lines(s: dict) -> list[str]:
    """What the terminal says about a neural summary (the demo prints the same)."""
    c = s["counts"]
    nl = s["null"]
    lines = [f"{s['n_neurons']} neurons x {len(s['expressions'])} expressions, "
             f"{s['overlap']['seconds']:.1f} s of overlap in {len(s['sessions'])} session(s)",
             f"null: {nl['name']} (smallest p {nl['smallest_p']:.2g}, {nl['n_shifts']} shifts)"]
    groups = ", ".join(f"{k} {v}" for k, v in c["preferred"].items() if v)
    lines.append(f"neurons tracking an expression (q <= {s['settings']['alpha']:g}): "
                 f"{c['tracking']} of {c['neurons']}" + (f" ({groups})" if groups else ""))
    if s.get("movement"):
        lines.append(movement_line(s) + f" (movement: {', '.join(s['movement']['regressors'])})")
    d = s["decoding"]
    if "skipped" in d:
        lines.append(f"decoding skipped: {d['skipped']}")
    else:
        lines.append(f"decoding of the trial condition: balanced accuracy "
                     f"{d['balanced_accuracy']:.2f} (chance {d['chance']:.2f})")
    lines.append(f"written: {Path(s['files'][0]).parent}")
    return lines
