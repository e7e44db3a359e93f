"""A fitted model applied frame by frame: the one code path of ``mouseface live`` and of a lab's
own loop.

:class:`LiveReadout` loads a model folder written by ``mouseface fit`` (or ``run``) and turns
camera frames into expression strengths, one frame at a time::

    readout = LiveReadout("model", roi=(x, y, w, h))
    readout.calibrate(quiet_frames, times)   # (n, H, W) uint8: the animal's quiet baseline
    reading = readout.update(frame, time)    # (H, W) uint8 -> Reading
    reading["pain"], reading.flag

One code path. Each frame is read at its region (the ROI grown by the registration margin) and
goes through the one-pass engine's per-frame processor, the same object the offline pass feeds
(:class:`~mouseface.features.facepass.FacePass`: mask fill, drift against the session's reference
face, one warp onto the model's template, HOG, quality measures), in one call,
:meth:`FacePass.push`. The mask's HOG entries are dropped and the model itself gives the
similarity to every prototype (``PrototypeModel.transform`` or ``TransferModel.transform``).
Live drift is causal: it is measured on every frame (``drift_every = 1``), where the offline pass
may interpolate between every k-th frame. Replaying a video through it gives ``score``'s
similarities (to 1e-6; ``tests/integration/test_live.py``) when ``score`` measures drift on every
frame and is given a baseline window made of the calibration frames.

Calibration is what ``score`` learns from a session's baseline windows, built by the same library
calls: the reference face and the frames that calibrate the pass
(:meth:`~mouseface.features.alignment.Baseline.from_frames` of the earliest 200 calibration
frames), the transform onto the template (:func:`~mouseface.features.alignment.plan_alignments`),
the pass's neutral HOG and occlusion reference (:func:`~mouseface.features.facepass.calibrate`),
and the animal's own neutral face (pooled and per-animal models replace their neutral prototype
with the mean calibration HOG; transfer models take every frame relative to it). Flagged
calibration frames stay out of the neutral face, as offline. A calibration is saved with
:meth:`LiveReadout.save_reference` and read back by a later session of the same animal with
:meth:`LiveReadout.load_reference`.

Grades. A model with expression axes (``axes.npy`` of ``mouseface fit``) also grades every frame
on each condition's axis (``Reading.grades``, ``grade_<c>`` as ``score`` writes it): the frame's
HOG minus the calibration frames' mean, projected on the axis, in units of the calibration
frames' spread along it (:meth:`~mouseface.expressions.intensity.ExpressionAxis.scaled`, as
``score`` scales an axis to a new animal's baseline windows).

Per frame, numpy only: the prototypes are standardised once
(:meth:`~mouseface.expressions.animal_model.AnimalModel.prepared`, the model's own transform to the
last bit), the grade is one matrix product, and the quality and drift columns are plain numbers;
no table and no scikit-learn check is built per frame.

The quality flag is causal: the pass measures every frame as it arrives; the HOG outlier score is
judged against the calibration frames' spread, ``blurry`` against their median blur and
``dropped`` against their frame interval (offline, ``blurry`` and ``dropped`` look at the whole
session).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface.expressions.animal_model import AnimalModel, prototypes_for
from mouseface.expressions.intensity import ExpressionAxis
from mouseface.expressions.transfer import BaselineMoments, NeutralReference
from mouseface.features.alignment import (
    REFERENCE_FRAMES,
    Alignment,
    Baseline,
    Region,
    region_of,
)
from mouseface.features.drift import drift_columns
from mouseface.features.face_setup import FaceSetup
from mouseface.features.facepass import (
    MEASURES,
    FaceFrames,
    FacePass,
    FaceSpec,
    PassCalibration,
)
from mouseface.features.hog import hog_shape
from mouseface.features.quality import OcclusionReference
from mouseface.io.layout import ModelFiles
from mouseface.io.model import load_array, load_model
from mouseface.io.tables import check_roi, parse_regions
from mouseface.settings import Settings, settings_from_dict

__all__ = ["LiveCalibration", "LiveReadout", "Reading", "QUALITY_COLUMNS", "DRIFT_COLUMNS",
           "one_core"]

QUALITY_COLUMNS = ("motion_energy", "blur", "blurry", "dark", "saturated", "duplicate",
                   "dropped", "occlusion", "hog_z", "occluded", "large_shift", "flag")
DRIFT_COLUMNS = ("shift_y", "shift_x", "shift")
_FLAGS = ("blurry", "dark", "saturated", "duplicate", "dropped", "occluded", "large_shift")
_REFERENCE_FORMAT = 3  # 3: the expression-axis grades' neutral face and unit
_THREADPOOLS = None
_HELD = threading.local()  # depth of one_core in this thread


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Numba (in this thread) and BLAS held to one thread, as every frame is read out.

    One frame is too little work for their thread pools: on two cores, with a grabber thread
    decoding beside it, Numba's and OpenBLAS's threads wait for each other busily and a frame
    costs many times more. Entering costs about 50 microseconds; inside it, entering again
    costs nothing, so a loop that holds it (``run_live`` holds it for the whole session) does
    not pay it on every frame.
    """
    global _THREADPOOLS
    if getattr(_HELD, "depth", 0):
        _HELD.depth += 1
        try:
            yield
        finally:
            _HELD.depth -= 1
        return
    import numba
    from threadpoolctl import ThreadpoolController

    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with _THREADPOOLS.limit(limits=1):
            _HELD.depth = 1
            try:
                yield
            finally:
                _HELD.depth = 0
    finally:
        numba.set_num_threads(before)


