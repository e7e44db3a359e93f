"""Registration of sessions: reference faces, templates, alignments, and the QC written to
``registration/``.

Templates (``scope``):

- ``"animal"`` (``run``): each animal's first session in the table; its other sessions are
  registered onto it. Per-animal prototypes need nothing more.
- ``"all"`` (``fit``): the mean face of every session, registered onto the first session (the
  model saves it, so that new animals are registered onto the same face).
- ``"model"`` (``score``): the saved model's template.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.features.alignment import (
    fill_masked,
    plan_alignments,
    reference_faces,
    template_face,
)
from mouseface.io.layout import ResultsLayout
from mouseface.workflows.settings import Settings


def _baseline_windows(events: pd.DataFrame, session: str, baseline: float) -> np.ndarray:
    ev = events[events["session"] == session]
    on = ev["onset"].to_numpy(dtype=np.float64)
    return np.column_stack([on - baseline, on]) if len(on) else np.empty((0, 2))


def _align(sessions, events, settings: Settings, reporter: Reporter, *, scope: str,
           align: str, template, model_path, regions):
    """Reference faces, templates and alignments of every session."""
    from mouseface.workflows.execute import _roi, by_video

    r = settings.registration
    groups = by_video(sessions)
    task = reporter.task("reference faces", total=len(groups), unit="videos")
    references: dict[str, np.ndarray] = {}
    for (video, fps), group in groups.items():
        windows = [_baseline_windows(events, g.session, settings.prototypes.baseline)
                   for g in group]
        try:
            faces = reference_faces(video, [_roi(g) for g in group], windows, margin=r.margin,
                                    fps=fps, chunk_size=settings.compute.chunk_size)
        except ValueError as exc:
            raise InputError(str(exc).removeprefix(f"{video}: "), video) from None
        references.update({g.session: f for g, f in zip(group, faces, strict=True)})
        task.advance()
    masks = {}
    if regions[0] or regions[1]:
        from mouseface.features.masks import region_pixels

        m = r.margin
        for s, f in references.items():
            h, w = f.shape[0] - 2 * m, f.shape[1] - 2 * m
            masks[s] = np.pad(region_pixels((h, w), *regions), m)
            references[s] = fill_masked(f, masks[s])
    shapes = {f.shape for f in references.values()}
    templates: dict[str, np.ndarray | None] = {}
    tmpl = None
    if r.template and scope != "model":
        if r.template not in references:
            raise InputError(f"registration.template: session {r.template!r} is not in the "
                             "sessions table", model_path)
        if len(shapes) > 1:
            raise InputError(f"sessions have ROIs of different sizes (regions {sorted(shapes)}):"
                             " one template needs one face size", model_path)
        tmpl = references[r.template]
        templates = {s: (None if s == r.template else tmpl) for s in references}
    elif scope == "animal":
        for _, srows in sessions.groupby("animal", sort=False):
            first = srows["session"].iloc[0]
            for s in srows["session"]:
                templates[s] = None if s == first else references[first]
    else:
        if len(shapes) > 1:
            raise InputError(f"sessions have ROIs of different sizes (regions {sorted(shapes)}):"
                             " one model needs one face size", model_path)
        if scope == "all":
            tmpl = template_face(list(references.values()), align)
        else:
            tmpl = template
            shape = next(iter(shapes))
            if tmpl is not None and tmpl.shape != shape:
                raise InputError(f"the model's template is {tmpl.shape} (ROI plus margin) but "
                                 f"these sessions give {shape}: use ROIs of the model's size",
                                 model_path)
        templates = dict.fromkeys(references, tmpl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            alignments = plan_alignments(references, templates, margin=r.margin, align=align,
                                         drift=r.drift, masks=masks)
        except ValueError as exc:
            raise InputError(str(exc), model_path) from None
    own = {s: (t if t is not None else references[s]) for s, t in templates.items()}
    return alignments, tmpl, references, own


def _registration_table(sessions, references, templates, alignments, settings) -> pd.DataFrame:
    from mouseface.features.registration import alignment_score

    m = settings.registration.margin
    rows = []
    for row in sessions.itertuples(index=False):
        s = row.session
        a = alignments[s]
        ref = references[s]
        h, w = ref.shape[0] - 2 * m, ref.shape[1] - 2 * m
        roi = (m, m, w, h)
        t = a.transform()
        meta = a.meta((h, w))
        rows.append({"session": s, "animal": row.animal,
                     "rotation_deg": meta["rotation_deg"], "scale": meta["scale"],
                     "dx": meta["dx"], "dy": meta["dy"],
                     "r_before": alignment_score(ref, templates[s], None, roi),
                     "r_after": alignment_score(ref, templates[s], t, roi)})
    return pd.DataFrame(rows)


def _write_registration(out: Path, sessions, references, templates, alignments, settings,
                        drift: dict[str, pd.DataFrame], *, per_animal: bool) -> None:
    """``registration/sessions.csv`` and a before/after QC figure per template
    (``qc_<animal>.png`` for per-animal templates, else ``qc.png``)."""
    from mouseface._atomic import atomic_path, write_json
    from mouseface.features.registration import warp_frames
    from mouseface.report.registration_figures import registration_qc

    layout = ResultsLayout(out)
    folder = layout.registration
    folder.mkdir(parents=True, exist_ok=True)
    t = _registration_table(sessions, references, templates, alignments, settings)
    for col in ("shift_median", "shift_max", "large_shift_frames"):
        t[col] = np.nan
    for i, s in enumerate(t["session"]):
        d = drift.get(s)
        if d is not None and len(d):
            t.loc[i, "shift_median"] = float(np.nanmedian(d["shift"]))
            t.loc[i, "shift_max"] = float(np.nanmax(d["shift"]))
            t.loc[i, "large_shift_frames"] = int(d["large_shift"].sum())
    with atomic_path(layout.registration_table) as tmp:
        t.round(4).to_csv(tmp, index=False)
    r = settings.registration
    write_json(layout.registration_summary, {
        "align": r.resolved("animal" if per_animal else "all"), "drift": r.drift,
        "margin": r.margin, "template": _template_text(r, per_animal), "sessions": len(t),
        "largest_offset_px": round(float(np.hypot(t["dx"], t["dy"]).max()), 3),
        "largest_rotation_deg": round(float(t["rotation_deg"].abs().max()), 3),
        "worst_r_after": round(float(t["r_after"].min()), 3),
        "median_drift_px": round(float(np.nanmedian(t["shift_median"])), 3)
        if t["shift_median"].notna().any() else None,
        "large_shift_frames": int(t["large_shift_frames"].sum())
        if t["large_shift_frames"].notna().any() else 0,
        "per_session": "registration/sessions.csv"})
    m = r.margin
    groups = ([list(g["session"]) for _, g in sessions.groupby("animal", sort=False)]
              if per_animal else [list(sessions["session"])])
    for names in groups:
        ref0 = references[names[0]]
        h, w = ref0.shape[0] - 2 * m, ref0.shape[1] - 2 * m
        roi = (m, m, w, h)
        before = [references[s][m:m + h, m:m + w] for s in names]
        after = [warp_frames(references[s], alignments[s].transform(), roi) for s in names]
        tmpl = templates[names[0]][m:m + h, m:m + w]
        animal = sessions.set_index("session").loc[names[0], "animal"]
        name = f"qc_{animal}.png" if per_animal else "qc.png"
        registration_qc(before, after, tmpl, folder / name, names=names,
                        title=f"animal {animal}: sessions onto its first" if per_animal
                        else f"reference faces onto the template ({len(names)} sessions)")


def _template_text(r, per_animal: bool) -> str:
    if r.template:
        return f"session {r.template}"
    return "each animal's first session" if per_animal else "the mean face of the sessions"


