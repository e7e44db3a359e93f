"""Figures of the report: prototypes, similarity traces, trial-aligned traces, heatmaps,
action units.

Each figure function takes data already computed (tables, arrays) and returns a matplotlib
``Figure``; :func:`png_bytes` turns it into PNG bytes for embedding. Nothing here reads files
or computes a result the pipeline did not: the report shows, it does not analyse.

:func:`hog_glyphs` draws a HOG array as oriented line glyphs per cell, the picture
``skimage.feature.hog(..., visualize=True)`` makes, but from the HOG array alone (a prototype
is a mean of HOG vectors and has no image of its own).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from mouseface.expressions.windows import NEUTRAL, stimulus_window
from mouseface.report.analysis_figures import label_colours  # noqa: E402
from mouseface.report.style import MEDIUM, SMALL  # noqa: E402

#: dots per inch of the embedded PNGs (crisp on a laptop, small enough to embed)
DPI = 110


def png_bytes(fig, *, dpi: int = DPI, palette: bool = True) -> bytes:
    """The figure as PNG bytes (tight bounding box); closes it.

    With ``palette`` the image is reduced to 256 colours (median cut, no dithering): the
    report embeds every figure, and this halves the size of the image-heavy ones (mean faces,
    glyphs) with no visible change.
    """
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    if not palette:
        return buf.getvalue()
    from PIL import Image

    img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    out = io.BytesIO()
    img.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        out, format="PNG")
    return out.getvalue()


#: quality of the lossy WebP that photographs (mean faces, registration QC) may be embedded as
PHOTO_QUALITY = 90


#: what :func:`web_image` gave, by the image's digest and ``photo``: the report asks again for
#: images worked out ahead (by the demo's two processes while they wait, see
#: :func:`known_web_images`); at most :data:`_WEB_KEPT`, the oldest dropped first
_WEB: dict[tuple[bytes, bool | str], tuple[str, bytes]] = {}
_WEB_KEPT = 64


def web_image(data: bytes, *, photo: bool = False, exact: bool = False) -> tuple[str, bytes]:
    """The smallest way to embed an image: ``(mime type, bytes)``; see :func:`_web_image`.
    Remembered by the image's digest: the same image asked again costs a hash."""
    import hashlib

    key = (hashlib.blake2b(data, digest_size=20).digest(), "exact" if exact else bool(photo))
    best = _WEB.get(key)
    if best is None:
        best = _web_image(data, photo=photo, exact=exact)
        remember_web_images({key: best})
    return best


def known_web_images() -> dict[tuple[bytes, bool | str], tuple[str, bytes]]:
    """The images :func:`web_image` worked out in this process (to hand to another one's
    :func:`remember_web_images`)."""
    return dict(_WEB)


def remember_web_images(known: Mapping[tuple[bytes, bool | str], tuple[str, bytes]]) -> None:
    """Keep what :func:`web_image` worked out (here or in another process)."""
    for key, value in known.items():
        _WEB.pop(key, None)
        _WEB[key] = value
    while len(_WEB) > _WEB_KEPT:
        del _WEB[next(iter(_WEB))]


