"""Figures of the expression analyses, each written as PNG and SVG.

These functions draw what :mod:`mouseface.expressions` computed; they compute nothing new.
Each takes the computed result and a path stem (``DIR/analysis/confusion``) and writes
``<stem>.png`` and ``<stem>.svg`` atomically, returning both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

import mouseface.report.style  # noqa: E402, F401  (the figures' look)
from mouseface._atomic import atomic_path  # noqa: E402
from mouseface.expressions.windows import NEUTRAL

NEUTRAL_COLOUR = "#9e9e9e"
#: resolution of the PNGs :func:`save` writes
_SAVE_DPI = 150


def label_colours(labels: Sequence[str]) -> dict[str, str]:
    """A fixed colour per label: ``neutral`` grey, the others from tab10 in sorted order."""
    cmap = plt.get_cmap("tab10")
    others = sorted({str(x) for x in labels} - {NEUTRAL, ""})
    out = {name: matplotlib.colors.to_hex(cmap(i % 10)) for i, name in enumerate(others)}
    out[NEUTRAL] = NEUTRAL_COLOUR
    out[""] = "#dddddd"
    return out


def save(fig, stem: str | Path) -> list[Path]:
    """Write ``fig`` to ``<stem>.png`` (150 dpi) and ``<stem>.svg``; close it.

    The layout (a constrained one, where the figure has it) and the tight bounding box are
    worked out once, at the PNG's resolution, for both files: ``bbox_inches="tight"`` drew the
    figure once more per file to find them (a third of a figure's saving time). The PNG is
    the same to the pixel; the SVG's text is placed by the PNG's font metrics.
    """
    stem = Path(stem)
    fig.set_dpi(_SAVE_DPI)
    fig.draw_without_rendering()
    fig.set_layout_engine(None)  # the layout just done stays as it is
    bbox = fig.get_tightbbox().padded(matplotlib.rcParams["savefig.pad_inches"])
    paths = []
    for ext in (".png", ".svg"):
        path = stem.with_name(stem.name + ext)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=_SAVE_DPI, bbox_inches=bbox)
        paths.append(path)
    plt.close(fig)
    return paths


def confusion_figure(result: dict, stem: str | Path, *, title: str = "") -> list[Path]:
    """Confusion matrix of a :func:`~mouseface.expressions.classify.cross_validate` result.

    Cells show the fraction of each true class (row) predicted as each class (column), with
    the count beneath; the title gives balanced accuracy and the permutation chance level.
    """
    classes = result["classes"]
    cm = np.asarray(result["confusion_matrix"], dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = cm / cm.sum(axis=1, keepdims=True)
    k = len(classes)
    size = max(3.8, 0.75 * k + 1.8)
    fig, ax = plt.subplots(figsize=(size + 0.9, size))
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            if cm[i, j] == 0 and i != j:
                continue
            v = frac[i, j]
            colour = "white" if v > 0.6 else "black"
            ax.text(j, i, f"{v:.2f}\n({int(cm[i, j])})", ha="center", va="center",
                    fontsize=8 if k <= 7 else 6, color=colour)
    ax.set_xticks(range(k), classes, rotation=40, ha="right")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    chance = result.get("chance", {})
    bits = [f"balanced accuracy {result['balanced_accuracy']:.2f}"]
    if "balanced_accuracy_mean" in chance:
        n = chance["n_permutations"]
        rough = f"; p >= 1/{n + 1}, rough" if n < 100 else ""  # few permutations: say so
        bits.append(f"chance {chance['balanced_accuracy_mean']:.2f} "
                    f"(p95 {chance['balanced_accuracy_p95']:.2f}, {n} perm.{rough})")
    else:
        bits.append(f"chance 1/{k} = {chance.get('uniform', 1 / k):.2f}")
    ax.set_title((title + "\n" if title else "") + "\n".join(bits), fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    return save(fig, stem)


def embedding_figure(embedding: pd.DataFrame, stem: str | Path, *, title: str = "",
                     max_panels: int = 9, method: str = "embedding") -> list[Path]:
    """Scatter of a 2-D embedding, one panel per ``scope`` (pooled first), coloured by label.

    ``embedding`` has columns ``scope``, ``label``, ``x``, ``y`` (``embedding.csv``);
    ``method`` names the axes (``t-SNE 1``: an embedding's axes have no unit).
    """
    scopes = list(dict.fromkeys(embedding["scope"]))
    scopes = (["pooled"] if "pooled" in scopes else []) + [s for s in scopes if s != "pooled"]
    scopes = scopes[:max_panels]
    colours = label_colours(embedding["label"].unique())
    ncol = min(3, len(scopes))
    nrow = -(-len(scopes) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.6 * ncol, 3.4 * nrow), squeeze=False)
    for ax, scope in zip(axes.flat, scopes, strict=False):
        d = embedding[embedding["scope"] == scope]
        for label in sorted(d["label"].unique(), key=lambda s: (s != NEUTRAL, s)):
            e = d[d["label"] == label]
            ax.scatter(e["x"], e["y"], s=4, alpha=0.6, color=colours[label], label=label,
                       linewidths=0, rasterized=True)
        ax.set_title(f"{scope} (n={len(d)})", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(f"{method} 1 (no unit)", fontsize=8)
        ax.set_ylabel(f"{method} 2 (no unit)", fontsize=8)
    for ax in list(axes.flat)[len(scopes):]:
        ax.axis("off")
    labels = sorted(embedding["label"].unique(), key=lambda s: (s != NEUTRAL, s))
    fig.legend(handles=[Patch(color=colours[n], label=n) for n in labels],
               loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, stem)


def cluster_figure(panels: list[dict], stem: str | Path, *, title: str = "") -> list[Path]:
    """Frame x frame correlation heatmaps in optimal leaf order with a condition strip.

    One colour scale for all panels, from the lowest 2nd to the highest 98th percentile of
    the panels' off-diagonal r (HOG correlations are all high; a fixed -1..1 scale would show
    one colour).

    Each panel is a dict with ``title``, ``corr`` (n x n, already ordered), ``labels``
    (n, ordered) and optionally ``purity``.
    """
    all_labels = np.concatenate([np.asarray(p["labels"]).astype(str) for p in panels])
    colours = label_colours(np.unique(all_labels))
    names = sorted(set(all_labels), key=lambda s: (s != NEUTRAL, s))
    cmap_labels = ListedColormap([colours[n] for n in names])
    code = {n: i for i, n in enumerate(names)}
    ranges = []
    for p in panels:
        corr = np.asarray(p["corr"])
        off = corr[~np.eye(len(corr), dtype=bool)]
        off = off[np.isfinite(off)]
        if off.size:
            ranges.append(np.percentile(off, [2, 98]))
    lo = min((r[0] for r in ranges), default=-1.0)
    hi = max(max((r[1] for r in ranges), default=1.0), lo + 1e-6)
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    fig = plt.figure(figsize=(4.0 * ncol + 1.2, 4.2 * nrow))
    grid = fig.add_gridspec(nrow, ncol, wspace=0.25, hspace=0.35)
    im = None
    for i, p in enumerate(panels):
        sub = grid[i // ncol, i % ncol].subgridspec(2, 2, width_ratios=[1, 20],
                                                    height_ratios=[1, 20], wspace=0.02,
                                                    hspace=0.02)
        ax = fig.add_subplot(sub[1, 1])
        top = fig.add_subplot(sub[0, 1], sharex=ax)
        left = fig.add_subplot(sub[1, 0], sharey=ax)
        codes = np.array([code[str(x)] for x in p["labels"]])
        im = ax.imshow(p["corr"], cmap="magma", vmin=lo, vmax=hi, interpolation="nearest",
                       aspect="auto")
        top.imshow(codes[None, :], cmap=cmap_labels, vmin=-0.5, vmax=len(names) - 0.5,
                   aspect="auto", interpolation="nearest")
        left.imshow(codes[:, None], cmap=cmap_labels, vmin=-0.5, vmax=len(names) - 0.5,
                    aspect="auto", interpolation="nearest")
        for a in (ax, top, left):
            a.set_xticks([])
            a.set_yticks([])
        ax.set_xlabel("frame (tree order)", fontsize=8)
        left.set_ylabel("frame (tree order)", fontsize=8)
        extra = f", purity {p['purity']:.2f}" if p.get("purity") == p.get("purity") \
            and p.get("purity") is not None else ""
        top.set_title(f"{p['title']} ({len(codes)} frames{extra})", fontsize=9)
    fig.legend(handles=[Patch(color=colours[n], label=n) for n in names],
               loc="upper left", bbox_to_anchor=(1.0, 0.95), fontsize=8, frameon=False)
    if im is not None:
        cax = fig.add_axes([1.01, 0.1, 0.015, 0.35])
        fig.colorbar(im, cax=cax, label="Pearson r")
    if title:
        fig.suptitle(title, fontsize=10)
    return save(fig, stem)


def dose_figure(points: pd.DataFrame, table: pd.DataFrame, stem: str | Path, *,
                title: str = "") -> list[Path]:
    """Trial score against dose with the isotonic fit, one panel per prototype.

    ``points`` has ``prototype``, ``animal``, ``dose``, ``score`` (one row per trial);
    ``table`` is :func:`~mouseface.expressions.dose.dose_table` (its pooled rows draw the
    fit and give rho and its interval).
    """
    protos = list(dict.fromkeys(table["prototype"]))
    ncol = min(3, len(protos))
    nrow = -(-len(protos) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.8 * ncol, 3.2 * nrow), squeeze=False)
    animals = sorted(points["animal"].astype(str).unique())
    cmap = plt.get_cmap("tab10")
    for ax, proto in zip(axes.flat, protos, strict=False):
        d = points[points["prototype"] == proto]
        span = np.ptp(d["dose"]) if len(d) else 1.0
        for i, a in enumerate(animals):
            e = d[d["animal"].astype(str) == a]
            jitter = (np.random.default_rng(i).random(len(e)) - 0.5) * 0.03 * (span or 1)
            ax.scatter(e["dose"] + jitter, e["score"], s=12, alpha=0.7,
                       color=cmap(i % 10), label=a, linewidths=0)
        row = table[(table["prototype"] == proto) & (table["scope"] == "pooled")]
        if len(row) and len(row.iloc[0]["doses"]):
            r = row.iloc[0]
            ax.step(r["doses"], r["fitted"], where="mid", color="black", lw=1.5,
                    label="isotonic fit")
            ax.set_title(f"{proto}: rho {r['rho']:.2f} [{r['ci_low']:.2f}, "
                         f"{r['ci_high']:.2f}]", fontsize=9)
        else:
            ax.set_title(proto, fontsize=9)
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xlabel(str(table["column"].iloc[0]))
        ax.set_ylabel(f"{table['score'].iloc[0]} (change from baseline)")
    for ax in list(axes.flat)[len(protos):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8,
               frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, stem)


#: y-axis label (with the unit) of each trial metric
_METRIC_UNITS = {"intensity_mean": "Δ similarity (r)", "intensity_peak": "Δ similarity (r)",
                 "latency_s": "seconds from onset", "persistence_s": "seconds after offset",
                 "decay_tau_s": "time constant (s)"}


def metrics_figure(metrics: pd.DataFrame, stem: str | Path, *,
                   columns: Sequence[str] = ("intensity_mean", "latency_s", "persistence_s",
                                             "decay_tau_s"),
                   title: str = "") -> list[Path]:
    """Per-condition distribution of trial metrics of the trial's own prototype.

    ``metrics`` is ``trial_metrics.csv`` (rows with ``own`` true are drawn).
    """
    own = metrics[metrics["own"].astype(bool)]
    conditions = sorted(own["trial_type"].astype(str).unique())
    colours = label_colours(conditions)
    fig, axes = plt.subplots(1, len(columns), figsize=(3.0 * len(columns), 3.2), squeeze=False)
    for ax, col in zip(axes[0], columns, strict=True):
        for i, c in enumerate(conditions):
            v = own.loc[own["trial_type"].astype(str) == c, col].astype(float).dropna()
            x = i + (np.random.default_rng(i).random(len(v)) - 0.5) * 0.3
            ax.scatter(x, v, s=10, color=colours[c], alpha=0.7, linewidths=0)
            if len(v):
                ax.hlines(v.median(), i - 0.3, i + 0.3, color="black", lw=1.5)
        ax.set_xticks(range(len(conditions)), conditions, rotation=40, ha="right")
        ax.set_title(col, fontsize=9)
        ax.set_ylabel(_METRIC_UNITS.get(col, col), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, stem)


__all__ = ["cluster_figure", "confusion_figure", "dose_figure", "embedding_figure",
           "label_colours", "metrics_figure", "save"]
