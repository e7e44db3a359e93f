"""Overlay video: the face crop with live similarity bars, for checking results by eye.

:func:`write_overlay` re-decodes one session's face crop from its video (the path, ROI and
frame rate the feature store recorded), draws beside every frame one bar per prototype and a
timeline of the session's stimuli with the current time, and encodes the result with
:func:`mouseface.io.video.write_video`: one output frame per input frame, at the input's rate.

:func:`read_crops` (frames by index, decoded run by run) serves the report's mean faces too.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface._progress import Reporter
from mouseface.expressions.windows import stimulus_window
from mouseface.io.layout import ResultsLayout
from mouseface.io.results import Results
from mouseface.io.store import FeatureStore
from mouseface.io.video import open_video, write_video

#: output height the crop is enlarged towards (by a whole factor, nearest neighbour)
TARGET_HEIGHT = 320
PANEL_WIDTH = 300


def session_source(results_dir: str | Path, session: str) -> dict:
    """Where a session's frames came from: ``video``, ``roi``, ``fps``, ``n_frames``.

    Read from ``features/<session>.zarr`` (the store records what it was made from).

    Raises
    ------
    InputError
        When the session has no feature store.
    """
    layout = ResultsLayout(results_dir)
    path = layout.store(session)
    if not path.exists():
        known = layout.stored_sessions()
        hint = f"; sessions: {', '.join(known[:10])}" if known else ""
        raise InputError(f"no session {session!r} (no features/{session}.zarr){hint}",
                         results_dir)
    attrs = FeatureStore(path).attrs
    roi = attrs.get("roi")
    return {"video": attrs.get("video"), "roi": tuple(roi) if roi is not None else None,
            "fps": attrs.get("fps"), "n_frames": attrs.get("n_frames"),
            "crop_shape": tuple(attrs.get("crop_shape") or ())}


def _runs(index: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Sorted frame indices grouped into ``[start, stop)`` runs with gaps of at most ``gap``."""
    runs: list[list[int]] = []
    for i in np.unique(index):
        if runs and i - runs[-1][1] <= gap:
            runs[-1][1] = int(i) + 1
        else:
            runs.append([int(i), int(i) + 1])
    return [(a, b) for a, b in runs]


