"""A small results folder made by ``pipeline.run`` from real (generated) video files.

Two animals, one session each: 40 s at 10 fps of a 64x80 face-like texture, six 2-s stimuli
alternating ``pleasure`` (a bright disc grows on the left) and ``pain`` (a dark bar grows on
the right). 16-px HOG cells, so a run takes seconds. The report, overlay and NWB tests use it
so that they take the real path: videos to decode, feature stores, a per-animal model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

FPS = 10.0
N_FRAMES = 400
HEIGHT, WIDTH = 64, 80
ONSETS = [4.0, 10.0, 16.0, 22.0, 28.0, 34.0]
DURATION = 2.0
CONDITIONS = ["pleasure", "pain"]


def _frames(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.random((HEIGHT + 8, WIDTH + 8))
    k = np.ones(5) / 5
    for _ in range(2):
        base = np.apply_along_axis(np.convolve, 0, base, k, mode="same")
        base = np.apply_along_axis(np.convolve, 1, base, k, mode="same")
    base = base[4:-4, 4:-4]
    base = 60 + 120 * (base - base.min()) / (base.max() - base.min())
    yy, xx = np.mgrid[:HEIGHT, :WIDTH]
    disc = ((yy - 32) ** 2 + (xx - 20) ** 2 < 12 ** 2).astype(float)
    bar = ((abs(yy - 32) < 4) & (abs(xx - 58) < 14)).astype(float)
    t = np.arange(N_FRAMES) / FPS
    out = np.empty((N_FRAMES, HEIGHT, WIDTH), np.uint8)
    for i, ti in enumerate(t):
        img = base.copy()
        for j, onset in enumerate(ONSETS):
            if onset <= ti < onset + DURATION + 1.0:
                level = min((ti - onset) / 0.5, 1.0) * (1.0 if ti < onset + DURATION else 0.5)
                img += (70 * disc if CONDITIONS[j % 2] == "pleasure" else -50 * bar) * level
        img += rng.normal(0, 3, img.shape)
        out[i] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def make_tables(folder: Path) -> tuple[Path, Path]:
    """Write two videos, ``sessions.csv`` and ``events.csv`` into ``folder``."""
    from mouseface.io.video import write_video

    folder.mkdir(parents=True, exist_ok=True)
    sessions, events = [], []
    for a, animal in enumerate(["mA", "mB"]):
        session = f"{animal}_s1"
        video = write_video(folder / f"{session}.mp4", _frames(a), FPS)
        sessions.append({"session": session, "video": video.name, "animal": animal,
                         "roi": f"0,0,{WIDTH},{HEIGHT}", "fps": FPS})
        for j, onset in enumerate(ONSETS):
            events.append({"session": session, "onset": onset, "duration": DURATION,
                           "trial_type": CONDITIONS[j % 2], "intensity": 0.5 + 0.25 * (j // 2)})
    pd.DataFrame(sessions).to_csv(folder / "sessions.csv", index=False)
    pd.DataFrame(events).to_csv(folder / "events.csv", index=False)
    return folder / "sessions.csv", folder / "events.csv"


def make_results(folder: Path) -> Path:
    """Tables, videos and ``folder/results`` from ``pipeline.run``; returns the results."""
    from mouseface.settings import load_settings
    from mouseface.workflows import pipeline

    sessions, events = make_tables(folder / "data")
    settings = load_settings(hog={"pixels_per_cell": (16, 16)},
                             prototypes={"baseline": 2.0, "n_frames": 10})
    return pipeline.run(sessions, events, folder / "results", settings=settings, quiet=True)


def shared_results(tmp_path_factory) -> Path:
    """One results folder per test session (built on first use); treat it as read-only and
    copy it before changing it."""
    folder = tmp_path_factory.getbasetemp() / "mouseface_video_results"
    if not (folder / "results" / "run.json").is_file():
        make_results(folder)
    return folder / "results"


def with_poses_copy(results, tmp_path, *, irregular: bool = False):
    """A copy of ``results`` in ``tmp_path/results`` with session mA_s1's aligned poses
    (``poses/mA_s1.nc``, as ``run --poses`` writes them: the synthetic face's keypoints with
    label noise and 10 % lost, cleaned) and its ``au_<name>`` columns (pain during the first
    2 s of every 6 s, neutral otherwise); ``irregular`` moves the frames after 99 by 0.1 s.

    Returns the copy, the poses, the action units and the session's frames.
    """
    import json
    import shutil

    from mouseface.features.action_units import ActionUnits
    from mouseface.io.layout import ResultsLayout
    from mouseface.io.poses import clean_poses, position_array, write_session_poses
    from mouseface.synth.face import KEYPOINTS, face_keypoints, label_keypoints
    from mouseface.synth.poses import FaceKeypoints
    from mouseface.synth.states import state_actions

    copy = shutil.copytree(results, tmp_path / "results", ignore=shutil.ignore_patterns("nwb"))
    layout = ResultsLayout(copy)
    frames = pd.read_parquet(layout.frames)
    mine = (frames["session"] == "mA_s1").to_numpy()
    if irregular:
        frames.loc[mine & (frames["frame"] >= 100).to_numpy(), "time"] += 0.1
    f = frames[mine]
    n = len(f)
    state = np.where((f["time"].to_numpy() % 6) < 2, "pain", "neutral")
    clean = np.stack([face_keypoints(state_actions(s), size=(64, 80)) for s in state])
    xy, like = label_keypoints(clean, np.random.default_rng(0), noise_px=0.5, dropout=0.1)
    ds = FaceKeypoints(xy, like, KEYPOINTS, state, pd.DataFrame()).to_movement(fps=10.0)
    ds, _ = clean_poses(ds, min_likelihood=0.6, max_gap=2)
    pos, names = position_array(ds)
    au = ActionUnits().fit(pos[state == "neutral"], names)
    aus = au.transform(pos)
    for c in aus.columns:
        frames.loc[mine, c] = aus[c].to_numpy()
    frames.to_parquet(layout.frames)
    # what run --poses records of the animal's action units (their units, for the export)
    run = json.loads(layout.run_json.read_text())
    run["poses"] = {"animals": {"mA": {"roles": au.roles_, "units": au.units_}}}
    layout.run_json.write_text(json.dumps(run, default=str))
    layout.poses.mkdir(exist_ok=True)
    write_session_poses(layout.pose_file("mA_s1"), ds, time=f["time"].to_numpy(),
                        frame=f["frame"].to_numpy(), session="mA_s1",
                        roles=json.dumps({k: k for k in KEYPOINTS}))
    assert n == ds.sizes["time"]
    return copy, ds, aus, f
