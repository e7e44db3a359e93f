"""``report.html``: one self-contained page that shows a results folder.

:func:`write_report` reads what the pipeline wrote (``run.json``, ``frames.parquet``,
``trials.csv``, ``model/``, ``features/``) and, when present, what the analyses wrote
(``analysis/`` and ``neural/``: their PNG figures and JSON summaries), draws the report's own
figures with :mod:`mouseface.report.figures`, and renders ``templates/report.html.j2``. Every
image is embedded as base64 PNG and all CSS is inline: the page needs no network and no other
file, so it can be mailed or archived as is.

Sections: run summary (inputs, settings, versions, timings, warnings); prototypes (mean face
crop, HOG glyphs, HOG gained versus neutral); similarity traces of a few sessions with stimuli
shaded; trial-aligned mean ± s.e.m. per condition; trials × time heatmaps; trial scores
(matrix and table); analysis and neural figures when they exist.

A section that cannot be drawn (e.g. the videos were moved, so the mean faces cannot be
decoded) is replaced by a note, and the note is also listed under the warnings: the report
never stops a run that already succeeded.
"""

from __future__ import annotations

import base64
import datetime as _dt
import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mouseface._atomic import write_text
from mouseface._errors import InputError
from mouseface.expressions.windows import NEUTRAL, baseline_window
from mouseface.io.intervals import Intervals, align_to_events
from mouseface.io.layout import ResultsLayout
from mouseface.io.model import load_mean_faces, load_picked
from mouseface.io.results import Results, load_results
from mouseface.io.tables import event_columns, natural_key
from mouseface.report import figures
from mouseface.report.findings import findings, format_p, optional_json
from mouseface.report.overlay import iter_frames, session_source

#: baseline frames averaged into the neutral mean face (evenly spaced over all of them)
NEUTRAL_FACES = 50
#: seconds shown after the stimulus window ends, in the aligned traces and heatmaps
POST = 2.0