def _web_image(data: bytes, *, photo: bool = False, exact: bool = False) -> tuple[str, bytes]:
    """The smallest way to embed an image: ``(mime type, bytes)``.

    Candidates: the image as given; its 256-colour palette PNG (median cut, no dithering: as
    :func:`png_bytes` makes the report's own figures; a third of a full-colour figure's PNG);
    and with ``photo`` a lossy WebP (quality :data:`PHOTO_QUALITY`), which only photographs
    (faces) may use: on line art and text it blurs edges, on faces it is a third of the PNG
    with no visible change. (Lossless WebP saves 2% more over the demo's report for twice
    the encoding time: not a candidate.) Transparent pixels become white (the report's
    background). A PNG that already has a palette (:func:`png_bytes`' own, without
    ``photo``) is embedded as it is: quantizing it again changed its size by under 1% and
    took 15-20 ms a figure.

    With ``exact`` every pixel is kept: the candidates are the image as given and a
    lossless WebP (fastest method: on the registration's QC figures a quarter smaller than
    their PNG, in 0.1 s; 256 colours there merged magma's rare bright colours, the largest
    differences, into purple).
    """
    from PIL import Image

    img = Image.open(io.BytesIO(data))
    mime = {"PNG": "image/png", "WEBP": "image/webp", "JPEG": "image/jpeg"}.get(
        img.format or "", "image/png")
    best = (mime, data)
    palette = img.format == "PNG" and img.mode == "P" and "transparency" not in img.info
    if exact:
        candidates = [("WEBP", {"lossless": True, "method": 0})]
    else:
        candidates = ([] if palette else [("PNG", {})]) + (
            [("WEBP", {"quality": PHOTO_QUALITY})] if photo else [])
    if not candidates:
        return best
    img.load()
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        rgb = Image.new("RGB", rgba.size, "white")
        rgb.paste(rgba, mask=rgba.getchannel("A"))
    else:
        rgb = img.convert("RGB")
    for fmt, options in candidates:
        out = io.BytesIO()
        source = (rgb.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
                  if fmt == "PNG" else rgb)
        source.save(out, format=fmt, **options)
        if len(out.getvalue()) < len(best[1]):
            best = (f"image/{fmt.lower()}", out.getvalue())
    return best


def colours_for(names: Sequence[str]) -> dict[str, str]:
    """One colour per prototype or condition name; the analysis figures use the same."""
    return label_colours(list(names))


# ---------------------------------------------------------------------------- HOG glyphs


