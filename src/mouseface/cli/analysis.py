"""Analysis verbs over a results folder: classify, embed, cluster, trials, dose, stats, analyze.

Each is a thin layer over :mod:`mouseface.workflows.analysis`; tables and figures go to
DIR/analysis/.
"""

from __future__ import annotations

from pathlib import Path

import typer

from mouseface.cli._app import app, locks_results, user_errors

Dir = typer.Argument(..., help="Results folder written by `mouseface run` (or `score`).",
                     show_default=False)
Features = typer.Option("hog", "--features", "-f",
                        help="hog (PCA-reduced HOG from features/), similarity (sim_ columns "
                        "of frames.parquet), or prototypes (HOG -> prototypes fitted in each "
                        "training fold; classify only).")

Jobs = typer.Option(-1, "--jobs", "-j",
                    help="Independent fits (cross-validation folds and permutations; "
                    "embeddings) side by side on this many threads (-1: every core; 1: one at "
                    "a time). The results do not change.")


def _conditions(text: str | None) -> list[str] | None:
    return [c.strip() for c in text.split(",") if c.strip()] if text else None


@app.command()
@user_errors
@locks_results
def classify(
    results: Path = Dir,
    features: str = Features,
    split: str = typer.Option("trial", "--split", "-s",
                              help="Held-out unit: trial (all frames of a trial together), "
                              "animal (leave one animal out), or frame (random frames: leaks, "
                              "for comparison only)."),
    classifier: str = typer.Option("rf", "--classifier", help="rf (random forest) or logreg."),
    level: str = typer.Option("frame", "--level",
                              help="frame (baseline frames are the class 'neutral') or trial "
                              "(one sample per stimulus window and per baseline window)."),
    conditions: str | None = typer.Option(None, "--conditions",
                                          help="Comma-separated conditions to keep."),
    no_neutral: bool = typer.Option(False, "--no-neutral",
                                    help="Leave baseline windows out (no class 'neutral'; at "
                                    "trial level: stimulus minus baseline per trial)."),
    center: str = typer.Option("none", "--center",
                               help="none, or animal: subtract each animal's mean over all "
                               "its frames (label-free; helps held-out animals)."),
    n_components: int = typer.Option(50, "--pca", help="PCA components of HOG features."),
    n_splits: int = typer.Option(5, "--folds", help="Folds for trial and frame splits."),
    permutations: int = typer.Option(20, "--permutations", "-n",
                                     help="Label permutations for the chance level (0: none)."),
    step: int = typer.Option(2, "--step", help="Use every step-th frame."),
    seed: int = typer.Option(0, "--seed"),
    jobs: int = Jobs,
) -> None:
    """Cross-validated classification of frames by condition.

    Writes classification.json, the predictions and a confusion matrix to DIR/analysis/.
    """
    from mouseface.workflows import analysis

    r = analysis.classify(results, features=features, split=split, classifier=classifier,
                          level=level, conditions=_conditions(conditions),
                          neutral=not no_neutral, center=center, n_components=n_components,
                          n_splits=n_splits,
                          n_permutations=permutations, step=step, random_state=seed,
                          n_jobs=jobs)
    chance = r["chance"].get("balanced_accuracy_mean", r["chance"]["uniform"])
    what = "frames" if level == "frame" else ("windows" if not no_neutral else "trials")
    typer.echo(f"{r['n_samples']} {what}, {len(r['classes'])} classes, held-out {split}s "
               f"({r['n_splits']} folds)")
    typer.echo(f"balanced accuracy {r['balanced_accuracy']:.3f}  accuracy {r['accuracy']:.3f}  "
               f"chance {chance:.3f}" + (f"  p = {r['chance']['p_value']:.3g}"
                                         if "p_value" in r["chance"] else ""))
    typer.echo(f"written: {r['files'][0]}")


@app.command()
@user_errors
@locks_results
def embed(
    results: Path = Dir,
    features: str = typer.Option("hog", "--features", "-f", help="hog or similarity."),
    method: str = typer.Option("tsne", "--method",
                               help="tsne, or umap (needs pip install umap-learn)."),
    max_frames: int = typer.Option(1500, "--max-frames",
                                   help="Frames per embedding (subsampled evenly by condition)."),
    pooled_only: bool = typer.Option(False, "--pooled-only", help="No per-animal embeddings."),
    n_pca: int = typer.Option(100, "--pca", help="PCA components before the embedding."),
    perplexity: float = typer.Option(30.0, "--perplexity"),
    seed: int = typer.Option(0, "--seed"),
    jobs: int = Jobs,
) -> None:
    """PCA, then a t-SNE or UMAP map of the frames.

    Pooled and per animal; writes embedding.csv and a figure to DIR/analysis/.
    """
    from mouseface.workflows import analysis

    e = analysis.embed(results, features=features, method=method, max_frames=max_frames,
                       per_animal=not pooled_only, n_pca=n_pca, perplexity=perplexity,
                       random_state=seed, n_jobs=jobs)
    typer.echo(f"{len(e)} points in {e['scope'].nunique()} embeddings: {e.attrs['files'][0]}")