@dataclass(frozen=True)
class Reading:
    """What one frame gave.

    Attributes
    ----------
    time
        The frame's time (seconds from the source's first frame), as given to ``update``.
    names
        The prototypes, ``neutral`` first.
    similarity
        Expression strength per prototype (Pearson r, float64), in ``names`` order.
    flag
        The frame failed a quality test (see ``quality``): do not act on it.
    shift
        The frame's drift ``(dy, dx)`` in pixels against the reference face; None without drift
        correction.
    quality
        The quality and drift columns of ``frames.parquet`` for this frame.
    grade_names
        The conditions graded (the model's expression axes; empty for a model without them).
    grades
        The frame's grade on each condition's axis (float64, ``grade_names`` order): its
        projection from the animal's neutral face onto the neutral -> condition axis, in
        standard deviations of the calibration frames along it (``grade_<c>`` of ``score``).
    """

    time: float | None
    names: tuple[str, ...]
    similarity: np.ndarray
    flag: bool
    shift: tuple[float, float] | None = None
    quality: dict = field(default_factory=dict)
    grade_names: tuple[str, ...] = ()
    grades: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __getitem__(self, name: str) -> float:
        try:
            return float(self.similarity[self.names.index(name)])
        except ValueError:
            raise KeyError(f"no prototype {name!r}; the model has {list(self.names)}") from None

    def grade(self, condition: str) -> float:
        """The frame's grade on ``condition``'s expression axis (see ``grades``)."""
        try:
            return float(self.grades[self.grade_names.index(condition)])
        except ValueError:
            raise KeyError(f"no expression axis {condition!r}; the model grades "
                           f"{list(self.grade_names)}") from None

    def as_dict(self) -> dict[str, float]:
        """``{prototype: strength}``."""
        return {n: float(v) for n, v in zip(self.names, self.similarity, strict=True)}


@dataclass(frozen=True)
class _Saved:
    """What a model folder holds, as ``score`` reads it."""

    path: Path
    mode: str
    names: list[str]
    prototypes: np.ndarray  # full HOG length, NaN in masked entries
    settings: dict  # as model.json keeps them (the run record repeats them)
    parsed: Settings
    feature_shape: tuple[int, ...]
    crop_shape: tuple[int, ...]
    template: np.ndarray | None
    regions: tuple[list, list]
    fingerprint: str
    axes: np.ndarray | None = None  # the expression axes (full HOG length), `fit`'s axes.npy
    axis_names: tuple[str, ...] = ()

    @property
    def axes_fingerprint(self) -> str | None:
        """A digest of the axes: a reference file's grade unit belongs to these axes."""
        if self.axes is None:
            return None
        return hashlib.blake2b(np.ascontiguousarray(self.axes).tobytes(),
                               digest_size=12).hexdigest()