def hog_glyphs(hog: np.ndarray, cell_px: int = 16) -> np.ndarray:
    """Draw a HOG array as line glyphs: one line per cell and orientation, brightness = value.

    Parameters
    ----------
    hog
        Shape ``(cells_y, cells_x, orientations)``. With blocks of more than one cell, shape
        ``(blocks_y, blocks_x, cells_y_per_block, cells_x_per_block, orientations)``: each
        block's cells are averaged first (an approximation; the report says so).
    cell_px
        Pixels per cell of the drawing (not of the HOG: the glyphs are drawn larger than the
        face's cells when those are small).

    Returns
    -------
    numpy.ndarray
        Shape ``(cells_y * cell_px, cells_x * cell_px)``, float64, the sum of the glyphs.

    Notes
    -----
    The geometry is scikit-image's ``hog(visualize=True)``: orientation bin ``o`` of ``n``
    covers gradient angles around ``pi * (o + 0.5) / n``, and its glyph is a line through the
    cell centre *perpendicular* to that gradient, i.e. along the edge that made it. The
    glyphs are anti-aliased. Negative values (a difference of HOGs) are drawn as zero.
    """
    from skimage.draw import line_aa

    h = np.asarray(hog, dtype=np.float64)
    if h.ndim == 5:
        h = h.mean(axis=(2, 3))
    if h.ndim != 3:
        raise ValueError(f"hog must have shape (cells_y, cells_x, orientations), got {h.shape}")
    cy, cx, n = h.shape
    h = np.nan_to_num(np.clip(h, 0, None))
    cell_px = max(int(cell_px), 4)
    shape = (cy * cell_px, cx * cell_px)
    radius = cell_px // 2 - 1
    mid = np.pi * (np.arange(n) + 0.5) / n
    dr, dc = radius * np.sin(mid), radius * np.cos(mid)
    r0 = (np.arange(cy) * cell_px + cell_px // 2)[:, None]
    c0 = (np.arange(cx) * cell_px + cell_px // 2)[None, :]
    # Each glyph is one anti-aliased line per cell and orientation; a line drawn from integer
    # end points only moves with them, so each orientation's line is drawn once and placed
    # at every cell. All values are summed in one call, in the order of the cells, their
    # orientations and the lines' pixels, which is the order of drawing them one by one.
    rows, cols, vals = [], [], []
    for o in range(n):
        ends = [np.broadcast_to(np.round(a).astype(np.intp) - b, (cy, cx))
                for a, b in ((r0 - dc[o], r0), (c0 + dr[o], c0), (r0 + dc[o], r0),
                             (c0 - dr[o], c0))]
        if any(e.min() != e.max() for e in ends):  # a half-pixel end rounds by parity
            return _hog_glyphs_one_by_one(h, cell_px, r0, c0, dr, dc, shape)
        rr, cc, val = line_aa(*(int(e[0, 0]) for e in ends))
        rows.append(r0[..., None] + rr + np.zeros((1, cx, 1), np.intp))
        cols.append(c0[..., None] + cc + np.zeros((cy, 1, 1), np.intp))
        vals.append(val * h[:, :, o, None])
    rows, cols, vals = (np.concatenate(a, axis=-1).ravel() for a in (rows, cols, vals))
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    out = np.bincount(rows[ok] * shape[1] + cols[ok], vals[ok], minlength=shape[0] * shape[1])
    return out.reshape(shape)


def _hog_glyphs_one_by_one(h, cell_px, r0, c0, dr, dc, shape) -> np.ndarray:
    from skimage.draw import line_aa

    out = np.zeros(shape)
    for r in range(h.shape[0]):
        for c in range(h.shape[1]):
            for o in range(h.shape[2]):
                if h[r, c, o] <= 0:
                    continue
                rr, cc, val = line_aa(int(round(r0[r, 0] - dc[o])), int(round(c0[0, c] + dr[o])),
                                      int(round(r0[r, 0] + dc[o])), int(round(c0[0, c] - dr[o])))
                ok = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
                np.add.at(out, (rr[ok], cc[ok]), val[ok] * h[r, c, o])
    return out


def prototype_figure(
    names: Sequence[str],
    hogs: Mapping[str, np.ndarray],
    crops: Mapping[str, np.ndarray | None],
    *,
    pixels_per_cell: tuple[int, int],
    n_frames: Mapping[str, int] | None = None,
    neutral: str = NEUTRAL,
    title: str = "",
) -> plt.Figure:
    """Each prototype as its mean face crop above its HOG glyphs and its change from neutral.

    Parameters
    ----------
    names
        Prototypes in column order (neutral first).
    hogs
        Name to HOG array ``(cells_y, cells_x, orientations)``.
    crops
        Name to the mean grayscale crop ``(h, w)`` (None when the video could not be read).
    pixels_per_cell
        The HOG's cell size in crop pixels, to lay the glyphs over the crop's geometry.
    n_frames
        Name to the number of frames averaged into the crop (shown in the column title).
    """
    names = list(names)
    k = len(names)
    has_neutral = neutral in hogs
    rows = 3 if has_neutral else 2
    py, px = pixels_per_cell
    shape = next(iter(hogs.values())).shape
    cy, cx = shape[0], shape[1]
    aspect = (cy * py) / (cx * px)
    w = 1.75
    fig, axes = plt.subplots(rows, k, figsize=(w * k + 0.8, rows * w * aspect + 0.9),
                             squeeze=False)
    draw_px = max(16, min(px, 32))
    glyphs = {n: hog_glyphs(hogs[n], draw_px) for n in names}
    gains = ({n: hog_glyphs(np.clip(hogs[n] - hogs[neutral], 0, None), draw_px) for n in names}
             if has_neutral else {})
    # one brightness scale per row, so prototypes compare; the glyph centres, where all
    # orientations cross, would saturate a max-scale, hence a high percentile
    top = _bright(glyphs.values())
    gain_top = _bright(gains.values())
    for j, name in enumerate(names):
        crop = crops.get(name)
        ax = axes[0, j]
        if crop is not None:
            ax.imshow(crop, cmap="gray", vmin=0, vmax=255, interpolation="bilinear")
        else:
            ax.text(0.5, 0.5, "video not\nreadable", ha="center", va="center",
                    transform=ax.transAxes, fontsize=SMALL, color="0.4")
        count = (n_frames or {}).get(name)
        ax.set_title(name + (f"\n(mean of {count} frames)" if count else ""), fontsize=SMALL)
        extent = (-0.5, cx * px - 0.5, cy * py - 0.5, -0.5)
        axes[1, j].imshow(glyphs[name], cmap="gray", vmin=0, vmax=top, extent=extent,
                          interpolation="bilinear")
        if has_neutral and name == neutral:
            axes[2, j].text(0.5, 0.5, "(the reference)", ha="center", va="center",
                            transform=axes[2, j].transAxes, fontsize=SMALL, color="0.4")
        elif has_neutral:
            axes[2, j].imshow(gains[name], cmap="magma", vmin=0, vmax=gain_top,
                              extent=extent, interpolation="bilinear")
        for i in range(rows):
            a = axes[i, j]
            a.set_xticks([])
            a.set_yticks([])
            if crop is not None:
                a.set_xlim(-0.5, crop.shape[1] - 0.5)
                a.set_ylim(crop.shape[0] - 0.5, -0.5)
            for s in a.spines.values():
                s.set_visible(True)
                s.set_color("0.8")
    axes[0, 0].set_ylabel("mean face", fontsize=SMALL)
    axes[1, 0].set_ylabel("HOG glyphs", fontsize=SMALL)
    if has_neutral:
        axes[2, 0].set_ylabel("HOG gained\nvs neutral", fontsize=SMALL)
    if title:
        fig.suptitle(title, fontsize=MEDIUM, y=1.0)
    fig.tight_layout()
    return fig


def _bright(images) -> float:
    values = np.concatenate([np.ravel(i) for i in images] + [np.zeros(1)])
    values = values[values > 0]
    return float(np.percentile(values, 99)) if len(values) else 1.0


# ---------------------------------------------------------------------------- traces


def session_traces_figure(
    sessions: Sequence[dict],
    names: Sequence[str],
    *,
    colours: Mapping[str, str] | None = None,
) -> plt.Figure:
    """Similarity to each prototype over time, one panel per session, stimuli shaded.

    Each session is a dict with ``session``, ``animal``, ``time`` (n,), ``sim`` (n, len(names))
    and ``events``: a list of ``(onset, duration, trial_type)``.
    """
    names = list(names)
    conditions = sorted({e[2] for s in sessions for e in s["events"]})
    colours = dict(colours or colours_for(names + conditions))
    n = len(sessions)
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.1 * n + 0.7), squeeze=False,
                             layout="constrained")
    for ax, s in zip(axes[:, 0], sessions, strict=True):
        for onset, duration, cond in s["events"]:
            ax.axvspan(*stimulus_window(onset, duration), color=colours.get(cond, "0.7"),
                       alpha=0.18,
                       linewidth=0)
        for j, name in enumerate(names):
            ax.plot(s["time"], s["sim"][:, j], color=colours.get(name, "k"), linewidth=0.9,
                    label=name)
        ax.set_title(f"session {s['session']} (animal {s['animal']})", loc="left",
                     fontsize=SMALL)
        ax.set_ylabel("similarity (r)")
        # every panel: each session has its own clock, and a reader lands on any of them
        ax.set_xlabel("time from the session's first frame (s)", fontsize=SMALL)
        if len(s["time"]):
            ax.set_xlim(s["time"][0], s["time"][-1])
        ax.margins(x=0)
    handles = [plt.Line2D([], [], color=colours.get(n_, "k"), label=n_) for n_ in names]
    handles += [Patch(color=colours.get(c, "0.7"), alpha=0.3, label=f"stimulus: {c}")
                for c in conditions]
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 6),
               frameon=False)
    return fig


