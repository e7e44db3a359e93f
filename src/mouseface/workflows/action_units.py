"""``mouseface au POSES --out DIR``: facial action units per frame from a pose file.

The pose file is read through ``movement`` and cleaned (``[poses]`` settings: likelihood
threshold, longest gap filled), its keypoints mapped to roles (``[poses.roles]``, else by
name), the neutral learned from the neutral frames (``neutral``: time ranges in seconds;
default every frame, i.e. the session's median face) and every frame measured
(:class:`mouseface.features.action_units.ActionUnits`). With ``video``, the poses must have as
many frames as the video. Writes (paths from :class:`~mouseface.io.layout.ActionUnitsLayout`)
``action_units.csv``, ``action_units.json`` and ``action_units.png``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.features.action_units import ActionUnits
from mouseface.io import poses as _poses
from mouseface.io.layout import ActionUnitsLayout
from mouseface.settings import PoseSettings


def action_units(
    poses: str | Path,
    *,
    out: str | Path,
    settings: PoseSettings | None = None,
    video: str | Path | None = None,
    fps: float | None = None,
    individual: str | None = None,
    neutral: Sequence[tuple[float, float]] | None = None,
    figure: bool = True,
) -> dict[str, Any]:
    """Action units of every frame of one pose file (see the module).

    Parameters
    ----------
    poses : path
        A pose file :func:`mouseface.io.poses.read_poses` reads.
    out : path
        Folder to write into.
    settings : PoseSettings, optional
        Roles, likelihood threshold, longest gap, scale (``[poses]`` of the config).
    video : path, optional
        The video the poses were tracked on: its frame count must match; its frame rate is
        used when ``fps`` is not given.
    fps : float, optional
        Frame rate (time in seconds); else the file's or the video's, else frames.
    individual : str, optional
        The animal of a multi-animal file.
    neutral : list of (start, stop), optional
        Neutral time ranges in seconds (frames without a frame rate); default every frame.

    Raises
    ------
    InputError
        A bad pose file, keypoints matching no role, poses and video of different lengths,
        every point below the threshold, no frame in the neutral ranges.
    """
    cfg = settings or PoseSettings()
    path = Path(poses)
    n_video = None
    if video is not None:
        from mouseface.io.video import open_video

        reader = open_video(video)
        n_video = int(reader.n_frames)
        fps = fps or reader.fps
    ds = _poses.read_poses(path, fps=fps, individual=individual)
    ds = _poses.one_individual(ds, path)
    if n_video is not None:
        _poses.check_length(ds, n_video, path, video)
    clean, report = _poses.clean_poses(ds, min_likelihood=cfg.min_likelihood,
                                       max_gap=cfg.max_gap, path=path)
    pos, names = _poses.position_array(clean)
    rate = fps or ds.attrs.get("fps")
    time = np.arange(len(pos)) / float(rate) if rate else np.arange(len(pos), dtype=float)
    mask = np.ones(len(pos), bool)
    if neutral:
        mask = np.zeros(len(pos), bool)
        for start, stop in neutral:
            mask |= (time >= start) & (time < stop)
        if not mask.any():
            raise InputError(f"no frame in the neutral ranges {list(neutral)} (the poses span "
                             f"0-{time[-1]:g} {'s' if rate else 'frames'})", path)
    au = ActionUnits(roles=cfg.roles or None, mm_per_px=cfg.mm_per_px)
    try:
        au.fit(pos[mask], names)
    except (KeyError, ValueError) as exc:
        raise InputError(str(exc).strip("'\""), path) from None
    table = au.transform(pos)
    table.insert(0, "time", time)
    table.insert(0, "frame", np.arange(len(pos)))
    layout = ActionUnitsLayout(out)
    layout.root.mkdir(parents=True, exist_ok=True)
    with atomic_path(layout.table) as tmp:
        table.to_csv(tmp, index=False)
    files = [layout.table]
    if figure:
        files.append(_figure(table, au.units_, mask, layout.figure, bool(rate)))
    summary = {
        "poses": str(path), "video": None if video is None else str(video),
        "individual": str(ds["individuals"].values[0]), "frames": len(pos),
        "fps": float(rate) if rate else None, "roles": au.roles_, "facing": au.facing_,
        "units": au.units_, "neutral": au.neutral_,
        "neutral_frames": int(mask.sum()),
        "neutral_ranges": [list(r) for r in neutral] if neutral else "every frame",
        "cleaning": {"min_likelihood": clean.attrs["min_likelihood"], "max_gap": cfg.max_gap,
                     **_poses.summary(report),
                     "per_keypoint": json.loads(report.to_json(orient="records"))},
    }
    write_json(layout.summary, summary)
    files.append(layout.summary)
    return {**summary, "table": table, "files": [str(f) for f in files]}


def _figure(table, units: dict, neutral: np.ndarray, stem: Path, seconds: bool) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = [c for c in table.columns if c.startswith("au_")]
    fig, axes = plt.subplots(len(cols), 1, figsize=(10, 0.6 + 1.1 * len(cols)), sharex=True,
                             squeeze=False, layout="constrained")
    t = table["time"].to_numpy()
    for ax, col in zip(axes[:, 0], cols, strict=True):
        ax.plot(t, table[col].to_numpy(), lw=0.7, color="0.15")
        ax.axhline(1.0 if units[col] == "ratio" else 0.0, color="0.6", lw=0.6)
        ax.fill_between(t, 0, 1, where=neutral, color="tab:green", alpha=0.12,
                        transform=ax.get_xaxis_transform(), lw=0)
        ax.set_ylabel(f"{col.removeprefix('au_')}\n({units[col]})", fontsize=8)
    axes[-1, 0].set_xlabel("time (s)" if seconds else "frame")
    axes[0, 0].set_title("action units against the neutral (green: neutral frames)",
                         fontsize=9)
    out = stem.with_suffix(".png")
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, format="png")
    plt.close(fig)
    return out


__all__ = ["action_units"]