def _load(path: str | Path, animal: str | None) -> _Saved:
    path = Path(path)
    saved, meta = load_model(path)
    names, protos = prototypes_for(saved, animal, path)
    settings = meta.get("settings", {})
    parsed = settings_from_dict(settings, ModelFiles(path).meta)
    try:
        regions = parse_regions(meta.get("mask_regions", ""))
    except ValueError as exc:
        raise InputError(f"model.json: mask_regions: {exc}", path) from None
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps([meta.get("names"), meta.get("settings")], sort_keys=True).encode())
    h.update(np.ascontiguousarray(protos).tobytes())
    axes = load_array(path, "axes")  # models fitted before the axes (and `run`'s) have none
    axis_names = tuple(str(c) for c in meta.get("axis_names") or ())
    if axes is not None and (axes.ndim != 2 or len(axes) != len(axis_names)
                             or axes.shape[1] != protos.shape[1]):
        raise InputError(f"axes.npy {axes.shape} does not match model.json's axis_names "
                         f"{list(axis_names)} and {protos.shape[1]} HOG entries: copy the "
                         "model folder again", path)
    return _Saved(path, meta.get("mode", "pooled"), names, protos, settings, parsed,
                  tuple(meta["feature_shape"]), tuple(meta.get("crop_shape") or ()),
                  load_array(path, "template"), regions, h.hexdigest(),
                  axes, axis_names if axes is not None else ())