def aligned_figure(
    aligned: Mapping[str, dict],
    names: Sequence[str],
    *,
    colours: Mapping[str, str] | None = None,
    ylabel: str = "Δ similarity (r − baseline mean)",
) -> plt.Figure:
    """Trial-aligned mean ± s.e.m. of each prototype's similarity, one panel per condition.

    ``aligned`` maps a condition to a dict with ``t`` (m,) seconds from onset, ``traces``
    (trials, m, len(names)) and ``duration`` (the stimulus length, for the shading).
    """
    names = list(names)
    conds = list(aligned)
    colours = dict(colours or colours_for(names + conds))
    ncol = min(3, len(conds))
    nrow = -(-len(conds) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.5 * ncol + 0.4, 2.6 * nrow + 0.6),
                             squeeze=False, sharey=True, layout="constrained")
    for ax, cond in zip(axes.flat, conds, strict=False):
        a = aligned[cond]
        t, x = a["t"], a["traces"]
        ax.axvspan(0, a["duration"], color=colours.get(cond, "0.7"), alpha=0.15, linewidth=0)
        ax.axhline(0, color="0.6", linewidth=0.6)
        n_ok = np.sum(np.isfinite(x), axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(np.where(n_ok > 0, x, 0), axis=0) if len(x) else x
            mean = np.where(n_ok > 0, mean, np.nan)
            sem = np.nanstd(x, axis=0, ddof=1) / np.sqrt(n_ok) if len(x) > 1 else 0 * mean
        for j, name in enumerate(names):
            ax.plot(t, mean[:, j], color=colours.get(name, "k"), linewidth=1.2 if
                    name == cond else 0.8, label=name)
            ax.fill_between(t, mean[:, j] - sem[:, j], mean[:, j] + sem[:, j],
                            color=colours.get(name, "k"), alpha=0.2, linewidth=0)
        ax.set_title(f"{cond} (n={len(x)} trials)", fontsize=SMALL)
        ax.set_xlabel("time from onset (s)")
        ax.set_xlim(t[0], t[-1])
    for ax in axes[:, 0]:
        ax.set_ylabel(ylabel)
    for ax in list(axes.flat)[len(conds):]:
        ax.axis("off")
    handles = [plt.Line2D([], [], color=colours.get(n_, "k"), label=n_) for n_ in names]
    fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 7),
               frameon=False)
    return fig


