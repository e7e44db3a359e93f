"""Prototypes that transfer to a new mouse: leave-one-mouse-out on the DER tail-shock videos.

For each of the three mice: prototypes from the other two (pooled), the left-out mouse scored
with only its own baseline frames as neutral. A trial's score is the mean similarity to the
500 uA prototype in [onset, onset + 2 s) minus the mean in the 2 s before onset; the number
is the AUC of >= 300 uA against <= 50 uA trials (12 against 12 per mouse).

Compared (every row on the same trials):

- ``naive``: the paper's prototypes pooled over the two mice (``PrototypeModel`` with
  ``groups``, raw HOG), as ``mouseface fit`` + ``score`` do today: on the raw crops and on
  registered crops.
- ``transfer``: :class:`~mouseface.expressions.transfer.TransferModel` (difference prototypes
  relative to each mouse's own neutral face, standardised by its baseline spread, all
  stimulus frames), on registered crops: the acceptance number. Variants: raw crops, no
  standardisation, the paper's 10 least-neutral frames, a 0 uA control, per-trial neutral,
  flagged frames left out of the prototypes, similarity (not translation) registration.
- ``within``: the per-mouse cross-fitted prototypes of ``mouseface run`` (raw crops), the
  ceiling the paper's method reaches when the mouse's own shocks are available.

Registration: every tile's reference face (mean of its baseline frames) is registered to a
template made from the training mice only (``mean_template`` of their tiles' references;
translation, or a similarity transform), on the head ROI grown by 12 px; the frames are
warped with that transform and then cut at the ROI.

The second part (``--synthetic``) is the synthetic acceptance: registration error against the
known head poses, and leave-one-animal-out trial classification of a simulated experiment
with per-animal faces and head offsets.

Usage (from the repository root; about 4 minutes on 2 cores the first time, HOGs and
registrations are cached in /tmp/mouseface_der_transfer)::

    python benchmarks/der_transfer.py [DATA] [OUT] [--synthetic]

DATA defaults to ../shared/data/real/der_videos, OUT to der_transfer/.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from mouseface import hog
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.similarity import similarity
from mouseface.expressions.transfer import TransferModel
from mouseface.expressions.trials import TrialFrames, crossfit_trial_scores
from mouseface.features.drift import estimate_shifts, reference_face
from mouseface.features.quality import quality_flags
from mouseface.features.similarity_fit import (
    alignment_score,
    estimate_similarity_transform,
    mean_template,
    transform_summary,
)
from mouseface.features.warp import expand_roi, warp_frames
from mouseface.io.video import open_video

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "real" / "der_videos"
CACHE = Path("/tmp/mouseface_der_transfer")
MOSAIC_W, MOSAIC_H, ROWS, COLS = 1400, 700, 5, 6
TILE_W, TILE_H = 233, 140
ROI = (8, 25, 80, 64)  # head ROI inside a tile (examples/der_videos_tables.py)
MARGIN = 12
FPS, ONSET, BASELINE, DURATION = 20.0, 41 / 20.0, 2.0, 2.0
HOG = {"orientations": 8, "pixels_per_cell": (8, 8)}


# ------------------------------------------------------------------------------ data


def load_tiles(data: Path) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Tiles per mouse (30, n_frames, 140, 233) uint8, shock of each tile (uA), frame times."""
    layout = pd.read_csv(data / "mosaic_layout.csv")
    tiles, time_ = {}, None
    for video in sorted(data.glob("*-der.mp4")):
        mouse = video.stem.split("-ECO_")[1].removesuffix("-der")
        with open_video(video) as reader:
            chunks = list(reader.iter_chunks(chunk_size=128))
        frames = np.concatenate([c.frames for c in chunks])
        time_ = np.concatenate([c.time for c in chunks])
        out = []
        for t in layout.itertuples(index=False):
            x, y = round(t.col * MOSAIC_W / COLS), round(t.row * MOSAIC_H / ROWS)
            out.append(frames[:, y:y + TILE_H, x:x + TILE_W])
        tiles[mouse] = np.stack(out)
    return tiles, layout["shock_uA"].to_numpy(), time_


