"""Figures of the neural-correlates analysis, each written as PNG and SVG.

They draw what :mod:`mouseface.neural` computed and compute nothing new. Each takes the result
and a path stem (``DIR/neural/correlations``) and writes ``<stem>.png`` and ``<stem>.svg``
atomically, returning both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mouseface.expressions.windows import NEUTRAL
from mouseface.neural.encoding import Encoding  # noqa: E402
from mouseface.neural.psth import PSTH  # noqa: E402
from mouseface.neural.sync import Aligned  # noqa: E402
from mouseface.report.analysis_figures import save

NEUTRAL_COLOUR = "#7f7f7f"


def expression_colours(names: Sequence[str]) -> dict[str, str]:
    """A colour per expression: ``neutral`` grey, the others from tab10 in sorted order."""
    cmap = plt.get_cmap("tab10")
    others = sorted({str(n) for n in names} - {NEUTRAL})
    out = {n: matplotlib.colors.to_hex(cmap([0, 1, 2, 3, 4, 5, 6, 8, 9][i % 9]))
           for i, n in enumerate(others)}
    out[NEUTRAL] = NEUTRAL_COLOUR
    return out


_save = save  # one writer for every figure: PNG + SVG, atomically


def neuron_order(enc: Encoding) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """Neurons grouped by preferred expression (in ``enc.names`` order, none last), each group
    by decreasing r for its expression (the none group by its largest r).

    Returns the order and the groups as (name, start, stop) rows of the ordered matrix.
    """
    order, groups, start = [], [], 0
    r = np.nan_to_num(enc.r, nan=-np.inf)
    for j, name in enumerate([*enc.names, ""]):
        idx = np.flatnonzero(enc.preferred == name)
        if not idx.size:
            continue
        key = r[idx, j] if name else r[idx].max(axis=1)
        idx = idx[np.argsort(-key, kind="stable")]
        order.extend(idx.tolist())
        groups.append((name or "none", start, start + idx.size))
        start += idx.size
    return np.asarray(order, dtype=np.int64), groups


def correlation_matrix_figure(enc: Encoding, stem: str | Path, *, title: str = "") -> list[Path]:
    """Neurons × expressions Pearson r, neurons sorted by preferred expression.

    Group boundaries are ruled and labelled with the preferred expression and its count;
    significant pairs (q ≤ alpha) are dotted when there are at most 80 neurons.
    """
    order, groups = neuron_order(enc)
    r = enc.r[order]
    n, e = r.shape
    vmax = float(np.nanpercentile(np.abs(r), 99)) if np.isfinite(r).any() else 1.0
    vmax = max(vmax, 0.05)
    fig, ax = plt.subplots(figsize=(2.6 + 0.75 * e, 6.0))
    im = ax.imshow(r, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                   interpolation="nearest")
    ax.set_xticks(range(e), enc.names, rotation=45, ha="right")
    ax.set_ylabel(f"neurons (n = {n}), sorted by preferred expression")
    ax.set_yticks([])
    colours = expression_colours(enc.names)
    for name, a, b in groups:
        if a > 0:
            ax.axhline(a - 0.5, color="k", lw=0.8)
        ax.text(e - 0.4, (a + b - 1) / 2, f" {name} ({b - a})", va="center", ha="left",
                fontsize=8, color=colours.get(name, "k"), clip_on=False)
    if n <= 80:
        yy, xx = np.nonzero(enc.significant[order])
        ax.plot(xx, yy, "k.", ms=3)
    cb = fig.colorbar(im, ax=ax, fraction=0.08, pad=0.25)
    cb.set_label("Pearson r")
    a = enc.params.get("alpha", 0.05)
    ax.set_title(title or f"neuron × expression correlation\n(groups: preferred at q ≤ {a:g})",
                 fontsize=10)
    return _save(fig, stem)


def _window(time: np.ndarray, expressions: np.ndarray, length: float) -> slice:
    if time[-1] - time[0] <= length:
        return slice(0, time.size)
    dt = float(np.median(np.diff(time)))
    w = max(1, int(length / dt))
    z = np.nan_to_num(expressions - np.nanmean(expressions, axis=1, keepdims=True))
    energy = np.convolve((z**2).sum(axis=0), np.ones(w), "valid")
    s = int(np.argmax(energy))
    return slice(s, s + w)


def example_traces_figure(aligned: Aligned, enc: Encoding, stem: str | Path, *,
                          per_expression: int = 1, max_neurons: int = 8,
                          window: float = 300.0) -> list[Path]:
    """Expression traces on top, beneath them the best neurons of each expression.

    For each expression with a positively significant neuron, its ``per_expression`` neurons
    of largest r (drawn in the expression's colour). Shows the ``window`` seconds with the most
    expression variance.
    """
    colours = expression_colours(enc.names)
    picks: list[tuple[int, int]] = []
    for j in range(len(enc.names)):
        cand = np.flatnonzero(enc.positive[:, j])
        cand = cand[np.argsort(-enc.r[cand, j])][:per_expression]
        picks.extend((int(i), j) for i in cand if all(i != p for p, _ in picks))
    picks = picks[:max_neurons]
    if not picks:  # nothing significant: show the strongest correlations anyway
        flat = np.argsort(-np.nan_to_num(enc.r, nan=-np.inf), axis=None)[:3]
        picks = [(int(k // enc.r.shape[1]), int(k % enc.r.shape[1])) for k in flat]
    t = aligned.time
    sl = _window(t, aligned.expressions, window)
    n_rows = 1 + len(picks)
    fig, axes = plt.subplots(n_rows, 1, figsize=(10, 1.5 + 0.95 * n_rows), sharex=True,
                             gridspec_kw={"height_ratios": [2.2] + [1] * len(picks)})
    axes = np.atleast_1d(axes)
    ax = axes[0]
    for j, name in enumerate(aligned.names):
        ax.plot(t[sl], aligned.expressions[j, sl], lw=1.0, color=colours.get(name, "k"),
                label=name)
    ax.set_ylabel("similarity (r)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title("expression traces (top) and the neurons that track them best", fontsize=10)
    for ax, (i, j) in zip(axes[1:], picks, strict=True):  # enc rows follow aligned rows
        ax.plot(t[sl], aligned.traces.traces[i, sl], lw=0.8,
                color=colours.get(enc.names[j], "k"))
        ax.set_ylabel("ΔF/F", fontsize=8)
        ax.text(1.005, 0.5, f"neuron {enc.neuron[i]}\n{enc.names[j]} r = {enc.r[i, j]:.2f}\n"
                f"q = {enc.q[i, j]:.2g}", transform=ax.transAxes, fontsize=7.5, va="center")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel("time from the first video frame (s)")
    fig.align_ylabels(axes)
    return _save(fig, stem)


def psth_figure(result: PSTH, stem: str | Path, *, order: np.ndarray | None = None,
                groups: list[tuple[str, int, int]] | None = None) -> list[Path] | None:
    """One heatmap per condition: neurons × time from onset, trial-averaged.

    All panels share one neuron order (default: by mean response in the first second after
    onset, pooled over conditions) and one colour scale. Returns None when there are no trials.
    """
    if not result.conditions:
        return None
    means = [result.mean(c) for c in result.conditions]
    if order is None:
        early = (result.lags >= 0) & (result.lags < 1.0)
        score = np.nanmean([np.nanmean(m[:, early], axis=1) for m in means], axis=0)
        order = np.argsort(-np.nan_to_num(score, nan=-np.inf))
        groups = None
    stack = np.stack([m[order] for m in means])
    vmax = float(np.nanpercentile(np.abs(stack), 99)) if np.isfinite(stack).any() else 1.0
    vmax = max(vmax, 1e-3)
    k = len(result.conditions)
    fig, axes = plt.subplots(1, k, figsize=(1.2 + 2.6 * k, 5.5), sharey=True, squeeze=False)
    extent = (result.lags[0], result.lags[-1] + np.median(np.diff(result.lags)),
              stack.shape[1] - 0.5, -0.5)
    counts = result.n_trials()
    for ax, cond, m in zip(axes[0], result.conditions, stack, strict=True):
        im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, extent=extent,
                       interpolation="nearest")
        ax.axvline(0, color="k", lw=0.8, ls="--")
        ax.set_title(f"{cond} (n = {counts[cond]})", fontsize=10)
        ax.set_xlabel("time from onset (s)")
        for _, a, _b in (groups or [])[1:]:
            ax.axhline(a - 0.5, color="k", lw=0.5)
    axes[0, 0].set_ylabel(f"neurons (n = {stack.shape[1]})"
                          + (", by preferred expression" if groups else
                             ", by early response"))
    if groups:  # label each group once, on the left
        axes[0, 0].set_yticks([(a + b - 1) / 2 for _, a, b in groups],
                              [f"{g} ({b - a})" for g, a, b in groups], fontsize=8)
        for ax in axes[0]:
            ax.tick_params(axis="y", length=0)
    else:
        axes[0, 0].set_yticks([])
    cb = fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03, pad=0.02)
    cb.set_label("ΔF/F − pre-onset" if result.params.get("baseline") else "ΔF/F")
    return _save(fig, stem)


__all__ = ["correlation_matrix_figure", "example_traces_figure", "expression_colours",
           "neuron_order", "psth_figure"]