def heatmap_figure(
    aligned: Mapping[str, dict],
    *,
    label: str = "Δ similarity to own prototype (r − baseline mean)",
) -> plt.Figure:
    """Trials × time of each condition's similarity to its own prototype.

    ``aligned`` maps a condition to a dict with ``t`` (m,), ``own`` (trials, m) and
    ``duration``, and optionally ``rows`` (a label per trial, e.g. the animal) for the y axis.
    One colour scale (symmetric around 0, 98th percentile of |Δr|) for all panels.
    """
    conds = list(aligned)
    ncol = min(3, len(conds))
    nrow = -(-len(conds) // ncol)
    values = np.concatenate([np.abs(a["own"]).ravel() for a in aligned.values()])
    values = values[np.isfinite(values)]
    lim = float(np.percentile(values, 98)) if len(values) else 1.0
    lim = lim or 1.0
    fig, axes = plt.subplots(nrow, ncol, figsize=(3.5 * ncol + 1.2, 2.7 * nrow + 0.3),
                             squeeze=False)
    im = None
    for ax, cond in zip(axes.flat, conds, strict=False):
        a = aligned[cond]
        t, x = a["t"], a["own"]
        dt = t[1] - t[0] if len(t) > 1 else 1.0
        im = ax.imshow(x, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                       extent=(t[0] - dt / 2, t[-1] + dt / 2, len(x) + 0.5, 0.5),
                       interpolation="nearest")
        ax.axvline(0, color="k", linewidth=0.8)
        ax.axvline(a["duration"], color="k", linewidth=0.8, linestyle="--")
        ax.set_title(f"{cond} → prototype {cond}", fontsize=SMALL)
        ax.set_xlabel("time from onset (s)")
        ax.set_ylabel("trial")
        rows = a.get("rows")
        if rows is not None and len(rows):
            # one tick per block of equal labels (e.g. per animal)
            starts = [i for i in range(len(rows)) if i == 0 or rows[i] != rows[i - 1]]
            if len(starts) <= 12:
                ends = starts[1:] + [len(rows)]
                ax.set_yticks([(a + b + 1) / 2 for a, b in zip(starts, ends, strict=True)],
                              [str(rows[s]) for s in starts], fontsize=SMALL - 1)
                ax.set_ylabel("trial (by animal)")
                for s in starts[1:]:
                    ax.axhline(s + 0.5, color="0.3", linewidth=0.5)
    for ax in list(axes.flat)[len(conds):]:
        ax.axis("off")
    fig.tight_layout()
    if im is not None:
        fig.colorbar(im, ax=axes.ravel().tolist(), fraction=0.025, pad=0.02, label=label)
    return fig


def score_matrix_figure(table, *, label: str = "mean trial score (Δr)") -> plt.Figure:
    """Mean trial score of each condition (rows) for each prototype (columns), annotated.

    ``table`` is a DataFrame indexed by condition with one column per prototype.
    """
    m = table.to_numpy(dtype=float)
    lim = float(np.nanmax(np.abs(m))) if np.isfinite(m).any() else 1.0
    lim = lim or 1.0
    k, p = m.shape
    fig, ax = plt.subplots(figsize=(0.85 * p + 2.4, 0.45 * k + 1.4))
    im = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto")
    for i in range(k):
        for j in range(p):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:+.3f}", ha="center", va="center", fontsize=SMALL - 1,
                        color="white" if abs(m[i, j]) > 0.6 * lim else "black")
    ax.set_xticks(range(p), [str(c) for c in table.columns], rotation=35, ha="right")
    ax.set_yticks(range(k), [str(r) for r in table.index])
    ax.set_xlabel("prototype")
    ax.set_ylabel("condition (trial_type)")
    for s in ax.spines.values():
        s.set_visible(False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label=label)
    fig.tight_layout()
    return fig