def iter_frames(video: str | Path, roi, fps: float | None, index: Iterable[int], *,
                gap: int = 48) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(frame index, (h, w) uint8 crop)`` for the given frames, in frame order.

    Frames are decoded run by run (consecutive wanted frames closer than ``gap`` share a run;
    the reader seeks between runs). ``roi`` None gives whole frames. Frames past the end of
    the video are skipped.
    """
    index = np.asarray(list(index), dtype=np.int64)
    if not len(index):
        return
    wanted = set(index.tolist())
    with open_video(video, roi, fps) as reader:
        for start, stop in _runs(index, gap):
            for chunk in reader.iter_chunks(64, start=start, stop=stop):
                for i, frame in zip(chunk.index, chunk.frames, strict=True):
                    if int(i) in wanted:
                        yield int(i), frame


def read_crops(video: str | Path, roi, fps: float | None,
               index: Iterable[int], *, gap: int = 48) -> dict[int, np.ndarray]:
    """Grayscale face crops of the given frames: ``{frame index: (h, w) uint8}``.

    See :func:`iter_frames`; frames past the end of the video are absent.
    """
    return {i: f.copy() for i, f in iter_frames(video, roi, fps, index, gap=gap)}


# ---------------------------------------------------------------------------- drawing


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one bitmap size
        return ImageFont.load_default()


class _Painter:
    """Draws the panel of one session: static labels once, then bars per frame."""

    def __init__(self, crop_shape: tuple[int, int], names: list[str], sims: np.ndarray,
                 time: np.ndarray, events: pd.DataFrame):
        from matplotlib.colors import to_rgb
        from PIL import Image, ImageDraw

        from mouseface.report.analysis_figures import label_colours

        # the report's colours: a prototype's bar and a condition's stimuli in the timeline
        conditions = sorted(set(events["trial_type"].astype(str)) - set(names))
        self.colour = {k: tuple(round(255 * c) for c in to_rgb(v))
                       for k, v in label_colours([*names, *conditions]).items()}

        self.Image, self.ImageDraw = Image, ImageDraw
        h, w = crop_shape
        self.scale = max(1, TARGET_HEIGHT // max(h, 1))
        while w * self.scale > 640 and self.scale > 1:
            self.scale -= 1
        self.ch, self.cw = h * self.scale, w * self.scale
        self.margin = 6
        self.names = names
        self.time = time
        self.events = events
        self.font = _font(13)
        self.small = _font(11)
        n = max(len(names), 1)
        self.row = 30
        head = 28
        timeline = 40
        body = max(self.ch + 2 * self.margin, head + n * self.row + 8)
        self.H = _even(head + body + timeline)
        self.W = _even(self.cw + 2 * self.margin + PANEL_WIDTH)
        self.head, self.body = head, body
        self.crop_xy = (self.margin, head + self.margin)
        # per-prototype range: 1st-99th percentile of this session
        with np.errstate(all="ignore"):
            self.lo = np.nanpercentile(sims, 1, axis=0) if len(sims) else np.zeros(n)
            self.hi = np.nanpercentile(sims, 99, axis=0) if len(sims) else np.ones(n)
        self.lo = np.nan_to_num(self.lo)
        self.hi = np.nan_to_num(self.hi, nan=1.0)
        self.hi = np.where(self.hi > self.lo, self.hi, self.lo + 1e-6)
        self.t0 = float(time[0]) if len(time) else 0.0
        self.t1 = float(time[-1]) if len(time) else 1.0
        self.background = self._background()

    def _background(self):
        img = self.Image.new("RGB", (self.W, self.H), _gray(16))
        d = self.ImageDraw.Draw(img)
        d.text((self.margin, 7), "face crop", fill=_gray(200), font=self.font)
        x0 = self.cw + 2 * self.margin + 4
        d.text((x0, 7), "similarity r (bar: 1st to 99th percentile of session)",
               fill=_gray(200), font=self.small)
        for k, name in enumerate(self.names):
            y = self.head + 6 + k * self.row
            d.text((x0, y), name[:18], fill=self.colour.get(name, _gray(230)), font=self.small)
            d.rectangle((x0 + 100, y, self.W - 60, y + 14), outline=_gray(110), fill=_gray(40))
        # timeline of stimuli, each in its condition's colour
        ty = self.head + self.body + 6
        d.text((self.margin, ty + 19), "stimuli (coloured by condition) and now (white line)",
               fill=_gray(160), font=self.small)
        d.rectangle((self.margin, ty, self.W - self.margin, ty + 14), outline=_gray(90),
                    fill=_gray(30))
        for row in self.events.itertuples(index=False):
            a, b = (self._tx(x) for x in stimulus_window(row.onset, row.duration))
            d.rectangle((a, ty + 1, max(a + 1, b), ty + 13),
                        fill=self.colour.get(str(row.trial_type), _gray(110)))
        return img

    def _tx(self, t: float) -> int:
        span = max(self.t1 - self.t0, 1e-9)
        frac = min(max((t - self.t0) / span, 0.0), 1.0)
        return int(round(self.margin + frac * (self.W - 2 * self.margin)))

    def frame(self, crop: np.ndarray, t: float, index: int, sim: np.ndarray | None,
              stimulus: str | None) -> np.ndarray:
        img = self.background.copy()
        big = np.repeat(np.repeat(crop, self.scale, axis=0), self.scale, axis=1)
        img.paste(self.Image.fromarray(big).convert("RGB"), self.crop_xy)
        d = self.ImageDraw.Draw(img)
        x, y = self.crop_xy
        if stimulus is not None:
            for k in range(4):  # a bright frame around the crop while a stimulus is on
                d.rectangle((x - 1 - k, y - 1 - k, x + self.cw + k, y + self.ch + k),
                            outline=_gray(255))
            label = f"STIMULUS: {stimulus}"
            d.rectangle((x, y, x + 8 + 7 * len(label), y + 18), fill=_gray(255))
            d.text((x + 4, y + 2), label, fill=_gray(0), font=self.small)
        d.text((self.margin + 80, 7), f"t = {t:7.2f} s   frame {index}", fill=_gray(255),
               font=self.small)
        x0 = self.cw + 2 * self.margin + 4
        bar_x0, bar_x1 = x0 + 100, self.W - 60
        for k, name in enumerate(self.names):
            yy = self.head + 6 + k * self.row  # the bar's frame is in the background
            if sim is not None and np.isfinite(sim[k]):
                frac = float(np.clip((sim[k] - self.lo[k]) / (self.hi[k] - self.lo[k]), 0, 1))
                lit = stimulus is not None and name == stimulus  # its own stimulus: full colour
                c = self.colour.get(name, _gray(190))
                fill = c if lit else tuple(round(0.7 * v + 0.3 * 40) for v in c)
                d.rectangle((bar_x0, yy, bar_x0 + int(frac * (bar_x1 - bar_x0)), yy + 14),
                            fill=fill)
                d.text((bar_x1 + 5, yy), f"{sim[k]:+.3f}", fill=_gray(230), font=self.small)
        ty = self.head + self.body + 6
        cx = self._tx(t)
        d.line((cx, ty - 3, cx, ty + 17), fill=_gray(255), width=2)
        return np.asarray(img, dtype=np.uint8)


def _gray(v: int) -> tuple[int, int, int]:
    return (v, v, v)


def _even(n: int) -> int:
    return n + (n % 2)


# ---------------------------------------------------------------------------- the verb


def write_overlay(results_dir: str | Path, session: str, out: str | Path | None = None, *,
                  quiet: bool = True) -> Path:
    """Write an mp4 of a session's face crop with live similarity bars and stimuli marked.

    Parameters
    ----------
    results_dir
        A results folder (``mouseface run`` or ``score`` wrote it) with ``features/``.
    session
        The session id.
    out
        Output file; default ``results_dir/overlay/<session>.mp4``.
    quiet
        No progress bar.

    Returns
    -------
    Path
        The video written: one frame per decoded input frame, at the input's frame rate,
        H.264 (colour: the report's colours for prototypes and conditions).

    Raises
    ------
    InputError
        Unknown session, missing video, no similarity rows for the session.
    """
    results_dir = Path(results_dir)
    src = session_source(results_dir, session)
    if not src["video"] or not Path(src["video"]).exists():
        raise InputError(f"session {session!r}: its video {src['video']} is not there any more "
                         "(moved?): the overlay re-decodes the face crop from it", results_dir)
    res = Results(results_dir, require=("frames",))
    frames = res.frames[res.frames["session"] == str(session)]
    if frames.empty:
        raise InputError(f"session {session!r} has no rows in frames.parquet", results_dir)
    names = res.prototype_names
    sims = frames[[f"sim_{n}" for n in names]].to_numpy(dtype=float)
    by_frame = dict(zip(frames["frame"].to_numpy().astype(int), range(len(frames)),
                        strict=True))
    time = frames["time"].to_numpy(dtype=float)
    events = pd.DataFrame(columns=["onset", "duration", "trial_type"])
    if res.layout.trials.is_file():
        t = res.trials
        events = t[t["session"] == str(session)][["onset", "duration", "trial_type"]]
    onsets, ends = stimulus_window(events["onset"].to_numpy(dtype=float),
                                   events["duration"].to_numpy(dtype=float))
    kinds = events["trial_type"].astype(str).to_numpy()
    out = Path(out) if out is not None else res.layout.overlay_video(session)
    reader = open_video(src["video"], src["roi"], src["fps"])
    painter = _Painter(reader.crop_shape, names, sims, time, events)
    reporter = Reporter(quiet)

    def frames_out():
        task = reporter.task(f"overlay {session}", total=reader.n_frames)
        for chunk in reader.iter_chunks(128):
            for i, t, crop in zip(chunk.index, chunk.time, chunk.frames, strict=True):
                row = by_frame.get(int(i))
                on = np.flatnonzero((onsets <= t) & (t < ends))
                yield painter.frame(crop, float(t), int(i),
                                    None if row is None else sims[row],
                                    kinds[on[0]] if len(on) else None)
            task.advance(len(chunk.index))

    try:
        with reporter.live():
            # a video for the eye: the fastest x264 preset, still visually clean
            write_video(out, frames_out(), reader.fps, preset="ultrafast", crf=20)
    finally:
        reader.close()
    return out


__all__ = ["iter_frames", "read_crops", "session_source", "write_overlay"]
