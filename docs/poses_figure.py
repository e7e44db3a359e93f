"""Draw docs/poses.png: action units on real hand-labelled face keypoints and on the
synthetic states.

    python docs/poses_figure.py [OUT.png]

Left: the 12 hand-labelled keypoints of ``../shared/data/real/face_keypoints`` (both clips,
every labelled frame; the mouse looks left) with the geometry of the action units drawn on the
median face. Middle: each action unit over those frames against the clips' own median face
(label noise plus whatever the face did). Right: the synthetic states' known action units
(:func:`mouseface.synth.poses.action_unit_truth`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mouseface.features.action_units import ActionUnits  # noqa: E402
from mouseface.io import poses  # noqa: E402
from mouseface.synth.poses import action_unit_truth  # noqa: E402

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / \
    "face_keypoints"


def main(out: str) -> None:
    pos, names = [], None
    for clip in ("cam1_G7c1_1", "cam1_G7c1_2"):
        p, names = poses.position_array(poses.read_poses(REAL / clip / "CollectedData_AVS.h5"))
        pos.append(p)
    pos = np.concatenate(pos)
    au = ActionUnits()
    table = au.fit_transform(pos, names)
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(16, 5.2), layout="constrained",
                                  gridspec_kw={"width_ratios": [1.3, 1.2, 1.3]})
    med = np.nanmedian(pos, axis=0)
    P = {r: med[names.index(k)] for r, k in au.roles_.items()}
    colours = plt.cm.tab20(np.linspace(0, 1, len(names)))
    for i, n in enumerate(names):
        a.scatter(pos[:, i, 0], pos[:, i, 1], s=3, color=colours[i], alpha=0.5)
        a.annotate(n, med[i], xytext=(4, 4), textcoords="offset points", fontsize=7)

    def seg(p, q, style="k-", **kw):
        a.plot([p[0], q[0]], [p[1], q[1]], style, lw=1.2, **kw)

    seg(P["eye_top"], P["eye_bottom"])
    seg(P["eye_front"], P["eye_back"])
    centre = np.mean([P[r] for r in ("eye_top", "eye_bottom", "eye_front", "eye_back")], 0)
    seg(centre, P["nose_tip"], "k--")
    t = P["nose_tip"] - centre
    foot = centre + t * np.dot(P["nose_top"] - centre, t) / np.dot(t, t)
    seg(foot, P["nose_top"], "m-")
    w = np.array([P[r] for r in ("whisker_1", "whisker_2", "whisker_3")])
    wc = w.mean(0)
    _, _, vt = np.linalg.svd(w - wc)
    seg(wc - 40 * vt[0], wc + 40 * vt[0], "c-")
    seg(P["mouth"], P["lip"], "r-")
    a.set_aspect("equal")
    a.invert_yaxis()
    a.set_title(f"real hand labels: {len(pos)} frames, 12 keypoints\n"
                "eye height/width (black), nose bulge (magenta), whisker axis (cyan), mouth "
                "(red)", fontsize=9)
    a.set_xlabel("x (px)")
    a.set_ylabel("y (px)")

    cols = list(table.columns)
    data = [table[col].dropna().to_numpy() for col in cols]
    centred = [d - (1.0 if col == "au_eye_opening" else 0.0) for d, col in zip(data, cols,
                                                                                  strict=True)]
    scale = [np.nanpercentile(np.abs(d), 95) for d in centred]
    b.boxplot([d / s for d, s in zip(centred, scale, strict=True)], orientation="horizontal",
              tick_labels=[f"{col.removeprefix('au_')} ({au.units_[col]}; 95% |x| = "
                           f"{s:.2g})" for col, s in zip(cols, scale, strict=True)],
              showfliers=True, flierprops={"markersize": 2})
    b.axvline(0, color="0.5", lw=0.8)
    b.set_xlabel("action unit against the clips' median face, / its 95th percentile of |x|")
    b.set_title("spread over the real labelled frames\n(label noise + what the face did)",
                fontsize=9)
    b.tick_params(axis="y", labelsize=7)

    truth = action_unit_truth()
    show = ["au_eye_opening", "au_ear_angle", "au_nose_bulge", "au_whisker_angle",
            "au_mouth_opening"]
    m = truth[show].copy()
    m["au_eye_opening"] = m["au_eye_opening"] - 1
    norm = m / m.abs().max().replace(0, 1)
    c.imshow(norm.to_numpy(), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    for (i, j), v in np.ndenumerate(truth[show].to_numpy()):
        c.text(j, i, f"{0.0 if abs(v) < 1e-6 else v:.2g}", ha="center", va="center", fontsize=8)
    c.set_xticks(range(len(show)), [f"{s.removeprefix('au_')}\n({u})" for s, u in zip(
        show, ["ratio", "deg", "px", "deg", "px"], strict=True)], fontsize=7)
    c.set_yticks(range(len(truth)), truth.index)
    c.set_title("synthetic states: known action units (256-px face)", fontsize=9)
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(Path(__file__).with_name("poses.png")))