def action_unit_changes_figure(changes, units: Mapping[str, str],
                               colours: Mapping[str, str]) -> plt.Figure:
    """Mean change of each action unit (a panel each, in ``changes``' order) per condition,
    with its confidence interval.

    ``changes`` is :func:`mouseface.expressions.action_units.au_changes`'s table; ``units``
    maps ``au_<name>`` to its unit (``ratio``, ``deg``, ``px``, ``mm``).
    """
    aus = list(dict.fromkeys(changes["action_unit"]))
    conditions = list(dict.fromkeys(changes["condition"]))
    ncol = min(4, len(aus))
    nrow = -(-len(aus) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(2.3 * ncol + 0.4, 2.0 * nrow + 0.3),
                             squeeze=False, sharex=True)
    for ax, au in zip(axes.flat, aus, strict=False):
        rows = changes[changes["action_unit"] == au].set_index("condition")
        for i, c in enumerate(conditions):
            if c not in rows.index or not np.isfinite(rows.at[c, "mean_change"]):
                continue
            m, lo, hi = (float(rows.at[c, k]) for k in ("mean_change", "ci_low", "ci_high"))
            err = [[m - lo], [hi - m]] if np.isfinite(lo) else None
            ax.errorbar(i, m, yerr=err, fmt="o", ms=4, capsize=2.5, lw=1.2,
                        color=colours.get(c, "0.3"))
        ax.axhline(0.0, color="0.6", lw=0.7, zorder=0)
        unit = units.get(f"au_{au}", "")
        ax.set_title(au.replace("_", " "), fontsize=MEDIUM)
        ax.set_ylabel({"ratio": "Δ ratio of neutral", "deg": "Δ degrees"}.get(
            unit, f"Δ {unit}" if unit else "change"), fontsize=SMALL)
        ax.set_xticks(range(len(conditions)), conditions, rotation=40, ha="right")
        ax.set_xlim(-0.6, len(conditions) - 0.4)
    for ax in list(axes.flat)[len(aus):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def action_unit_auc_figure(separation, conditions: Sequence[str]) -> plt.Figure:
    """One-vs-rest AUC of each action unit (rows, best separating first) for each condition
    (columns), annotated; ε² of the Kruskal–Wallis test beside each action unit."""
    m = separation[[f"auc_{c}" for c in conditions]].to_numpy(dtype=float)
    k, p = m.shape
    fig, ax = plt.subplots(figsize=(0.8 * p + 3.2, 0.36 * k + 1.3))
    im = ax.imshow(m, cmap="RdBu_r", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(k):
        for j in range(p):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=SMALL - 1,
                        color="white" if abs(m[i, j] - 0.5) > 0.35 else "black")
    labels = [f"{a.replace('_', ' ')}  (ε² {e:.2f})" if np.isfinite(e) else a
              for a, e in zip(separation["action_unit"], separation["epsilon_squared"],
                              strict=True)]
    ax.set_xticks(range(p), list(conditions), rotation=35, ha="right")
    ax.set_yticks(range(k), labels)
    ax.set_xlabel("condition (vs the other conditions' trials)")
    for s in ax.spines.values():
        s.set_visible(False)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="AUC (0.5: no separation)")
    fig.tight_layout()
    return fig


__all__ = ["DPI", "action_unit_auc_figure", "action_unit_changes_figure", "aligned_figure",
           "colours_for", "heatmap_figure", "hog_glyphs", "png_bytes", "prototype_figure",
           "score_matrix_figure", "session_traces_figure"]
