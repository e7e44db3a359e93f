"""Figures of spontaneous states (``mouseface bouts``) and condition comparisons (``compare``).

They draw what :mod:`mouseface.expressions.bouts` and :mod:`mouseface.expressions.compare`
computed and compute nothing new. Each writes ``<stem>.png`` and ``<stem>.svg`` atomically and
returns both paths; the report shows the PNGs found under ``behaviour/`` and ``analysis/``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mouseface.report.analysis_figures import plt, save

FREEZE_COLOUR = "#1f77b4"
ESCAPE_COLOUR = "#d62728"
_BOUT_COLOURS = {"passive_fear": FREEZE_COLOUR, "active_fear": ESCAPE_COLOUR}
_LABELS = {"motion_energy": "face", "speed": "speed"}


def movement_label(measure: str) -> str:
    """An axis label with the unit: camera movement energy is the mean absolute difference of
    gray levels between consecutive frames; a speed table's unit is the table's own."""
    name = _LABELS.get(measure, measure.removeprefix("motion_"))
    if measure == "speed":
        return "speed\n(table's unit)"
    if measure.startswith("motion_"):
        return f"{name}\n(Δ gray level)"
    return name


def bouts_figure(res, events: pd.DataFrame | None, stem: str | Path, *,
                 max_sessions: int = 4) -> list[Path]:
    """Movement traces of the analysed sessions with thresholds, context and bouts.

    One block of stacked axes per session (the first ``max_sessions``), one axis per measure
    (smoothed movement, log scale): the freezing threshold dashed blue, the escape threshold
    dashed red (on the measure each applies to), stimulus windows grey, the time before the
    context hatched, freezing bouts shaded blue, escape bouts red, rejected bouts outlined.

    Parameters
    ----------
    res : mouseface.expressions.bouts.Bouts
        What :func:`~mouseface.expressions.bouts.find_bouts` returned.
    events : DataFrame or None
        The events (stimulus windows are drawn).
    stem : path
        Output path without suffix.
    """
    freeze, escape = res.measures["freeze"], res.measures["escape"]
    measures = list(dict.fromkeys([*freeze, *([escape] if escape else [])]))
    sessions = list(dict.fromkeys(res.traces["session"]))[:max_sessions]
    n_ax = len(sessions) * len(measures)
    fig, axes = plt.subplots(n_ax, 1, figsize=(11, 0.9 + 0.95 * n_ax), squeeze=False,
                             layout="constrained")
    axes = axes[:, 0]
    thr = res.thresholds.set_index(["animal", "measure"])
    for k, session in enumerate(sessions):
        tr = res.traces[res.traces["session"] == session]
        animal = str(tr["animal"].iloc[0])
        t = tr["time"].to_numpy()
        ev = (events[events["session"].astype(str) == session] if events is not None
              else pd.DataFrame(columns=["onset", "duration"]))
        ev = ev[~ev["trial_type"].astype(str).isin(_BOUT_COLOURS)] if len(ev) else ev
        bouts = res.bouts[res.bouts["session"] == session]
        rejected = res.rejected[res.rejected["session"] == session]
        for j, m in enumerate(measures):
            ax = axes[k * len(measures) + j]
            y = tr[m].to_numpy(dtype=float)
            ax.plot(t, np.where(y > 0, y, np.nan), lw=0.6, color="0.15")
            _log_axis(ax, y)
            row = thr.loc[(animal, m)]
            if m in freeze:
                ax.axhline(row["freeze_threshold"], color=FREEZE_COLOUR, ls="--", lw=0.9)
            if m == escape:
                ax.axhline(row["escape_threshold"], color=ESCAPE_COLOUR, ls="--", lw=0.9)
            start = res.context.get(session, -np.inf)
            if np.isfinite(start) and start > t[0]:
                ax.axvspan(t[0], start, facecolor="none", hatch="////", edgecolor="0.8",
                           lw=0)
            for r in ev.itertuples():
                ax.axvspan(r.onset, r.onset + r.duration, color="0.7", alpha=0.5, lw=0)
            for r in bouts.itertuples():
                ax.axvspan(r.onset, r.onset + r.duration, color=_BOUT_COLOURS[r.trial_type],
                           alpha=0.25, lw=0)
            for r in rejected.itertuples():
                ax.axvspan(r.onset, r.onset + r.duration, facecolor="none",
                           edgecolor=_BOUT_COLOURS[r.trial_type], lw=0.8, ls=":")
            ax.set_xlim(t[0], t[-1])
            ax.set_ylabel(movement_label(m), fontsize=8)
            ax.tick_params(labelsize=7)
            if j == 0:
                nf = int((bouts["trial_type"] == "passive_fear").sum())
                ne = int((bouts["trial_type"] == "active_fear").sum())
                ax.set_title(f"{session}: {nf} freezing, {ne} escape bouts"
                             + (f", {len(rejected)} rejected (no bout-free baseline)"
                                if len(rejected) else ""), fontsize=9, loc="left")
            if j < len(measures) - 1:
                ax.set_xticklabels([])
        axes[(k + 1) * len(measures) - 1].set_xlabel("time (s)", fontsize=8)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Patch(color=FREEZE_COLOUR, alpha=0.3, label="freezing (passive fear)"),
               Patch(color=ESCAPE_COLOUR, alpha=0.3, label="escape (active fear)"),
               Patch(color="0.7", alpha=0.5, label="stimulus"),
               Patch(facecolor="none", hatch="////", edgecolor="0.6", label="before context"),
               Line2D([], [], color=FREEZE_COLOUR, ls="--", label="freezing threshold"),
               Line2D([], [], color=ESCAPE_COLOUR, ls="--", label="escape threshold")]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, fontsize=7, frameon=False)
    more = len(dict.fromkeys(res.traces["session"])) - len(sessions)
    fig.suptitle("Spontaneous states: smoothed movement (log scale), thresholds and bouts"
                 + (f" (first {len(sessions)} sessions; {more} more in bouts.tsv)"
                    if more > 0 else ""), fontsize=10)
    return save(fig, stem)


def _log_axis(ax, y: np.ndarray) -> None:
    """Log y axis with a few plain-number ticks (1, 2, 5 x powers of ten); linear with three
    ticks when the trace spans less than a factor of 4."""
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

    pos = y[np.isfinite(y) & (y > 0)]
    if len(pos) == 0 or pos.max() / pos.min() < 4:
        ax.yaxis.set_major_locator(MaxNLocator(3))
        return
    ax.set_yscale("log")
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0), numticks=6))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(NullFormatter())


def compare_figure(table: pd.DataFrame, points: pd.DataFrame, stem: str | Path) -> list[Path]:
    """Trial scores by level of the compared column, and every difference.

    Parameters
    ----------
    table : DataFrame
        :func:`~mouseface.expressions.compare.compare_levels` output.
    points : DataFrame
        The trials drawn in the left panels: ``condition``, ``animal``, ``level``, ``score``
        (each condition's score for its own prototype).
    stem : path
        Output path without suffix.

    Left: one panel per condition, its own prototype's trial score at each level (grey
    dots: trials; coloured: each animal's mean, joined across levels), titled with the
    difference, its CI, p and the unit. Right: the standardised difference of every
    condition x prototype (``*`` adjusted p < alpha).
    """
    conditions = list(dict.fromkeys(points["condition"]))
    n = len(conditions)
    fig, axes = plt.subplots(1, n + 1, figsize=(3.0 * n + 4.5, 3.4), squeeze=False,
                             gridspec_kw={"width_ratios": [1] * n + [1.5]})
    axes = axes[0]
    cmap = plt.get_cmap("tab10")
    for ax, cond in zip(axes[:n], conditions, strict=False):
        p = points[points["condition"] == cond]
        levels = list(dict.fromkeys(p["level"]))
        order = {lv: i for i, lv in enumerate(levels)}
        rng = np.random.default_rng(0)
        x = p["level"].map(order).to_numpy(dtype=float) + rng.uniform(-0.12, 0.12, len(p))
        ax.scatter(x, p["score"], s=8, color="0.6", alpha=0.6, lw=0)
        for i, (animal, g) in enumerate(p.groupby("animal", sort=True)):
            m = g.groupby("level", sort=False)["score"].mean()
            xs = [order[lv] for lv in m.index]
            ax.plot(xs, m.to_numpy(), "-o", color=cmap(i % 10), ms=5, lw=1.2, label=animal)
        ax.set_xticks(range(len(levels)), [str(lv) for lv in levels])
        ax.axhline(0, color="0.8", lw=0.6)
        ax.set_xlim(-0.5, len(levels) - 0.5)
        ax.set_ylabel(f"score_{cond}", fontsize=8)
        row = table[(table["condition"] == cond) & (table["prototype"] == cond)]
        if len(row):
            r = row.iloc[0]
            ax.set_title(f"{cond}: {r.level_b} - {r.level_a} = {r.difference:+.3f}\n"
                         f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}], p = {r.p_value:.3g} "
                         f"({r.unit}s)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6, frameon=False, title="animal", title_fontsize=6)
    ax = axes[-1]
    protos = list(dict.fromkeys(table["prototype"]))
    conds = list(dict.fromkeys(table["condition"]))
    z = np.full((len(conds), len(protos)), np.nan)
    sig = np.zeros_like(z, dtype=bool)
    for r in table.itertuples():
        if r.level_a != table["level_a"].iloc[0] or r.level_b != table["level_b"].iloc[0]:
            continue
        i, j = conds.index(r.condition), protos.index(r.prototype)
        z[i, j], sig[i, j] = r.standardized, bool(r.significant)
    lim = np.nanmax(np.abs(z)) if np.isfinite(z).any() else 1.0
    im = ax.imshow(z, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(len(conds)):
        for j in range(len(protos)):
            if np.isfinite(z[i, j]):
                ax.text(j, i, f"{z[i, j]:+.1f}" + ("*" if sig[i, j] else ""), ha="center",
                        va="center", fontsize=7,
                        color="white" if abs(z[i, j]) > 0.6 * lim else "black")
    ax.set_xticks(range(len(protos)), protos, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(conds)), conds, fontsize=7)
    ax.set_title(f"standardised difference ({table['level_b'].iloc[0]} - "
                 f"{table['level_a'].iloc[0]}); * adjusted p < alpha", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    by = table["by"].iloc[0]
    fig.suptitle(f"Trial scores by {by}", fontsize=10)
    fig.tight_layout()
    return save(fig, stem)


__all__ = ["bouts_figure", "compare_figure"]