def windows(time_: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the baseline and stimulus windows (same in every tile)."""
    base = (time_ >= ONSET - BASELINE - 1e-9) & (time_ < ONSET - 1e-9)
    stim = (time_ >= ONSET - 1e-9) & (time_ < ONSET + DURATION - 1e-9)
    return base, stim


def crop(frames: np.ndarray) -> np.ndarray:
    x, y, w, h = ROI
    return frames[..., y:y + h, x:x + w]


def registered_hogs(tiles, train, base, *, similarity_tf: bool) -> tuple[dict, dict]:
    """HOG of every mouse's tiles registered to a template from the ``train`` mice."""
    key = f"{'sim' if similarity_tf else 'trans'}_{'+'.join(train)}"
    path = CACHE / f"hog_{key}.npz"
    qc_path = CACHE / f"qc_{key}.npz"
    if path.is_file() and qc_path.is_file():
        z = np.load(path)
        q = np.load(qc_path, allow_pickle=True)
        return {m: z[m] for m in z.files}, {k: q[k] for k in q.files}
    kw = {"rotation": similarity_tf, "scale": similarity_tf}
    region = expand_roi(ROI, MARGIN, (TILE_H, TILE_W))
    refs = {m: np.stack([reference_face(t[base]) for t in tiles[m]]) for m in tiles}
    faces = [f for m in train for f in refs[m]]
    template, _ = mean_template(faces, roi=region, **kw)
    out, summary, before, after = {}, [], [], []
    for m, ts in tiles.items():
        hs = []
        for i, t in enumerate(ts):
            tf = estimate_similarity_transform(refs[m][i], template, roi=region, **kw)
            hs.append(hog(warp_frames(t, tf, ROI), **HOG))
            summary.append({"mouse": m, "tile": i,
                            **transform_summary(tf, (ROI[0] + ROI[2] / 2,
                                                         ROI[1] + ROI[3] / 2)),
                            "r_before": alignment_score(refs[m][i], template, None, ROI),
                            "r_after": alignment_score(refs[m][i], template, tf, ROI)})
            if i % 6 == 0:
                before.append(crop(refs[m][i]))
                after.append(warp_frames(refs[m][i], tf, ROI))
        out[m] = np.stack(hs)
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    qc = {"template": crop(template), "before": np.stack(before), "after": np.stack(after),
          "summary": np.array(json.dumps(summary))}
    np.savez(qc_path, **qc)
    return out, qc


def raw_hogs(tiles) -> dict:
    path = CACHE / "hog_raw.npz"
    if path.is_file():
        z = np.load(path)
        return {m: z[m] for m in z.files}
    out = {m: np.stack([hog(crop(t), **HOG) for t in ts]) for m, ts in tiles.items()}
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, **out)
    return out


# ------------------------------------------------------------------------------ scoring


def auc(scores: np.ndarray, ua: np.ndarray) -> float:
    keep = (ua >= 300) | (ua <= 50)
    return float(roc_auc_score(ua[keep] >= 300, scores[keep]))


def labels(ua: np.ndarray, base: np.ndarray, stim: np.ndarray, flags=None) -> np.ndarray:
    """Per-frame labels (30, n_frames): neutral, '<uA>uA' or ''; flagged frames ''."""
    y = np.full((len(ua), len(base)), "", dtype=object)
    y[:, base] = "neutral"
    for i, u in enumerate(ua):
        y[i, stim] = f"{u}uA"
    if flags is not None:
        y[flags] = ""
    return y.astype(str)


def trial_scores(sim: np.ndarray, base: np.ndarray, stim: np.ndarray) -> np.ndarray:
    """(30, n_frames) similarity -> score per trial (stimulus mean minus baseline mean)."""
    return sim[:, stim].mean(axis=1) - sim[:, base].mean(axis=1)


def naive(H, ua, base, stim, train, test) -> float:
    X = np.concatenate([H[m].reshape(-1, H[m].shape[-1]) for m in train])
    y = np.concatenate([labels(ua, base, stim).ravel() for _ in train])
    g = np.repeat(train, H[train[0]].shape[0] * H[train[0]].shape[1])
    model = PrototypeModel(n_frames=10).fit(X, y, groups=g)
    p = model.prototypes_[list(model.classes_).index("500uA")]
    n_t, n_f, d = H[test].shape
    sim = similarity(H[test].reshape(-1, d), p[None])[:, 0].reshape(n_t, n_f)
    return auc(trial_scores(sim, base, stim), ua)