@app.command()
@user_errors
@locks_results
def cluster(
    results: Path = Dir,
    features: str = typer.Option("hog", "--features", "-f", help="hog or similarity."),
    pooled: bool = typer.Option(False, "--pooled", help="All animals together instead of "
                                "one clustering per animal."),
    max_frames: int = typer.Option(1000, "--max-frames",
                                   help="Frames per clustering (evenly spaced in time)."),
    n_clusters: int | None = typer.Option(None, "--clusters",
                                          help="Where to cut the tree (default: the number "
                                          "of conditions incl. neutral)."),
) -> None:
    """Hierarchical clustering of frame x frame correlations.

    Cluster purity and adjusted Rand index against the conditions; writes clustering.json
    and a heatmap to DIR/analysis/.
    """
    from mouseface.workflows import analysis

    c = analysis.cluster(results, features=features, per_animal=not pooled,
                         max_frames=max_frames, n_clusters=n_clusters)
    for s in c["scopes"]:
        typer.echo(f"{s['scope']}: {s['n_frames']} frames, purity {s['purity']:.3f} "
                   f"(majority class {s['majority_fraction']:.3f}), adjusted Rand "
                   f"{s['adjusted_rand']:.3f}")
    typer.echo(f"written: {c['files'][0]}")


@app.command()
@user_errors
@locks_results
def trials(
    results: Path = Dir,
    normalize: bool = typer.Option(False, "--normalize",
                                   help="exp(k r) sharpening, baseline subtraction, clip at 0, "
                                   "per-animal min-max to the own-condition maximum."),
    k: float = typer.Option(10.0, "--k", help="Sharpening factor of --normalize."),
    post: float = typer.Option(10.0, "--post", help="Seconds after offset searched for the "
                               "return to baseline."),
    noise_sd: float = typer.Option(2.0, "--noise-sd",
                                   help="Baseline SDs that count as back to baseline."),
) -> None:
    """Trial metrics: intensity, latency, persistence, decay.

    Per trial and prototype, plus a valence axis; writes trial_metrics.csv and a figure.
    """
    from mouseface.workflows import analysis

    m = analysis.trial_metrics(results, normalize=normalize, k=k, post=post, noise_sd=noise_sd)
    typer.echo(f"{m['event'].nunique()} trials x {m['prototype'].nunique()} traces: "
               f"{m.attrs['files'][0]}")


@app.command()
@user_errors
@locks_results
def dose(
    results: Path = Dir,
    column: str = typer.Option("intensity", "--column", "-c",
                               help="Numeric events column holding the dose."),
    prototype: str | None = typer.Option(None, "--prototype", "-p",
                                         help="Score every trial with this prototype "
                                         "(default: each condition with its own)."),
    conditions: str | None = typer.Option(None, "--conditions",
                                          help="Comma-separated conditions to include."),
    score: str = typer.Option("score", "--score", help="score (mean) or peak."),
    n_boot: int = typer.Option(2000, "--boot", help="Bootstrap resamples of trials."),
    seed: int = typer.Option(0, "--seed"),
) -> None:
    """Dose-response: trial score against a numeric column.

    Spearman rho with a bootstrap CI over trials and an isotonic fit, pooled and per animal.
    """
    from mouseface.workflows import analysis

    t = analysis.dose(results, column, prototype, score=score,
                      conditions=_conditions(conditions), n_boot=n_boot, random_state=seed)
    for row in t.itertuples():
        typer.echo(f"{row.prototype:<14} {row.scope:<10} n={row.n:<4} rho {row.rho:+.3f} "
                   f"[{row.ci_low:+.3f}, {row.ci_high:+.3f}]  p = {row.p_value:.3g}")
    typer.echo(f"written: {t.attrs['files'][0]}")


@app.command()
@user_errors
@locks_results
def stats(
    results: Path = Dir,
    correction: str = typer.Option("holm", "--correction", help="holm, bh or none."),
    unit: str = typer.Option("trial", "--unit", help="trial, or animal (mean per animal)."),
    score: str = typer.Option("score", "--score", help="score (mean) or peak."),
    alpha: float = typer.Option(0.05, "--alpha"),
) -> None:
    """Each condition against baseline, for every prototype.

    Wilcoxon signed-rank on each trial's change, rank-biserial effect size, Holm or
    Benjamini-Hochberg correction; writes stats.csv.
    """
    from mouseface.workflows import analysis

    t = analysis.stats(results, correction=correction, unit=unit, score=score, alpha=alpha)
    typer.echo(f"{int(t['significant'].sum())} of {len(t)} prototype x condition tests "
               f"significant after {correction}: {t.attrs['files'][0]}")


@app.command()
@user_errors
@locks_results
def analyze(
    results: Path = Dir,
    features: str | None = typer.Option(None, "--features", "-f",
                                        help="hog or similarity (default: hog when "
                                        "features/ exists)."),
    split: str = typer.Option("trial", "--split", "-s", help="trial, animal or frame."),
    classifier: str = typer.Option("rf", "--classifier", help="rf or logreg."),
    permutations: int = typer.Option(20, "--permutations", "-n"),
    normalize: bool = typer.Option(False, "--normalize", help="Normalised trial metrics."),
    quick: bool = typer.Option(False, "--quick", help="Fewer frames; logistic regression on "
                               "the similarity traces."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    jobs: int = Jobs,
) -> None:
    """Run all the analyses with their defaults.

    classify, embed, cluster, trials, stats and dose; a failing analysis is recorded and the
    rest still run.
    """
    from mouseface.workflows import analysis

    s = analysis.analyze(results, features=features, split=split, classifier=classifier,
                         n_permutations=permutations, normalize=normalize, quick=quick,
                         quiet=quiet, n_jobs=jobs)
    for name, v in s.items():
        if isinstance(v, dict):
            detail = v.get("error") or ", ".join(f"{k}={x}" for k, x in v.items() if k != "ok")
            typer.echo(f"{name:<16} {'ok    ' if v['ok'] else 'FAILED'} {detail}")
    typer.echo(f"written: {s['files'][0]}")
    if not all(v["ok"] for v in s.values() if isinstance(v, dict)):
        raise typer.Exit(1)