class LiveReadout:
    """A fitted model applied frame by frame (see the module notes).

    Parameters
    ----------
    model : str or Path
        A model folder from ``mouseface fit`` (or a results folder of ``run``; then ``animal``
        picks whose prototypes).
    roi : (x, y, w, h) or str, optional
        The face in the camera frame; its size must be the model's crop size. Default: the
        whole frame.
    animal : str, optional
        For per-animal models (``run``): the animal whose prototypes score the frames.

    Attributes
    ----------
    names_ : tuple of str
        The prototypes, ``neutral`` first.
    grade_names_ : tuple of str
        The conditions whose expression axis grades every frame (``Reading.grades``): the
        model's axes (``axes.npy`` of ``mouseface fit``); empty for a model without them.
    mode_ : str
        ``"transfer"``, ``"pooled"`` or ``"per-animal"``.
    pass_ : FacePass
        The per-frame processor (after :meth:`calibrate` or :meth:`load_reference`).
    calibration_ : dict
        What calibrated the readout: frames, flagged frames, seconds (or the reference file).

    Examples
    --------
    >>> readout = LiveReadout("results/model", roi=(40, 20, 128, 128))  # doctest: +SKIP
    >>> readout.calibrate(baseline_frames, baseline_times)             # doctest: +SKIP
    >>> readout.update(frame, time)["pain"]                            # doctest: +SKIP
    0.41
    """

    def __init__(self, model: str | Path, *, roi: Sequence[int] | str | None = None,
                 animal: str | None = None):
        self.model = model
        self.roi = roi
        self.animal = animal

    # ------------------------------------------------------------------ setup

    @property
    def saved_(self) -> _Saved:
        if not hasattr(self, "_saved"):
            self._saved = _load(self.model, self.animal)
        return self._saved

    def setup(self, frame_shape: tuple[int, int], source: str | Path | None = None) -> None:
        """Fix the source's frame size: check the ROI against it and against the model.

        Called by :meth:`calibrate`, :meth:`load_reference` and ``mouseface live`` once the
        source's first frame is known. Raises :class:`~mouseface._errors.InputError` (one line)
        when the ROI leaves the frame or its size does not fit the model's HOG. Then loads
        every Numba kernel a frame may need (:meth:`~mouseface.features.face_setup.FaceSetup.
        load_kernels`; compiled on a first run, a second process beside): else the first
        frame far from neutral would wait for its kernel, seconds in the middle of a stream.
        """
        s = self.saved_
        frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        x, y, w, h = roi = check_roi(self.roi, frame_shape, source)
        # as `score` sets up a session of this model; without a template nothing is aligned
        face = FaceSetup.from_settings(s.parsed, scope="model", regions=s.regions,
                                       align="none" if s.template is None else None)
        hp = face.hog_params
        why, n = "", None
        try:
            n = int(np.prod(hog_shape((h, w), **{k: hp[k] for k in (
                "orientations", "pixels_per_cell", "cells_per_block")})))
        except ValueError as exc:
            why = f" ({exc})"
        if (s.crop_shape and tuple(s.crop_shape) != (h, w)) or n != int(np.prod(s.feature_shape)):
            fitted = (f"{s.crop_shape[1]} x {s.crop_shape[0]} (width x height)" if s.crop_shape
                      else f"crops whose HOG has {int(np.prod(s.feature_shape))} entries")
            cell = "x".join(str(v) for v in hp["pixels_per_cell"])
            raise InputError(f"the model was fitted on {fitted} face crops (HOG cells of {cell} "
                             f"px) but the source's crop is {w} x {h} (ROI {x},{y},{w},{h})"
                             f"{why}: give --roi x,y,w,h of the model's crop size", s.path)
        face.check_template(s.template, face.region_shape((h, w)), s.path)
        self.setup_ = face
        self.frame_shape_ = frame_shape
        self.roi_ = roi
        self.roi_shape_ = (h, w)
        self.margin_ = face.margin
        self.region_: Region = region_of(roi, face.margin, frame_shape)
        self.align_ = face.align
        self.drift_ = face.drift
        self._shift_threshold = float(face.shift_threshold)
        self.hog_params_ = hp
        self.fill_ = face.fill((h, w))
        _, self.keep_ = face.cells((h, w))
        self.names_ = tuple(s.names)
        self.grade_names_ = s.axis_names
        self.mode_ = s.mode
        face.load_kernels([(h, w)], beside=True)

    def region(self, frame: np.ndarray) -> np.ndarray:
        """The region read around the ROI of one full frame, (1, H', W') (padded at edges)."""
        f = np.asarray(frame)
        if f.shape != self.frame_shape_:
            raise InputError(f"a frame of {f.shape} arrived from a source of "
                             f"{self.frame_shape_}: the camera changed its frame size")
        x, y, w, h = self.region_.read
        return self.region_.complete(f[None, y:y + h, x:x + w])

    def _alignment(self, baseline: Baseline) -> Alignment:
        """The session's alignment from its reference face, as ``score`` plans it."""
        template = self.saved_.template if self.align_ != "none" else None
        try:
            return self.setup_.alignment(baseline.reference, template, self.fill_)
        except ValueError as exc:
            raise InputError(str(exc), self.saved_.path) from None

    # ------------------------------------------------------------------ calibration

    def start_calibration(self, frame_shape: tuple[int, int],
                          source: str | Path | None = None) -> LiveCalibration:
        """An empty :class:`LiveCalibration` for frames of ``frame_shape`` (what ``live`` feeds)."""
        self.setup(frame_shape, source)
        return LiveCalibration(self)

    def calibrate(self, frames, time=None, *, source: str | Path | None = None) -> LiveReadout:
        """Learn the animal's reference face and neutral face from quiet baseline frames.

        Parameters
        ----------
        frames : (n, H, W) uint8 array or sequence of (H, W) frames
            Full camera frames of the animal at rest, in order.
        time : (n,) array, optional
            Their times in seconds (for ``dropped``); default 30 frames/s.

        Returns
        -------
        self
        """
        frames = frames if isinstance(frames, np.ndarray) else list(frames)
        if len(frames) == 0:
            raise InputError("no calibration frames: the animal's neutral face needs its "
                             "quiet baseline frames", source)
        t = (np.arange(len(frames)) / 30.0 if time is None
             else np.asarray(time, dtype=np.float64))
        cal = self.start_calibration(np.asarray(frames[0]).shape, source)
        for f, ti in zip(frames, t, strict=True):
            cal.add(f, float(ti))
        cal.finish(source)
        return self

    def _neutral(self, hogs: np.ndarray, flagged: np.ndarray
                 ) -> tuple[BaselineMoments, ExpressionAxis | None]:
        """The moments of the animal's calibration HOGs, as ``score`` takes them from the
        baseline frames (flagged frames left out where the settings say so), and the model's
        expression axes graded from them (None without axes or frames)."""
        base = hogs[~flagged] if self.setup_.exclude_flagged else hogs
        if self.mode_ == "transfer" and len(base) == 0:
            raise InputError("every calibration frame is quality-flagged: a transfer model "
                             "needs the animal's own neutral face; calibrate on a quiet "
                             "period", self.saved_.path)
        moments = BaselineMoments()
        moments.add(base)
        grade = None
        if self.saved_.axes is not None and moments.n:  # as `score`: its neutral and spread
            grade = self._axis(moments.mean).scaled([base])
        return moments, grade

    def _axis(self, neutral: np.ndarray, scale: np.ndarray | None = None) -> ExpressionAxis:
        """The model's expression axes (masked entries dropped) applied from ``neutral``."""
        axes = self.saved_.axes
        return ExpressionAxis.from_axes(self.saved_.axis_names,
                                        axes if self.keep_ is None else axes[:, self.keep_],
                                        neutral, scale)

    def _finish(self, face: FacePass, neutral, spread: tuple[float, float], blur: float,
                interval: float, info: dict, grade: ExpressionAxis | None = None) -> None:
        """Set the learned state: the pass, the model made the animal's own
        (:class:`~mouseface.expressions.animal_model.AnimalModel`), its expression axes
        (``grade``: from the animal's neutral face, in its calibration spread; None: NaN
        grades) and what the causal quality flags compare with."""
        s = self.saved_
        protos = s.prototypes if self.keep_ is None else s.prototypes[:, self.keep_]
        self.own_ = AnimalModel.from_saved(s.mode, s.names, protos, neutral,
                                           n_frames=s.parsed.prototypes.n_frames)
        self.model_ = self.own_.model
        self.neutral_ = self.own_.reference
        self._per_frame = self.own_.prepared()  # the prototypes standardised once
        self.grade_ = grade
        if grade is not None:  # one matrix product a frame: (x - neutral) @ axes.T / scale
            self._grade_terms = (grade.neutral_, grade.axes_.T, grade.scale_)
        self.pass_ = face
        self.spread_ = (float(spread[0]), float(spread[1]))
        self.blur_ = float(blur)
        self.interval_ = float(interval)
        self.causal_ = self.setup_.causal_quality(self.spread_, self.blur_, self.interval_)
        self.calibration_ = info
        self._index = None
        self._previous_time = None

    def _similarity(self, hogs: np.ndarray) -> np.ndarray:
        return self._per_frame(hogs)

    def _kept(self, hogs: np.ndarray) -> np.ndarray:
        return hogs if self.keep_ is None else hogs[:, self.keep_]

    def _grades(self, hogs: np.ndarray) -> np.ndarray:
        """Each frame's grade on each expression axis, ``ExpressionAxis.transform``'s
        arithmetic without its checks; NaN when no calibration frame was left to grade from
        (every one flagged), (n, 0) for a model without axes."""
        if self.grade_ is None:
            return np.full((len(hogs), len(self.grade_names_)), np.nan)
        neutral, axes_t, scale = self._grade_terms
        return (np.asarray(hogs, dtype=np.float64) - neutral) @ axes_t / scale

    # ------------------------------------------------------------------ frames

    def update(self, frame: np.ndarray, time: float | None = None) -> Reading:
        """Expression strengths and quality of one frame.

        Parameters
        ----------
        frame : (H, W) uint8 array
            A full camera frame (gray), of the size the readout was calibrated on.
        time : float, optional
            Its time in seconds (for the ``dropped`` flag).

        Returns
        -------
        Reading
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("calibrate the readout first (calibrate or load_reference)")
        index = 0 if self._index is None else self._index + 1
        self._index = index
        t = np.nan if time is None else float(time)
        with one_core():
            # the per-frame work: one call into the one-pass engine, then the model
            faces = self.pass_.push(self.region(frame), np.array([index]), np.array([t]))
            hog = self._kept(faces.hog)
            sim = self._similarity(hog)[0]
            grades = self._grades(hog)[0]
        q = self._flags(faces, time)
        shift = None if faces.shift is None else (float(faces.shift[0, 0]),
                                                   float(faces.shift[0, 1]))
        return Reading(time, self.names_, sim, q["flag"], shift, q, self.grade_names_, grades)

    def _flags(self, faces: FaceFrames, time: float | None) -> dict:
        """The causal quality and drift columns of one frame (see the module notes)."""
        q: dict = {}
        if faces.measures is not None:
            m = dict(zip(MEASURES, faces.measures[0].tolist(), strict=True))
            q = self.causal_.flags(m, time, self._previous_time)
        self._previous_time = time
        q["large_shift"] = False
        if faces.shift is not None:
            d = drift_columns(faces.shift, self._shift_threshold)
            q.update(shift_y=float(d["shift_y"][0]), shift_x=float(d["shift_x"][0]),
                     shift=float(d["shift"][0]), large_shift=bool(d["large_shift"][0]))
        q["flag"] = any(q.get(k, False) for k in _FLAGS)
        return q

    # ------------------------------------------------------------------ reference files

    def save_reference(self, path: str | Path) -> Path:
        """Write the calibration to ``path`` (``.npz``) for a later session of this animal."""
        if not hasattr(self, "model_"):
            raise RuntimeError("nothing to save: calibrate the readout first")
        spec = self.pass_.spec
        a, c = spec.alignment, spec.calibration
        arrays = {}
        for k, v in (("reference", a.reference), ("matrix", a.matrix), ("fill", a.fill)):
            if v is not None:
                arrays[k] = np.asarray(v)
        meta = {"format": _REFERENCE_FORMAT, "model": str(Path(self.model).resolve()),
                "model_fingerprint": self.saved_.fingerprint, "mode": self.mode_,
                "names": list(self.names_), "roi": list(self.roi_),
                "frame_shape": list(self.frame_shape_), "hog": self.hog_params_,
                "margin": a.margin, "fill_value": a.fill_value, "spread": list(self.spread_),
                "blur": self.blur_, "interval": self.interval_,
                "calibration": self.calibration_}
        if self.neutral_ is not None:
            arrays.update(neutral_mean=self.neutral_.mean, neutral_scale=self.neutral_.scale)
            meta["neutral_frames"] = self.neutral_.n_frames
        else:
            arrays["neutral_prototype"] = self.own_.neutral
        meta["grades"] = list(self.grade_names_)
        if self.grade_ is not None:
            arrays.update(grade_neutral=self.grade_.neutral_, grade_scale=self.grade_.scale_)
            meta["axes_fingerprint"] = self.saved_.axes_fingerprint
        if c is not None:
            arrays["pass_neutral"] = c.neutral
            meta["pass"] = {"distance_median": c.distance_median,
                            "distance_scale": c.distance_scale,
                            "occlusion_bin": c.occlusion_bin, "n_frames": c.n_frames}
            o = c.occlusion
            if o is not None:
                arrays.update(occlusion_low=o.low, occlusion_high=o.high,
                              occlusion_median=o.median)
                meta["pass"]["occlusion"] = {"noise": o.noise, "radius": o.radius,
                                             "sigma": o.sigma}
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta, default=str)), **arrays)
        return path

    def load_reference(self, path: str | Path, frame_shape: tuple[int, int] | None = None,
                       source: str | Path | None = None) -> LiveReadout:
        """Calibrate from a reference file written by :meth:`save_reference`.

        ``frame_shape`` is the source's frame size (default the one the file was made with).
        The file must come from a model with the same prototypes, HOG, crop and registration.
        """
        path = Path(path)
        if not path.is_file():
            raise InputError("reference file not found", path)
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
            meta = json.loads(str(arrays.pop("meta")))
        except (OSError, ValueError, KeyError) as exc:
            raise InputError(f"not a mouseface reference file ({exc})", path) from None
        if meta.get("format") != _REFERENCE_FORMAT:
            raise InputError(f"reference file format {meta.get('format')} is not "
                             f"{_REFERENCE_FORMAT}: calibrate again", path)
        self.setup(tuple(frame_shape or meta["frame_shape"]), source)
        grading = "grade_neutral" in arrays
        mine = {"names": list(self.names_), "roi size": list(self.roi_shape_),
                "hog": json.loads(json.dumps(self.hog_params_)), "margin": self.margin_,
                "mode": self.mode_, "expression axes": list(self.grade_names_)}
        theirs = {"names": meta["names"], "roi size": meta["roi"][2:][::-1],
                  "hog": meta["hog"], "margin": meta["margin"], "mode": meta["mode"],
                  "expression axes": meta["grades"]}
        if grading:
            mine["expression axes' fingerprint"] = self.saved_.axes_fingerprint
            theirs["expression axes' fingerprint"] = meta["axes_fingerprint"]
        bad = [k for k in mine if mine[k] != theirs[k]]
        if bad:
            k = bad[0]
            raise InputError(f"made with another model: its {k} {theirs[k]} differs from this "
                             f"model's {mine[k]}; calibrate this session (--calibrate)", path)
        alignment = Alignment(self.margin_, arrays.get("matrix"),
                              arrays.get("reference") if self.drift_ else None,
                              arrays.get("fill"), float(meta["fill_value"]))
        cal = None
        if "pass_neutral" in arrays:
            p = meta["pass"]
            occ = None
            if "occlusion" in p:
                o = p["occlusion"]
                occ = OcclusionReference(arrays["occlusion_low"], arrays["occlusion_high"],
                                         arrays["occlusion_median"], o["noise"], o["radius"],
                                         o["sigma"])
            cal = PassCalibration(arrays["pass_neutral"], p["distance_median"],
                                  p["distance_scale"], occ, p["occlusion_bin"], p["n_frames"])
        face = FacePass(FaceSpec(self.roi_shape_, self.hog_params_, alignment, 1,
                                 self.setup_.quality if cal is not None else None, cal))
        if "neutral_mean" in arrays:
            neutral = NeutralReference(arrays["neutral_mean"], arrays["neutral_scale"],
                                       int(meta["neutral_frames"]))
        else:
            neutral = arrays["neutral_prototype"]
        grade = (self._axis(arrays["grade_neutral"], arrays["grade_scale"]) if grading
                 else None)
        self._finish(face, neutral, tuple(meta["spread"]), meta["blur"], meta["interval"],
                     {**meta["calibration"], "reference_file": str(path)}, grade)
        return self


class LiveCalibration:
    """A calibration fed frame by frame (``mouseface live --calibrate``).

    The first :data:`~mouseface.features.alignment.REFERENCE_FRAMES` frames are held (as region
    crops) until the reference face is known, as ``score``'s baseline pre-read holds them; from
    then on each frame goes through the pass as it arrives, so memory stays bounded however long
    the calibration. :meth:`finish` sets the readout's learned state and returns the calibration
    frames' own readings.
    """

    def __init__(self, readout: LiveReadout):
        self.readout = readout
        self._held: list[np.ndarray] = []
        self.time: list[float] = []
        self._faces: list[FaceFrames] = []
        self._pass: FacePass | None = None
        self._pushed = 0

    def __len__(self) -> int:
        return len(self.time)

    def add(self, frame: np.ndarray, time: float) -> None:
        """Add one full frame (H, W) at ``time`` seconds."""
        region = self.readout.region(frame)
        self.time.append(float(time))
        with one_core():
            if self._pass is None:
                self._held.append(np.ascontiguousarray(region[0]))
                if len(self._held) >= REFERENCE_FRAMES:
                    self._start()
            else:
                self._push(region)

    def _start(self) -> None:
        """Reference face, alignment and the pass's calibration from the held frames; then
        the held frames through the pass."""
        r = self.readout
        held = np.stack(self._held)
        self._held = []
        baseline = Baseline.from_frames(held)
        alignment = r._alignment(baseline)
        cal = r.setup_.calibrate(baseline.frames, r.roi_shape_, alignment)
        # drift on every frame: a live frame cannot wait for the next measured one
        self._pass = FacePass(r.setup_.spec(r.roi_shape_, alignment, cal, drift_every=1))
        self._push(held)

    def _push(self, regions: np.ndarray) -> None:
        n, k = self._pushed, len(regions)
        # drift on every frame: the pass releases each frame at once
        f = self._pass.push(regions, np.arange(n, n + k), np.asarray(self.time[n:n + k]))
        # keep what calibration needs, not the crops: memory stays flat however long it is
        f.crops = f.crops[:0]
        self._faces.append(f)
        self._pushed += k

    def finish(self, source: str | Path | None = None) -> list[Reading]:
        """Set the readout's reference face, neutral face and quality references; return the
        calibration frames' readings (in order)."""
        if not self.time:
            raise InputError("no calibration frames: the animal's neutral face needs its quiet "
                             "baseline frames", source)
        with one_core():
            if self._pass is None:
                self._start()
            return self._finish()

    def _finish(self) -> list[Reading]:
        r = self.readout
        faces = self._faces
        hogs = np.concatenate([f.hog for f in faces])
        time = np.asarray(self.time)
        shifts = None if faces[0].shift is None else np.concatenate([f.shift for f in faces])
        drift = None if shifts is None else r.setup_.drift_table(shifts)
        large = None if drift is None else drift["large_shift"].to_numpy()
        interval = float(np.median(np.diff(time))) if len(time) > 1 else 0.0
        spread, blur = (math.nan, math.nan), math.nan
        if faces[0].measures is not None:
            m = np.concatenate([f.measures for f in faces])
            col = {name: m[:, j] for j, name in enumerate(MEASURES)}
            # as `score`: the calibration frames are the baseline whose spread they give
            q, spread = r.setup_.quality_table(col, time, np.ones(len(time), bool), large)
            blur = float(np.nanmedian(col["blur"]))
        else:
            q = pd.DataFrame({"large_shift": np.zeros(len(time), bool) if large is None
                              else large})
            q["flag"] = q["large_shift"]
        flagged = q["flag"].to_numpy(dtype=bool)
        kept = r._kept(hogs)
        info = {"frames": len(time), "flagged": int(flagged.sum()),
                "seconds": float(time[-1] - time[0] + interval),
                "reference_frames": min(len(time), REFERENCE_FRAMES)}
        moments, grade = r._neutral(kept, flagged)
        r._finish(self._pass, moments, spread, blur, interval, info, grade)
        r._index = len(time) - 1
        r._previous_time = float(time[-1])
        sims = r._similarity(kept)
        grades = r._grades(kept)
        if drift is not None:
            q = pd.concat([q.drop(columns="large_shift", errors="ignore"), drift], axis=1)
        rows = q.to_dict("records")
        return [Reading(float(t), r.names_, sims[i], bool(rows[i]["flag"]),
                        None if shifts is None else (float(shifts[i, 0]), float(shifts[i, 1])),
                        rows[i], r.grade_names_, grades[i])
                for i, t in enumerate(time)]