def transfer(H, ua, base, stim, train, test, *, per_trial=False, flags=None, **params):
    X = np.concatenate([H[m].reshape(-1, H[m].shape[-1]) for m in train])
    fl = flags or {}
    y = np.concatenate([labels(ua, base, stim, fl.get(m)).ravel() for m in train])
    g = np.repeat(train, H[train[0]].shape[0] * H[train[0]].shape[1])
    model = TransferModel(**params).fit(X, y, groups=g)
    j = list(model.classes_).index("500uA")
    Ht = H[test]
    if per_trial:
        sim = np.stack([model.transform(h, baseline=h[base])[:, j] for h in Ht])
    else:
        ref = model.reference(Ht[:, base].reshape(-1, Ht.shape[-1]))
        sim = model.transform(Ht.reshape(-1, Ht.shape[-1]), baseline=ref)[:, j]
        sim = sim.reshape(Ht.shape[:2])
    return auc(trial_scores(sim, base, stim), ua)


def within(H, ua, base, stim, mouse) -> float:
    trials = [TrialFrames(i, f"{u}uA", H[mouse][i][base], H[mouse][i][stim])
              for i, u in enumerate(ua)]
    s, _ = crossfit_trial_scores(trials, n_frames=10)
    return auc(s.sort_index()["score_500uA"].to_numpy(), ua)


def der_quality(tiles, ua, base, stim) -> tuple[pd.DataFrame, dict]:
    """Quality flags of every tile (raw crops): rates per window and shock group."""
    rows, flags = [], {}
    t = np.arange(base.size) / FPS
    for m, ts in tiles.items():
        fm = []
        for i, tile in enumerate(ts):
            c = crop(tile)
            q = quality_flags(c, t, baseline=base, hog_params=HOG)
            q["mouse"], q["uA"] = m, ua[i]
            q["window"] = np.where(base, "baseline", np.where(stim, "stimulus", ""))
            rows.append(q)
            fm.append(q["flag"].to_numpy())
        flags[m] = np.stack(fm)
    q = pd.concat(rows, ignore_index=True)
    q["shock"] = np.where(q["uA"] >= 300, ">=300", np.where(q["uA"] <= 50, "<=50", "150"))
    cols = ["blurry", "dark", "saturated", "duplicate", "dropped", "occluded", "flag"]
    table = q[q["window"] != ""].groupby(["window", "shock"])[cols].mean().round(4)
    return table, flags


def der(data: Path, out: Path) -> dict:
    t0 = time.perf_counter()
    tiles, ua, time_ = load_tiles(data)
    mice = sorted(tiles)
    base, stim = windows(time_)
    raw = raw_hogs(tiles)
    qtable, flags = der_quality(tiles, ua, base, stim)
    rows, qc_rows = [], []
    for test in mice:
        train = [m for m in mice if m != test]
        trans, qc = registered_hogs(tiles, train, base, similarity_tf=False)
        simr, _ = registered_hogs(tiles, train, base, similarity_tf=True)
        rows.append({
            "test mouse": test,
            "within (own shocks, cross-fitted, raw)": within(raw, ua, base, stim, test),
            "naive pooled, raw crops": naive(raw, ua, base, stim, train, test),
            "naive pooled, registered": naive(trans, ua, base, stim, train, test),
            "transfer, raw crops": transfer(raw, ua, base, stim, train, test),
            "transfer, registered (default)": transfer(trans, ua, base, stim, train, test),
            "transfer, registered, per-trial neutral": transfer(
                trans, ua, base, stim, train, test, per_trial=True),
            "transfer, registered, not standardised": transfer(
                trans, ua, base, stim, train, test, standardize=False),
            "transfer, registered, 10 least-neutral frames": transfer(
                trans, ua, base, stim, train, test, n_frames=10),
            "transfer, registered, control 0uA": transfer(
                trans, ua, base, stim, train, test, control="0uA"),
            "transfer, registered, flagged frames out": transfer(
                trans, ua, base, stim, train, test, flags=flags),
            "transfer, similarity-registered": transfer(simr, ua, base, stim, train, test),
        })
        summary = pd.DataFrame(json.loads(str(qc["summary"])))
        qc_rows.append(summary.assign(test=test))
        if test == mice[0]:
            from mouseface.report.registration_figures import registration_qc

            names = [f"{m} tile {i}" for m in mice for i in range(0, 30, 6)]
            registration_qc(list(qc["before"]), list(qc["after"]), qc["template"],
                            out / "registration_qc.png", names=names, max_rows=15,
                            title=f"DER tiles onto a template from {', '.join(train)}")
    table = pd.DataFrame(rows).set_index("test mouse").T
    table["mean"] = table.mean(axis=1)
    regs = pd.concat(qc_rows)
    reg_table = regs.groupby(["test", "mouse"])[["dx", "dy", "r_before", "r_after"]].agg(
        ["mean", "std"]).round(2)
    return {"auc": table, "quality": qtable, "registration": reg_table,
            "seconds": round(time.perf_counter() - t0, 1)}


