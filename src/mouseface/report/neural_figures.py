"""Figures of the neural-correlates analysis, each written as PNG and SVG.

They draw what :mod:`mouseface.neural` computed and compute nothing new. Each takes the result
and a path stem (``DIR/neural/correlations``) and writes ``<stem>.png`` and ``<stem>.svg``
atomically, returning both paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.patches

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import mouseface.report.style  # noqa: E402, F401  (the figures' look)
from mouseface.expressions.windows import NEUTRAL
from mouseface.neural.encoding import Encoding  # noqa: E402
from mouseface.neural.movement import MovementControl  # noqa: E402
from mouseface.neural.psth import PSTH  # noqa: E402
from mouseface.neural.sync import Aligned  # noqa: E402
from mouseface.report.analysis_figures import save
from mouseface.report.behaviour_figures import movement_label

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


#: colour of each movement category (see :data:`mouseface.neural.movement.CATEGORIES`)
CATEGORY_COLOURS = {"expression": "#2a9d8f", "both": "#8e6bb8", "movement": "#e9a03b",
                    "shared": "#a8a8a8", "none": "#eeeeee"}


def correlation_matrix_figure(enc: Encoding, stem: str | Path, *, title: str = "",
                              control: MovementControl | None = None) -> list[Path]:
    """Neurons × expressions Pearson r, neurons sorted by preferred expression.

    Group boundaries are ruled and labelled with the preferred expression and its count (the
    counts of ``Encoding.counts()["preferred"]``); significant pairs (q ≤ alpha) are dotted
    when there are at most 80 neurons. With ``control``, a second panel shows the partial r
    after movement (dots: significant after movement) and a strip gives each neuron's
    movement category.
    """
    order, groups = neuron_order(enc)
    r = enc.r[order]
    n, e = r.shape
    panels = [(r, enc.significant[order], "r")]
    if control is not None:
        am = control.after_movement
        panels.append((am.r[order], am.significant[order], "r after movement"))
    vals = np.concatenate([np.abs(p[0][np.isfinite(p[0])]) for p in panels])
    vmax = max(float(np.percentile(vals, 99)) if vals.size else 1.0, 0.05)
    widths = [e] * len(panels) + ([0.6] if control is not None else []) + [0.35]
    fig = plt.figure(figsize=(3.2 + 0.8 * e * len(panels), 6.4))
    grid = fig.add_gridspec(1, len(widths), width_ratios=widths, wspace=0.12,
                            left=0.2 if len(panels) > 1 else 0.3, right=0.9,
                            bottom=0.2 if control is not None else 0.14, top=0.88)
    axes = [fig.add_subplot(grid[0, 0])]
    axes += [fig.add_subplot(grid[0, k], sharey=axes[0]) for k in range(1, len(widths) - 1)]
    colours = expression_colours(enc.names)
    for ax, (mat, sig, label) in zip(axes, panels, strict=False):
        im = ax.imshow(mat, aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax,
                       interpolation="nearest")
        ax.set_xticks(range(e), enc.names, rotation=45, ha="right")
        ax.set_title(label, fontsize=9)
        for _, a, _b in groups:
            if a > 0:
                ax.axhline(a - 0.5, color="k", lw=0.8)
        if n <= 80:
            yy, xx = np.nonzero(sig)
            ax.plot(xx, yy, "k.", ms=3)
    # one label per group, on the left: the preferred expression and its count
    ys = [(a + b - 1) / 2 for _, a, b in groups]
    gap = n / 45  # about one label's height: small groups next to each other stay readable
    for k in range(1, len(ys)):
        ys[k] = max(ys[k], ys[k - 1] + gap)
    axes[0].set_yticks(ys, [f"{g} ({b - a})" for g, a, b in groups], fontsize=8)
    for tick, (g, _a, _b) in zip(axes[0].get_yticklabels(), groups, strict=True):
        tick.set_color(colours.get(g, "k"))
    axes[0].tick_params(axis="y", length=0)
    for ax in axes[1:]:
        ax.tick_params(axis="y", labelleft=False, length=0)
    axes[0].set_ylabel(f"neurons (n = {n}), grouped by preferred expression")
    if control is not None:
        strip = axes[-1]
        cats = control.tracks[order]
        rgb = np.array([matplotlib.colors.to_rgb(CATEGORY_COLOURS[c]) for c in cats])
        strip.imshow(rgb[:, None, :], aspect="auto", interpolation="nearest")
        strip.set_xticks([0], ["tracks"], rotation=45, ha="right")
        for _, a, _b in groups:
            if a > 0:
                strip.axhline(a - 0.5, color="k", lw=0.8)
        handles = [matplotlib.patches.Patch(facecolor=CATEGORY_COLOURS[c], edgecolor="0.5",
                                            label=f"{c} ({k})")
                   for c, k in control.counts().items()]
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7.5,
                   frameon=False, title="after the movement control, the neuron tracks …",
                   title_fontsize=8)
    cb = fig.colorbar(im, cax=fig.add_subplot(grid[0, -1]))
    cb.set_label("Pearson r")
    a = enc.params.get("alpha", 0.05)
    fig.suptitle(title or f"neuron × expression correlation ({enc.params.get('null', '')} "
                 f"null; dots: q ≤ {a:g})", fontsize=10)
    return _save(fig, stem)


def movement_figure(control: MovementControl, stem: str | Path) -> list[Path]:
    """Unique variance of the expressions against that of movement, and neurons per category.

    Left: one dot per neuron, cross-validated unique R² of all expressions (x) and of all
    movement regressors (y), coloured by its category. Right: neurons per category.
    """
    v = control.variance
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.2),
                                 gridspec_kw={"width_ratios": [1.3, 1]})
    for cat in CATEGORY_COLOURS:
        sel = control.tracks == cat
        if sel.any():
            ax.scatter(v.unique_expressions[sel], v.unique_movement[sel], s=14,
                       color=CATEGORY_COLOURS[cat], edgecolor="k" if cat == "none" else "none",
                       linewidth=0.3, label=cat, zorder=3)
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel("unique R² of the expressions (cross-validated)")
    ax.set_ylabel("unique R² of movement")
    ax.legend(fontsize=8, frameon=False, loc="upper right")
    ax.set_title("what each neuron's activity owes to expression and to movement", fontsize=9)
    counts = control.counts()
    bx.bar(range(len(counts)), list(counts.values()),
           color=[CATEGORY_COLOURS[c] for c in counts], edgecolor="k", linewidth=0.4)
    for i, k in enumerate(counts.values()):
        bx.text(i, k, str(k), ha="center", va="bottom", fontsize=8)
    bx.set_xticks(range(len(counts)), list(counts), rotation=30, ha="right")
    bx.set_ylabel("neurons")
    regs = ", ".join(control.movement_names[:4]) + ("…" if len(control.movement_names) > 4
                                                    else "")
    bx.set_title(f"neurons tracking … (movement: {regs})", fontsize=9)
    fig.tight_layout()
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
                          window: float = 300.0, movement: np.ndarray | None = None,
                          movement_name: str | None = None,
                          xlabel: str = "time from the first video frame (s)") -> list[Path]:
    """Expression traces on top, beneath them the best neurons of each expression.

    For each expression with a positively significant neuron, its ``per_expression`` neurons
    of largest r (drawn in the expression's colour). Shows the ``window`` seconds with the most
    expression variance. ``movement`` (frames,) is drawn under the expressions in grey.
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
    top = 2 if movement is not None else 1
    n_rows = top + len(picks)
    fig, axes = plt.subplots(n_rows, 1, figsize=(10, 1.5 + 0.95 * n_rows), sharex=True,
                             gridspec_kw={"height_ratios": [2.2] + [0.9] * (top - 1)
                                          + [1] * len(picks)})
    axes = np.atleast_1d(axes)
    ax = axes[0]
    for j, name in enumerate(aligned.names):
        ax.plot(t[sl], aligned.expressions[j, sl], lw=1.0, color=colours.get(name, "k"),
                label=name)
    ax.set_ylabel("similarity (r)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_title("expression traces (top) and the neurons that track them best", fontsize=10)
    if movement is not None:
        axes[1].plot(t[sl], movement[sl], lw=0.8, color="0.4")
        axes[1].set_ylabel(movement_label(movement_name) if movement_name else "movement",
                           fontsize=8)
        axes[1].tick_params(labelsize=7)
    for ax, (i, j) in zip(axes[top:], picks, strict=True):  # enc rows follow aligned rows
        ax.plot(t[sl], aligned.traces.traces[i, sl], lw=0.8,
                color=colours.get(enc.names[j], "k"))
        ax.set_ylabel("ΔF/F", fontsize=8)
        ax.text(1.005, 0.5, f"neuron {enc.neuron[i]}\n{enc.names[j]} r = {enc.r[i, j]:.2f}\n"
                f"q = {enc.q[i, j]:.2g}", transform=ax.transAxes, fontsize=7.5, va="center")
        ax.tick_params(labelsize=7)
    axes[-1].set_xlabel(xlabel)
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


__all__ = ["CATEGORY_COLOURS", "correlation_matrix_figure", "example_traces_figure",
           "expression_colours", "movement_figure", "neuron_order", "psth_figure"]
