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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.features.alignment import Alignment, fill_masked, template_face
from mouseface.features.face_setup import FaceSetup
from mouseface.io.layout import ResultsLayout


@dataclass
class RegistrationPlan:
    """How every session's frames line up.

    Attributes
    ----------
    alignments
        Session -> its :class:`~mouseface.features.alignment.Alignment`.
    template
        The template face of a model (``fit``, ``score``); None in ``run``.
    references
        Session -> its reference face (masked pixels filled).
    templates
        Session -> the face it was registered onto (its own for a template session).
    """

    alignments: dict[str, Alignment]
    template: np.ndarray | None
    references: dict[str, np.ndarray]
    templates: dict[str, np.ndarray]


def plan_registration(sessions: pd.DataFrame, references: dict[str, np.ndarray],
                      fills: dict[str, np.ndarray | None], setup: FaceSetup, *, scope: str,
                      template_session: str = "", template: np.ndarray | None,
                      path: Path) -> RegistrationPlan:
    """Templates and alignments of every session from their reference faces (see module).

    ``fills`` are each session's masked pixels over its region (None: no mask);
    ``template_session`` a session whose face is every session's template
    (``registration.template``); ``template`` the saved model's template (``scope="model"``).
    """
    references = {s: fill_masked(f, fills.get(s)) for s, f in references.items()}
    shapes = {f.shape for f in references.values()}
    templates: dict[str, np.ndarray | None] = {}
    tmpl = None
    if template_session and scope != "model":
        if template_session not in references:
            raise InputError(f"registration.template: session {template_session!r} is not in "
                             "the sessions table", path)
        tmpl = references[template_session]
        templates = {s: (None if s == template_session else tmpl) for s in references}
    elif scope == "animal":
        for _, srows in sessions.groupby("animal", sort=False):
            first = srows["session"].iloc[0]
            for s in srows["session"]:
                templates[s] = None if s == first else references[first]
    else:
        if scope == "all":
            tmpl = template_face(list(references.values()), setup.align)
        else:
            tmpl = template
            setup.check_template(tmpl, next(iter(shapes)), path)
        templates = dict.fromkeys(references, tmpl)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            alignments = setup.alignments(references, templates, fills)
        except ValueError as exc:
            raise InputError(str(exc), path) from None
    own = {s: (t if t is not None else references[s]) for s, t in templates.items()}
    return RegistrationPlan(alignments, tmpl, references, own)


def _registration_table(sessions, plan: RegistrationPlan, settings) -> pd.DataFrame:
    from mouseface.features.similarity_fit import alignment_score

    m = settings.registration.margin
    rows = []
    for row in sessions.itertuples(index=False):
        s = row.session
        a = plan.alignments[s]
        ref = plan.references[s]
        h, w = ref.shape[0] - 2 * m, ref.shape[1] - 2 * m
        roi = (m, m, w, h)
        t = a.transform()
        meta = a.meta((h, w))
        before = alignment_score(ref, plan.templates[s], None, roi)
        # no transform (the session is its template's, or align = none): the same score
        after = before if t is None else alignment_score(ref, plan.templates[s], t, roi)
        rows.append({"session": s, "animal": row.animal,
                     "rotation_deg": meta["rotation_deg"], "scale": meta["scale"],
                     "dx": meta["dx"], "dy": meta["dy"], "r_before": before, "r_after": after})
    return pd.DataFrame(rows)


def write_registration(out: Path, sessions, plan: RegistrationPlan, settings,
                       drift: dict[str, pd.DataFrame], *, per_animal: bool) -> dict:
    """``registration/sessions.csv``, ``summary.json`` and ``faces.npz`` (each template group's
    reference faces before and after registration, and its template: what the report's QC
    figures draw); returns the summary with the table under ``"table"`` and the faces under
    ``"qc"`` (what the report takes in memory)."""
    from mouseface._atomic import atomic_path, write_json
    from mouseface.features.warp import warp_frames

    layout = ResultsLayout(out)
    folder = layout.registration
    folder.mkdir(parents=True, exist_ok=True)
    t = _registration_table(sessions, plan, settings)
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
    align = r.resolved("animal" if per_animal else "all")
    summary = {
        "align": align, "drift": r.drift, "drift_every": r.drift_every,
        "margin": r.margin, "template": _template_text(r, per_animal), "sessions": len(t),
        "largest_offset_px": round(float(np.hypot(t["dx"], t["dy"]).max()), 3),
        "largest_rotation_deg": round(float(t["rotation_deg"].abs().max()), 3),
        "worst_r_after": round(float(t["r_after"].min()), 3),
        "median_drift_px": round(float(np.nanmedian(t["shift_median"])), 3)
        if t["shift_median"].notna().any() else None,
        "large_shift_frames": int(t["large_shift_frames"].sum())
        if t["large_shift_frames"].notna().any() else 0,
        "per_session": str(layout.registration_table.relative_to(layout.root)),
        "note": _note(align, per_animal, r.drift)}
    write_json(layout.registration_summary, summary)
    m = r.margin
    groups = ([list(g["session"]) for _, g in sessions.groupby("animal", sort=False)]
              if per_animal else [list(sessions["session"])])
    animal_of = dict(zip(sessions["session"], sessions["animal"], strict=True))
    moved = "" if align != "none" else " (not aligned: align = none; drift only)"

    def inner(face):
        return face[m:face.shape[0] - m, m:face.shape[1] - m]

    qc = []
    for names in groups:
        animal = animal_of[names[0]]
        qc.append({
            "name": layout.registration_qc(animal if per_animal else None).stem,
            "names": names,
            "before": np.stack([inner(plan.references[s]) for s in names]),
            "after": np.stack([warp_frames(plan.references[s], plan.alignments[s].transform(),
                                           (m, m, *inner(plan.references[s]).shape[::-1]))
                               for s in names]),
            "template": inner(plan.templates[names[0]]),
            "title": (f"animal {animal}: sessions onto its first{moved}" if per_animal
                      else f"reference faces onto the template ({len(names)} sessions){moved}")})
    save_qc_faces(layout.registration_faces, qc)
    return {**summary, "table": t, "qc": qc}


def save_qc_faces(path: Path, qc: list[dict]) -> None:
    """The QC faces in one ``.npz`` (no pickles): ``group_<k>_{before,after,template}`` and
    the names, titles and file names as string arrays."""
    from mouseface._atomic import atomic_path

    arrays = {"files": np.array([g["name"] for g in qc]),
              "titles": np.array([g["title"] for g in qc])}
    for k, g in enumerate(qc):
        arrays[f"names_{k}"] = np.array(g["names"])
        for part in ("before", "after", "template"):
            arrays[f"{part}_{k}"] = np.asarray(g[part], np.float32)
    # uncompressed: float faces barely compress (-16 %), at 80 ms of CPU per 400-px face
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)


def _note(align: str, per_animal: bool, drift: bool) -> str:
    """What the registration did, in words (the report shows it with the QC figures)."""
    if align == "none":
        within = "each session's frames are lined up on its own reference face (drift)" \
            if drift else "frames are not moved"
        return ("sessions are not aligned onto a template (align = none"
                + (": `run` keeps each animal's camera placement, so 'after' equals 'before'"
                   if per_animal else "") + f"); {within}")
    return (f"each session's reference face is moved onto its template by a {align}; "
            + ("each frame's drift is undone too" if drift else "frames do not drift-correct"))


def _template_text(r, per_animal: bool) -> str:
    if r.template:
        return f"session {r.template}"
    return "each animal's first session" if per_animal else "the mean face of the sessions"