# ------------------------------------------------------------------------------ synthetic


def synthetic(out: Path) -> dict:
    """Registration error against known poses; held-out-animal trial classification."""
    from mouseface.expressions.windows import label_frames, window_index
    from mouseface.synth import Pose, make_animal, render_face, simulate_experiment

    t0 = time.perf_counter()
    # 1. registration against known poses (one face, many poses, sensor noise)
    rng = np.random.default_rng(0)
    size = (160, 160)
    centre = ((size[1] - 1) / 2, (size[0] - 1) / 2)
    errs, shifts = [], []
    for a in range(5):
        animal = make_animal(np.random.default_rng([7, a]))
        ref = render_face("neutral", 0.0, size=size, animal=animal, noise_std=2.5, rng=rng)
        for _ in range(8):
            dx, dy = rng.uniform(-4, 4, 2)
            rot = rng.uniform(-4, 4)
            img = render_face("neutral", 0.0, size=size, animal=animal, noise_std=2.5,
                              rng=rng, pose=Pose(dx, dy, rot))
            s = transform_summary(estimate_similarity_transform(
                img, ref, roi=(16, 16, 128, 128)), centre)
            errs.append([s["dx"] - dx, s["dy"] - dy, s["rotation_deg"] - rot])
        frames, truth = [], []
        for _ in range(40):
            d = rng.normal(0, 1.0, 2)
            frames.append(render_face("neutral", 0.0, size=size, animal=animal,
                                      noise_std=2.5, rng=rng, pose=Pose(d[1], d[0], 0.0)))
            truth.append(d)
        shifts.append(estimate_shifts(np.stack(frames), ref.astype(np.float32))
                      - np.array(truth))
    errs = np.abs(np.array(errs))
    shift_err = np.abs(np.concatenate(shifts))
    registration = {"pairs": len(errs), "max_shift_error_px": float(errs[:, :2].max()),
                    "max_rotation_error_deg": float(errs[:, 2].max()),
                    "drift_frames": len(shift_err),
                    "max_drift_error_px": float(shift_err.max())}

    # 2. held-out animals on a simulated experiment
    exp_dir = CACHE / "synthetic"
    if (exp_dir / "truth.parquet").is_file():
        sessions = pd.read_csv(exp_dir / "sessions.csv")
        events = pd.read_csv(exp_dir / "events.csv")
    else:
        exp = simulate_experiment(exp_dir, n_animals=4, seed=0, workers=2)
        sessions, events = exp.sessions, exp.events
    events = events.assign(event=np.arange(len(events)))
    hp = {"orientations": 8, "pixels_per_cell": (16, 16)}
    data = {}
    for row in sessions.itertuples(index=False):
        with open_video(exp_dir / row.video, fps=row.fps) as reader:
            chunks = list(reader.iter_chunks())
        frames = np.concatenate([c.frames for c in chunks])
        t = np.concatenate([c.time for c in chunks])
        ev = events[events.session == row.session]
        lab, _ = label_frames(t, ev, 2.0)
        data[row.session] = (row.animal, frames, t, ev, lab)
    animals = sorted(sessions.animal.unique())
    results = {}
    for registered in (False, True):
        rows = []
        for test in animals:
            train = [a for a in animals if a != test]
            hogs = {}
            template = None
            if registered:
                refs = {s: reference_face(d[1][d[4] == "neutral"])
                        for s, d in data.items()}
                template, _ = mean_template(
                    [refs[s] for s, d in data.items() if d[0] in train],
                    roi=(8, 8, 144, 144))
            for s, (_, frames, _, _, _) in data.items():
                if registered:
                    tf = estimate_similarity_transform(refs[s], template,
                                                           roi=(8, 8, 144, 144))
                    frames = warp_frames(frames, tf, None)
                hogs[s] = hog(frames, **hp)
            X = np.concatenate([hogs[s] for s, d in data.items() if d[0] in train])
            y = np.concatenate([d[4] for s, d in data.items() if d[0] in train])
            g = np.concatenate([np.full(len(d[4]), d[0]) for s, d in data.items()
                                if d[0] in train])
            model = TransferModel().fit(X, y, groups=g)
            pooled = PrototypeModel(n_frames=10).fit(X, y, groups=g)
            test_s = [s for s, d in data.items() if d[0] == test]
            ref = model.reference(np.concatenate([hogs[s][data[s][4] == "neutral"]
                                                  for s in test_s]))
            for s in test_s:
                _, _, t, ev, _ = data[s]
                sim_t = model.transform(hogs[s], baseline=ref)
                sim_p = pooled.transform(hogs[s])
                for e in ev.itertuples(index=False):
                    b = window_index(t, e.onset - 2.0, e.onset)
                    w = window_index(t, e.onset, e.onset + e.duration)
                    for name, sim, classes in (("transfer", sim_t, model.classes_),
                                               ("naive", sim_p, pooled.classes_)):
                        score = sim[w].mean(axis=0) - sim[b].mean(axis=0)
                        pred = classes[1:][np.argmax(score[1:])]
                        rows.append({"model": name, "animal": test, "trial": e.event,
                                     "true": e.trial_type, "pred": pred,
                                     "dose": getattr(e, "intensity", np.nan)})
        df = pd.DataFrame(rows)
        df["correct"] = df["true"] == df["pred"]
        results["registered" if registered else "raw"] = df
    acc = {k: v.groupby(["model", "animal"])["correct"].mean().unstack().round(3)
           for k, v in results.items()}
    overall = {k: v.groupby("model")["correct"].mean().round(3).to_dict()
               for k, v in results.items()}
    return {"registration": registration, "accuracy": acc, "overall": overall,
            "seconds": round(time.perf_counter() - t0, 1)}