def write_report(results_dir: str | Path, out: str | Path | None = None, *,
                 results: Results | None = None, max_sessions: int = 6, max_animals: int = 4,
                 max_table_rows: int = 500,
                 progress: Callable[[str], None] | None = None,
                 drawn: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` for a results folder and return its path.

    Parameters
    ----------
    results_dir
        A folder ``mouseface run``, ``score`` or ``demo`` wrote (``run.json`` and/or
        ``frames.parquet``).
    out
        Where to write; default ``results_dir/report.html``.
    results
        What a run hands over in memory (:meth:`~mouseface.io.results.Results.from_memory`:
        its tables, model, registration summary and the crops its pass kept for the mean
        faces); None reads the folder (``mouseface report DIR``).
    max_sessions
        Sessions whose similarity traces are drawn (chosen to cover as many conditions as
        possible); the page says how many there are in all.
    max_animals
        Animals whose prototypes are drawn.
    max_table_rows
        Rows of the trial-score table shown (``trials.csv`` has them all).
    progress
        Called with the name of each step as it starts (``"figures"``, ``"page"``).
    drawn
        The run's own figures, already drawn by :func:`draw_figures` with the same
        ``results`` and limits (the demo draws them while its analyses run); None draws them.

    Returns
    -------
    Path
        The report file (written to a temporary name, then renamed into place).

    Raises
    ------
    InputError
        When ``results_dir`` holds neither ``run.json`` nor ``frames.parquet``.
    """
    results_dir = Path(results_dir)
    step = progress or (lambda name: None)
    step("figures")
    ctx = build_context(results_dir, results=results, max_sessions=max_sessions,
                        max_animals=max_animals, max_table_rows=max_table_rows, drawn=drawn)
    step("page")
    page = render(ctx)
    out = Path(out) if out is not None else ResultsLayout(results_dir).report
    write_text(out, page)
    return out


def render(ctx: dict[str, Any]) -> str:
    """The page for a context from :func:`build_context`."""
    import jinja2

    class KeysFirst(jinja2.Environment):
        # Jinja reads ``a.b`` as an attribute before a key, so a context key named like a
        # dict method ("clear", "count", "items"...) printed the method; the context is
        # plain dicts, so their keys come first.
        def getattr(self, obj: Any, attribute: str) -> Any:
            if isinstance(obj, Mapping) and attribute in obj:
                return obj[attribute]
            return super().getattr(obj, attribute)

    env = KeysFirst(
        loader=jinja2.PackageLoader("mouseface.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    return env.get_template("report.html.j2").render(**ctx)


# ---------------------------------------------------------------------------- context


def build_context(results_dir: Path, *, results: Results | None = None, max_sessions: int = 6,
                  max_animals: int = 4, max_table_rows: int = 500,
                  drawn: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything the template shows: text, tables and figures (as data URIs).

    ``drawn``: what :func:`draw_figures` returned for these results (None draws it here).
    """
    results_dir = Path(results_dir)
    layout = ResultsLayout(results_dir)
    if results is None and not layout.is_results():
        raise InputError("not a mouseface results folder (no run.json, no frames.parquet)",
                         results_dir)
    notes: list[str] = []
    run = results.run if results is not None else (optional_json(
        layout.run_json,
        lambda p, exc: notes.append(f"report: {p.name} is not readable JSON ({exc})")) or {})
    ctx: dict[str, Any] = {
        "title": f"mouseface report: {results_dir.resolve().name}",
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "mouseface_version": run.get("mouseface", "unknown"),
        "results_dir": str(results_dir.resolve()),
        "notes": notes,
        "summary": _summary(run),
    }
    res = results
    if res is None and layout.frames.is_file():
        res = _section("reading the results", notes, lambda: load_results(results_dir))
    if drawn is None:
        drawn = draw_figures(results_dir, res, run, max_sessions=max_sessions,
                             max_animals=max_animals, max_table_rows=max_table_rows)
    notes += drawn["notes"]
    ctx.update({k: v for k, v in drawn.items() if k not in ("notes", "registration", "drawn")})
    ctx["extras"] = _section("analysis and neural results", notes,
                             lambda: _extras(results_dir, res, drawn["registration"])) or []
    ctx["findings"] = _section("findings", notes, lambda: _findings(results_dir, notes))
    return ctx


#: the sections of :func:`draw_figures`, in the order it draws them, and the context entries
#: each fills
SECTIONS = {"prototypes": ("prototypes", "prototype_method"), "traces": ("traces",),
            "aligned": ("aligned", "heatmaps"), "scores": ("scores",),
            "action_units": ("action_units",)}


def draw_figures(results_dir: str | Path, results: Results | None, run: dict[str, Any], *,
                 max_sessions: int = 6, max_animals: int = 4, max_table_rows: int = 500,
                 registration: bool = True, sections: Sequence[str] = tuple(SECTIONS),
                 claim: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """The report's figures and tables of the run itself, which the analyses and the neural
    step do not change: prototypes, similarity traces, aligned traces, heatmaps, trial
    scores, action units, and the registration's QC figures (also saved into
    ``registration/``).

    Parameters
    ----------
    results_dir
        The results folder.
    results
        Its results (in memory or read); None when it has no frames (nothing is drawn).
    run
        Its ``run.json`` record (the settings the figures follow).
    max_sessions, max_animals, max_table_rows
        As for :func:`write_report`.
    registration
        Draw the registration's QC figures; False leaves ``registration`` None, for the
        caller to fill with :func:`registration_figures` (the demo draws them in its second
        process).
    sections
        Which of :data:`SECTIONS` to draw, in this order (the others' entries stay empty).
    claim
        Asked for each section just before it is drawn: False leaves it to someone else (the
        demo's two processes share the sections: :meth:`~mouseface.workflows.demo._Beside.
        claim`). None draws them all.

    Returns
    -------
    dict
        Context entries of :func:`build_context`, ``notes`` (sections that could not be
        drawn), ``registration`` (QC file name -> PNG bytes) and ``drawn`` (the sections
        drawn).
    """
    results_dir = Path(results_dir)
    notes: list[str] = []
    ctx: dict[str, Any] = {
        "notes": notes, "prototypes": [], "prototype_method": "", "traces": None,
        "aligned": None, "heatmaps": None, "scores": None, "action_units": None,
        "counts": None, "baseline": 2.0, "post": POST, "drawn": [],
    }
    res = results
    if res is not None:
        ctx["counts"] = _counts(res)
        settings = run.get("settings", {}) or res.run.get("settings", {})
        baseline = float(settings.get("prototypes", {}).get("baseline", 2.0))
        n_frames = int(settings.get("prototypes", {}).get("n_frames", 10))
        ppc = tuple(settings.get("hog", {}).get("pixels_per_cell", (32, 32)))
        colours = figures.colours_for(_names(res) + _conditions(res))
        ctx["baseline"] = baseline

        def prototypes() -> None:
            ctx["prototype_method"] = _prototype_method(res, n_frames)
            ctx["prototypes"] = _section(
                "prototype figures", notes,
                lambda: _prototypes(res, results_dir, n_frames, ppc, max_animals, notes)) or []

        def traces() -> None:
            ctx["traces"] = _section("similarity traces", notes,
                                     lambda: _traces(res, colours, max_sessions))

        def aligned() -> None:
            got = _section("trial alignment", notes, lambda: _align(res, baseline))
            if got:
                ctx["aligned"] = _section("aligned traces", notes, lambda: _img(
                    figures.aligned_figure(got, _names(res), colours=colours)))
                own = {c: a for c, a in got.items() if a.get("own") is not None}
                if own:
                    ctx["heatmaps"] = _section("heatmaps", notes,
                                               lambda: _img(figures.heatmap_figure(own)))

        def scores() -> None:
            ctx["scores"] = _section("trial scores", notes,
                                     lambda: _scores(res, max_table_rows))

        def action_units() -> None:
            ctx["action_units"] = _section("action units", notes,
                                           lambda: _action_units(res, run, colours))

        draw = {"prototypes": prototypes, "traces": traces, "aligned": aligned,
                "scores": scores, "action_units": action_units}
        for name in sections:
            if claim is None or claim(name):
                draw[name]()
                ctx["drawn"].append(name)
    ctx["registration"] = None if not registration else _section(
        "registration figures", notes, lambda: registration_figures(results_dir, res)) or {}
    return ctx


def add_drawn(drawn: dict[str, Any], more: dict[str, Any] | None) -> None:
    """Add to what :func:`draw_figures` drew (``drawn``) the sections another call of it drew
    (``more``: the same results, other sections; None: nothing), and its notes."""
    if more is None:
        return
    for name in more["drawn"]:
        for key in SECTIONS[name]:
            drawn[key] = more[key]
    drawn["notes"] += more["notes"]
    drawn["drawn"] += more["drawn"]


def registration_figures(results_dir: str | Path, results: Results | None = None
                         ) -> dict[str, bytes]:
    """The registration's QC figures (file name -> PNG), drawn from the faces the run handed
    over in ``results`` or else from ``registration/faces.npz`` (the same figures), and
    written into ``registration/``."""
    return _registration_figures(ResultsLayout(results_dir), results)


def _findings(results_dir: Path, notes: list[str]) -> dict[str, Any] | None:
    """The Findings block: :func:`~mouseface.report.findings.findings` of the folder (what
    the workflows wrote), None when it found nothing to say."""
    f = findings(results_dir)
    notes += [f"report: {p} is not readable; left out of the findings"
              for p in f["unreadable"]]
    shown = ("trials", "bouts", "comparisons", "classification", "neurons", "truth")
    if not any(f[k] for k in shown):
        return None
    if f["trials"] and f["trials"].get("n_scored"):
        f["trials"]["chance_text"] = f"{f['trials']['chance']:.0%}"
    f["p"] = format_p
    return f


def _section(name: str, notes: list[str], build: Callable[[], Any]) -> Any:
    """Run ``build``; on failure note it (and warn) and return None."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices of short trials
            return build()
    except Exception as exc:  # a figure must never sink the report
        msg = f"report: {name} could not be drawn ({type(exc).__name__}: {exc})"
        notes.append(msg)
        warnings.warn(msg, stacklevel=2)
        return None


def _img(fig, *, photo: bool = False) -> str:
    # a photograph goes to WebP from the full-colour render, not from its palette version
    return _data_uri(figures.png_bytes(fig, palette=not photo), photo=photo)


def _data_uri(png: bytes, *, photo: bool = False, exact: bool = False) -> str:
    """The image as a data URI, in its smallest encoding (:func:`figures.web_image`)."""
    mime, data = figures.web_image(png, photo=photo, exact=exact)
    return f"data:{mime};base64," + base64.b64encode(data).decode("ascii")


# ---------------------------------------------------------------------------- summary


def _flatten(d: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(d, dict):
        out = []
        for k, v in d.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    if isinstance(d, list):
        return [(prefix, ", ".join(map(str, d)) if not any(isinstance(x, dict | list)
                                                           for x in d) else json.dumps(d))]
    return [(prefix, "" if d is None else str(d))]


def _size(n: Any) -> str:
    if not isinstance(n, int | float):
        return ""
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _summary(run: dict) -> dict[str, Any]:
    inputs = []
    for i in run.get("inputs", []) or []:
        kind = i.get("kind") or ("video" if "session" in i else "")
        inputs.append({"kind": kind, "session": i.get("session", ""),
                       "path": i.get("path") or i.get("source", ""),
                       "size": _size(i.get("size")),
                       "frames": i.get("frames", ""),
                       "truncated": "yes" if i.get("truncated") else ""})
    timings = run.get("timings_s", {}) or {}
    return {
        "present": bool(run),
        "command": run.get("command", "?"),
        "mouseface": run.get("mouseface", "?"),
        "inputs": inputs,
        "settings": _flatten(run.get("settings", {}) or {}),
        "versions": sorted((run.get("versions", {}) or {}).items()),
        "timings": [(k, f"{v:.1f}") for k, v in timings.items()],
        "total_s": f"{sum(timings.values()):.1f}" if timings else "",
        "warnings": [str(w) for w in run.get("warnings", []) or []],
        "frames_note": run.get("frames_note", ""),
        "extra": [(k, v) for k, v in run.items() if k in ("model",)],
    }


def _names(res: Results) -> list[str]:
    """Prototype names for display: neutral first, then in natural order."""
    names = res.prototype_names
    return [n for n in names if n == NEUTRAL] + sorted((n for n in names if n != NEUTRAL),
                                                        key=natural_key)


def _conditions(res: Results) -> list[str]:
    if res.trials.empty:
        return []
    return sorted(res.trials["trial_type"].astype(str).unique(), key=natural_key)


def _counts(res: Results) -> dict[str, Any]:
    f = res.frames
    return {"sessions": int(f["session"].nunique()), "animals": int(f["animal"].nunique()),
            "frames": len(f), "trials": len(res.trials),
            "conditions": ", ".join(_conditions(res)) or "none",
            "prototypes": ", ".join(_names(res)),
            "models": ", ".join(res.models) if res.models else "",
            "model_mode": res.model.get("mode", "")}


# ---------------------------------------------------------------------------- prototypes


def _recorded(res: Results) -> tuple[pd.DataFrame | None, dict | None]:
    """What the run recorded of its prototypes: the frames each one averaged and their mean
    faces; handed over in memory by the run, else read from ``model/`` (None: not recorded,
    e.g. results of ``score`` or of an older version)."""
    if res.in_memory:
        return res.handed("picked"), res.handed("faces")
    return load_picked(res.path), load_mean_faces(res.path)


def _prototype_method(res: Results, n_frames: int) -> str:
    picked, faces = _recorded(res)
    tail = ("HOG glyphs: one line per cell and orientation along the edge direction, "
            "brightness = the prototype's value (one scale per row). HOG gained vs neutral: "
            "the same for the prototype minus the neutral prototype, positive part only.")
    if faces is not None or picked is not None:
        source = ("the registered crops (what HOG saw) the run's pass kept" if faces is not None
                  else "the face crops, decoded again from the videos (the run kept no crops: "
                  "its features were reused)")
        neutral = ("all baseline frames" if faces is not None else
                   f"up to {NEUTRAL_FACES} baseline frames, evenly spaced")
        return (f"Mean face: the average of {source} of the frames whose HOG the run averaged "
                "into each prototype (per animal, the stimulus frames least like its neutral "
                f"face; model/{ResultsLayout(res.path).model_files.picked_frames.name}). The "
                f"neutral face is the average of {neutral}. " + tail)
    handed = bool(res.handed("kept"))
    source = ("the registered crop (what HOG saw), kept during the run's pass" if handed
              else "the face crop, re-decoded from the video")
    neutral = ("all baseline frames" if handed else
               f"up to {NEUTRAL_FACES} baseline frames, evenly spaced")
    return (f"Mean face: the average of {source}, over the {n_frames} "
            "stimulus frames of each condition (per animal) least similar to the animal's "
            "neutral prototype (lowest sim_neutral); these results do not record the frames "
            "the prototypes averaged. The "
            f"neutral face is the average of {neutral}. " + tail)


def _pick_frames(f: pd.DataFrame, name: str, n_frames: int,
                 exclude_flagged: bool = True) -> pd.DataFrame:
    """Rows of ``f`` (one animal) whose crops make the mean face of prototype ``name``: as
    for the prototype, flagged frames are left out (when the run left them out)."""
    rows = f[f["window"] == name]
    if exclude_flagged and "flag" in rows.columns:
        rows = rows[~rows["flag"].astype(bool)]
    if rows.empty:
        return rows
    if name == NEUTRAL:
        take = np.unique(np.linspace(0, len(rows) - 1, min(NEUTRAL_FACES, len(rows)))
                         .round().astype(int))
        return rows.iloc[take]
    if f"sim_{NEUTRAL}" in rows.columns:
        order = np.argsort(rows[f"sim_{NEUTRAL}"].to_numpy(), kind="stable")
        return rows.iloc[order[:n_frames]]
    return rows.iloc[:n_frames]


def _mean_faces(results_dir: Path, picks: dict[str, pd.DataFrame]
                ) -> tuple[dict[str, np.ndarray | None], dict[str, int]]:
    """Mean crop per prototype of the picked frames, each video decoded once.

    Sessions cut from one video (different ROIs of a trial mosaic) share the pass: whole
    frames are decoded and each session's ROI is cropped from them.
    """
    parts = [p.assign(_name=n) for n, p in picks.items() if len(p)]
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, int] = {}
    if parts:
        wanted = pd.concat(parts, ignore_index=True)
        sources = {s: session_source(results_dir, str(s)) for s in wanted["session"].unique()}
        for s, src in sources.items():
            if not src["video"] or not Path(src["video"]).exists():
                raise InputError(f"video of session {s} not found: {src['video']}")
        wanted["_video"] = wanted["session"].map(lambda s: str(sources[s]["video"]))
        wanted["_fps"] = wanted["session"].map(lambda s: sources[s]["fps"])
        for (video, fps), rows in wanted.groupby(["_video", "_fps"], sort=False,
                                                 dropna=False):
            need: dict[int, list[tuple[str, tuple | None]]] = {}
            for name, session, idx in zip(rows["_name"], rows["session"],
                                          rows["frame"].astype(int), strict=True):
                need.setdefault(int(idx), []).append((name, sources[session]["roi"]))
            fps = None if pd.isna(fps) else float(fps)
            for i, frame in iter_frames(video, None, fps, sorted(need)):
                for name, roi in need[i]:
                    crop = frame if roi is None else frame[roi[1]:roi[1] + roi[3],
                                                           roi[0]:roi[0] + roi[2]]
                    if name in sums and sums[name].shape != crop.shape:
                        continue  # pooled models over ROIs of different sizes: keep the first
                    sums[name] = sums.get(name, 0) + crop.astype(np.float64)
                    counts[name] = counts.get(name, 0) + 1
    faces = {n: (sums[n] / counts[n] if n in sums else None) for n in picks}
    return faces, counts


def _kept_faces(kept: dict, picks: dict[str, pd.DataFrame]
                ) -> tuple[dict[str, np.ndarray | None], dict[str, int]] | None:
    """Mean faces from the registered crops the run's pass kept (None: some session's pass
    kept nothing, e.g. its features were reused)."""
    from mouseface.features.extract import mean_faces

    sessions = (list(dict.fromkeys(picks[NEUTRAL]["session"].astype(str)))
                if NEUTRAL in picks else [])
    got = mean_faces(kept, sessions, {
        n: list(zip(r["session"].astype(str), r["frame"].astype(int), strict=True))
        for n, r in picks.items() if n != NEUTRAL}, NEUTRAL)
    if got is None:
        return None
    return {n: got[n][0] for n in picks}, {n: got[n][1] for n in picks}


def _prototypes(res: Results, results_dir: Path, n_frames: int, ppc: tuple,
                max_animals: int, notes: list[str]) -> list[dict[str, Any]]:
    if not res.prototypes:
        return []
    out = []
    names = _names(res)
    models = res.models[:max_animals]
    kept = res.handed("kept") or {}
    picked, stored = _recorded(res)
    for key in models:
        i = res.models.index(key)
        # NaN: a condition the animal lacks (all entries) or cells under a mask (some)
        hogs = {n: np.nan_to_num(res.prototypes[n][i]) for n in names
                if np.isfinite(res.prototypes[n][i]).any()}
        shown = [n for n in names if n in hogs]
        f = res.frames if key in ("pooled", "transfer") else res.frames[
            res.frames["animal"] == key]
        exclude = bool(res.run.get("settings", {}).get("quality", {})
                       .get("exclude_flagged", True))
        got = None
        if stored is not None and key in stored:  # drawn as the run recorded them
            got = ({n: stored[key].get(n, (None, 0))[0] for n in shown},
                   {n: stored[key].get(n, (None, 0))[1] for n in shown})
        elif picked is not None:  # the run's picks; only their crops are missing
            mine = picked[picked["model"].astype(str) == str(key)]
            picks = {n: (mine[mine["prototype"] == n] if n != NEUTRAL
                         else _pick_frames(f, n, n_frames, exclude)) for n in shown}
        else:  # results that do not record the picks: pick as the prototypes did
            picks = {n: _pick_frames(f, n, n_frames, exclude) for n in shown}
        if got is None and kept:
            got = _kept_faces(kept, picks)
        if got is None:
            try:
                got = _mean_faces(results_dir, picks)
            except InputError as exc:
                msg = f"report: mean faces of {key} not drawn ({exc}); HOG glyphs only"
                notes.append(msg)
                warnings.warn(msg, stacklevel=2)
                got = dict.fromkeys(shown), {}
        faces, counts = got
        label = ("pooled over animals" if key == "pooled" else "transfer model"
                 if key == "transfer" else f"animal {key}")
        fig = figures.prototype_figure(shown, hogs, faces, pixels_per_cell=ppc,
                                       n_frames=counts, title=f"Prototypes: {label}")
        out.append({"label": label, "src": _img(fig, photo=True)})  # mean faces
    if len(res.models) > max_animals:
        notes.append(f"report: prototypes drawn for {max_animals} of {len(res.models)} "
                     "models (animals); all are in model/prototypes.npz")
    return out


# ---------------------------------------------------------------------------- traces


def _choose_sessions(res: Results, k: int) -> list[str]:
    """Up to ``k`` sessions, greedily covering as many conditions as possible, then in order."""
    sessions = list(dict.fromkeys(res.frames["session"]))
    if res.trials.empty:
        return sessions[:k]
    conds = res.trials.groupby("session")["trial_type"].apply(lambda s: set(map(str, s)))
    chosen: list[str] = []
    covered: set[str] = set()
    while len(chosen) < min(k, len(sessions)):
        best = max((s for s in sessions if s not in chosen),
                   key=lambda s: (len(conds.get(s, set()) - covered), -sessions.index(s)))
        chosen.append(best)
        covered |= conds.get(best, set())
    return sorted(chosen, key=sessions.index)


def _traces(res: Results, colours: dict, max_sessions: int) -> dict[str, Any]:
    names = _names(res)
    chosen = _choose_sessions(res, max_sessions)
    panels = []
    for s in chosen:
        f = res.frames[res.frames["session"] == s]
        ev = res.trials[res.trials["session"] == s] if not res.trials.empty else res.trials
        panels.append({
            "session": s, "animal": f["animal"].iloc[0], "time": f["time"].to_numpy(),
            "sim": f[[f"sim_{n}" for n in names]].to_numpy(dtype=float),
            "events": [(float(r.onset), float(r.duration), str(r.trial_type))
                       for r in ev.itertuples(index=False)]})
    n_all = res.frames["session"].nunique()
    return {"src": _img(figures.session_traces_figure(panels, names, colours=colours)),
            "shown": len(chosen), "total": n_all, "sessions": ", ".join(chosen)}


def _align(res: Results, baseline: float) -> dict[str, dict] | None:
    """Per condition: similarity traces around onset minus each trial's baseline mean."""
    if res.trials.empty:
        return None
    names = _names(res)
    cols = [f"sim_{n}" for n in names]
    by_session = {s: (g["time"].to_numpy(dtype=float), g[cols].to_numpy(dtype=float),
                      str(g["animal"].iloc[0]))
                  for s, g in res.frames.groupby("session", sort=False)}
    dts = [np.median(np.diff(t)) for t, _, _ in by_session.values() if len(t) > 1]
    dt = float(np.median(dts)) if dts else 1.0
    out = {}
    trials = res.trials.sort_values(["animal", "session", "onset"], kind="stable") \
        if "animal" in res.trials.columns else res.trials
    kind = trials["trial_type"].astype(str)
    for cond in _conditions(res):
        rows = trials[kind == cond]
        dur = float(rows["duration"].max())
        t_rel = np.arange(-baseline, dur + POST + dt / 2, dt)
        traces, labels = [], []
        for r in rows.itertuples(index=False):
            got = by_session.get(str(r.session))
            if got is None:
                continue
            t, sim, animal = got
            before = Intervals(*baseline_window(float(r.onset), baseline))
            if not before.count(t)[0]:
                continue
            base = before.mean(t, sim.T)[:, 0]
            traces.append(align_to_events(t, sim, float(r.onset), t_rel)[0] - base)
            labels.append(animal)
        if not traces:
            continue
        x = np.stack(traces)
        seen = np.flatnonzero(np.isfinite(x).any(axis=(0, 2)))  # trim where no trial has data
        x = x[:, seen[0]:seen[-1] + 1]
        out[cond] = {"t": t_rel[seen[0]:seen[-1] + 1], "traces": x,
                     "duration": float(rows["duration"].median()),
                     "own": x[:, :, names.index(cond)] if cond in names else None,
                     "rows": labels}
    return out or None


# ---------------------------------------------------------------------------- scores


def _scores(res: Results, max_rows: int) -> dict[str, Any] | None:
    t = res.trials
    if t.empty:
        return None
    names = [n for n in _names(res) if f"score_{n}" in t.columns]
    if not names:
        return None
    score_cols = [f"score_{n}" for n in names]
    matrix = t.groupby(t["trial_type"].astype(str))[score_cols].mean()
    matrix = matrix.loc[sorted(matrix.index, key=natural_key)]
    matrix.columns = names
    src = _img(figures.score_matrix_figure(matrix))
    emotion = [n for n in names if n != NEUTRAL]
    first = [c for c in ("session", "animal", "trial_type", "onset", "duration")
             if c in t.columns]
    other = [c for c in event_columns(t) if c not in first]
    header = first + other + [f"score_{n}" for n in names]
    rows = []
    for r in t.head(max_rows).itertuples(index=False):
        d = dict(zip(t.columns, r, strict=True))
        vals = {n: d[f"score_{n}"] for n in names}
        finite = {n: v for n, v in vals.items() if n in emotion and pd.notna(v)}
        top = max(finite, key=finite.get) if finite else None
        cells = [{"text": _fmt(d[c]), "num": _is_num(d[c]), "cls": ""} for c in first + other]
        cells += [{"text": _fmt(vals[n], 3), "num": True,
                   "cls": "top" if n == top else ""} for n in names]
        rows.append(cells)
    return {"matrix": src, "header": header, "rows": rows, "shown": len(rows),
            "total": len(t), "n_score": len(names)}


# ---------------------------------------------------------------------------- action units


def _action_units(res: Results, run: dict, colours: dict) -> dict[str, Any] | None:
    """The Action units section (``run --poses``): each condition's mean change with its
    bootstrap CI, and which action units separate the conditions (None without them)."""
    from mouseface.expressions.action_units import au_changes, au_columns, au_separation
    from mouseface.features.action_units import unit_of
    from mouseface.io.poses import recorded_au_units

    t = res.trials
    if t is None or t.empty or not au_columns(t):
        return None
    # a scale's mm, from what the run recorded
    units = {c: unit_of(c) for c in au_columns(t)} | recorded_au_units(run)
    sep = au_separation(t)
    changes = au_changes(t)
    order = {a: i for i, a in enumerate(sep["action_unit"])}
    changes = changes.sort_values("action_unit", key=lambda c: c.map(order), kind="stable")
    conditions = list(dict.fromkeys(changes["condition"]))
    cells = {(r.action_unit, r.condition): r for r in changes.itertuples(index=False)}
    rows = []
    for r in sep.itertuples(index=False):
        unit = units.get(f"au_{r.action_unit}", "")
        row = [{"text": r.action_unit, "num": False, "cls": ""},
               {"text": "Δ ratio" if unit == "ratio" else unit, "num": False, "cls": ""}]
        for c in conditions:
            ch = cells.get((r.action_unit, c))
            text = "" if ch is None or not np.isfinite(ch.mean_change) else (
                f"{ch.mean_change:+.3g}" + (f" [{ch.ci_low:+.3g}, {ch.ci_high:+.3g}]"
                                            if np.isfinite(ch.ci_low) else ""))
            excludes_zero = ch is not None and np.isfinite(ch.ci_low) and (
                ch.ci_low > 0 or ch.ci_high < 0)
            row.append({"text": text, "num": True, "cls": "top" if excludes_zero else ""})
        row.append({"text": f"{r.epsilon_squared:.2f}" if np.isfinite(r.epsilon_squared)
                    else "", "num": True, "cls": ""})
        row.append({"text": format_p(r.p_value) if np.isfinite(r.p_value) else "",
                    "num": True, "cls": ""})
        row.append({"text": "" if r.best_condition is None else
                    f"{r.best_condition} ({r.best_auc:.2f})", "num": False, "cls": ""})
        rows.append(row)
    n_trials = int(changes.groupby("condition")["n"].max().sum())
    return {"changes": _img(figures.action_unit_changes_figure(changes, units, colours)),
            "auc": _img(figures.action_unit_auc_figure(sep, conditions)),
            "header": ["action unit", "unit", *conditions, "ε²", "p (Kruskal–Wallis)",
                       "best separated (AUC)"],
            "rows": rows, "n_trials": n_trials,
            "n_animals": int(changes["n_animals"].max()) if len(changes) else 0}


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _fmt(v: Any, digits: int | None = None) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, float | np.floating):
        if digits is not None:
            return f"{v:+.{digits}f}"
        return f"{v:g}"
    return str(v)


# ---------------------------------------------------------------------------- extras


def _css_width(png: bytes) -> int | None:
    """Display width (CSS px) that shows a PNG at the report's own scale (``figures.DPI``).

    Figures saved at 150 dpi would otherwise show 1.4 times larger than the report's own, text
    included. Uses the PNG's ``pHYs`` chunk (matplotlib writes it); None when absent.
    """
    import struct

    if len(png) < 24:
        return None
    width = struct.unpack(">I", png[16:20])[0]
    at = png.find(b"pHYs")
    if at < 0 or len(png) < at + 13:
        return None
    ppu, _, unit = struct.unpack(">IIB", png[at + 4:at + 13])
    if unit != 1 or ppu == 0:  # 1: pixels per metre
        return None
    dpi = ppu * 0.0254
    return max(1, round(width * figures.DPI / dpi))


_EXTRA_DIRS = (("registration", "Faces that line up"), ("analysis", "Expression analyses"),
               ("neural", "Neural correlates"), ("behaviour", "Spontaneous states"))
_JSON_LIMIT = 20_000


def _extras(results_dir: Path, res: Results | None = None,
            registration: dict[str, bytes] | None = None) -> list[dict[str, Any]]:
    """PNG figures and JSON summaries under ``registration/``, ``analysis/`` and ``neural/``,
    when they exist; the registration's QC figures drawn from its faces (handed over by the
    run, or ``registration/faces.npz``) and saved beside them: ``registration`` when
    :func:`draw_figures` drew them, else here."""
    out = []
    layout = ResultsLayout(results_dir)
    if registration is None:
        registration = _registration_figures(layout, res)
    for sub, heading in _EXTRA_DIRS:
        folder = getattr(layout, sub)
        drawn = registration if sub == "registration" else {}
        if not folder.is_dir() and not drawn:
            continue
        # the registration's QC figures drawn here: faces whose colours are the finding
        images = [{"src": _data_uri(data, exact=True), "caption": f"{sub}/{name}",
                   "title": Path(name).stem.replace("_", " "), "width": _css_width(data)}
                  for name, data in drawn.items()]
        for png in sorted(folder.rglob("*.png")) if folder.is_dir() else []:
            if png.name.startswith(".") or png.name in drawn:
                continue  # a temporary file of a writer still at work, or drawn just now
            data = png.read_bytes()
            if not data.startswith(b"\x89PNG"):
                continue
            rel = png.relative_to(results_dir)
            images.append({"src": _data_uri(data), "caption": str(rel),
                           "title": png.stem.replace("_", " "), "width": _css_width(data)})
        summaries = []
        handed = res.handed("registration") if res is not None and sub == "registration" \
            else None
        if handed:
            text = json.dumps({k: v for k, v in handed.items() if k not in ("table", "qc")},
                              indent=2)
            summaries.append({"name": str(layout.registration_summary.relative_to(
                results_dir)), "text": text})
        for js in sorted(folder.rglob("*.json")) if folder.is_dir() and not handed else []:
            if js.name.startswith("."):
                continue
            try:
                text = json.dumps(json.loads(js.read_text()), indent=2)
            except (OSError, ValueError):
                continue
            if len(text) > _JSON_LIMIT:
                text = text[:_JSON_LIMIT] + f"\n... ({len(text) - _JSON_LIMIT} more characters " \
                       f"in {js.relative_to(results_dir)})"
            summaries.append({"name": str(js.relative_to(results_dir)), "text": text})
        if images or summaries:
            out.append({"id": sub, "heading": heading, "images": images,
                        "summaries": summaries})
    return out


def encode_extras(results_dir: str | Path, folders: Sequence[str] = ("analysis", "neural",
                  "behaviour"), registration: Mapping[str, bytes] | None = None) -> None:
    """Work out ahead, in this process, how the report will embed the PNGs now under
    ``folders`` (of :data:`_EXTRA_DIRS`) and the registration's QC figures ``registration``
    (:func:`figures.web_image` remembers them): for a caller with a core to spare before the
    report is written."""
    layout = ResultsLayout(results_dir)
    for data in (registration or {}).values():
        figures.web_image(data, exact=True)
    for sub in folders:
        folder = getattr(layout, sub)
        for png in sorted(folder.rglob("*.png")) if folder.is_dir() else []:
            if png.name.startswith("."):
                continue
            data = png.read_bytes()
            if data.startswith(b"\x89PNG"):
                figures.web_image(data)


def _registration_figures(layout: ResultsLayout, res: Results | None) -> dict[str, bytes]:
    """QC figures of the registration (file name -> PNG), written into ``registration/``."""
    from mouseface.report.registration_figures import registration_qc

    handed = res.handed("registration") if res is not None else None
    groups = handed.get("qc") if handed else _load_qc_faces(layout.registration_faces)
    out = {}
    for g in groups or []:
        path = layout.registration_figure(str(g["name"]))
        out[path.name] = registration_qc(g["before"], g["after"], g["template"],
                                         path, names=list(g["names"]),
                                         title=str(g["title"]))
    return out


def _load_qc_faces(path: Path) -> list[dict] | None:
    if not path.is_file():
        return None
    with np.load(path, allow_pickle=False) as z:
        return [{"name": str(name), "title": str(title), "names": [str(x) for x in z[f"names_{k}"]],
                 "before": z[f"before_{k}"], "after": z[f"after_{k}"],
                 "template": z[f"template_{k}"]}
                for k, (name, title) in enumerate(zip(z["files"], z["titles"], strict=True))]


__all__ = ["SECTIONS", "add_drawn", "build_context", "draw_figures", "registration_figures",
           "render", "write_report"]