def markdown(df: pd.DataFrame) -> str:
    """A DataFrame as a Markdown table (no tabulate needed)."""
    if not isinstance(df.index, pd.RangeIndex):
        names = [n or "" for n in df.index.names]
        df = df.reset_index(names=names)
    cols = [" ".join(str(p) for p in c if str(p)) if isinstance(c, tuple) else str(c)
            for c in df.columns]

    def fmt(v):
        return f"{v:.3f}" if isinstance(v, float | np.floating) else str(v)

    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    flags = [a for a in argv if a.startswith("--")]
    args = [a for a in argv if not a.startswith("--")]
    data = Path(args[0]) if args else DATA
    out = Path(args[1]) if len(args) > 1 else Path("der_transfer")
    out.mkdir(parents=True, exist_ok=True)
    report = {}
    if (data / "mosaic_layout.csv").is_file():
        r = der(data, out)
        print("## DER leave-one-mouse-out: AUC >= 300 uA vs <= 50 uA (500 uA prototype)\n")
        print(markdown(r["auc"]))
        print("\n## Quality flags on the DER crops (fraction of frames)\n")
        print(markdown(r["quality"]))
        print("\n## Registration (translation) of the tiles, per left-out mouse\n")
        print(markdown(r["registration"]))
        print(f"\n{r['seconds']} s")
        report["der"] = {"auc": r["auc"].round(4).to_dict(),
                         "quality": r["quality"].reset_index().to_dict(orient="records"),
                         "seconds": r["seconds"]}
    else:
        print(f"real data not found: {data}")
    if "--synthetic" in flags:
        s = synthetic(out)
        print("\n## Synthetic acceptance\n")
        print(json.dumps(s["registration"], indent=1))
        for k, v in s["accuracy"].items():
            print(f"\ntrial classification, held-out animals, {k} crops\n")
            print(markdown(v))
        print(json.dumps(s["overall"]))
        print(f"\n{s['seconds']} s")
        report["synthetic"] = {"registration": s["registration"], "overall": s["overall"],
                               "seconds": s["seconds"]}
    (out / "der_transfer.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main(sys.argv[1:])
