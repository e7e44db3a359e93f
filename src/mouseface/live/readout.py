"""A fitted model applied frame by frame: the one code path of ``mouseface live`` and of a lab's
own loop.

:class:`LiveReadout` loads a model folder written by ``mouseface fit`` (or ``run``) and turns
camera frames into expression strengths, one frame at a time::

    readout = LiveReadout("model", roi=(x, y, w, h))
    readout.calibrate(quiet_frames)          # (n, H, W) uint8: the animal's quiet baseline
    reading = readout.update(frame)          # (H, W) uint8 -> Reading
    reading["pain"], reading.flag

Per frame it does what ``mouseface score`` does to a stored session, in the same order and with
the same library calls: the region around the ROI is read, its masked pixels filled, its drift
against the session's reference face measured and undone together with the transform onto the
model's template (:meth:`~mouseface.features.alignment.Alignment.apply`), the HOG computed
(:func:`~mouseface.features.hog.hog`), the mask's HOG entries dropped, and the similarity to every
prototype taken by the model itself (``PrototypeModel.transform`` or ``TransferModel.transform``).
Replaying a video through it gives ``score``'s similarities to 1e-6 when ``score`` is given a
baseline window made of the calibration frames (``tests/integration/test_live.py``).

Calibration is what ``score`` learns from the baseline windows of an events table: the reference
face (the mean of the first ``max_reference`` frames, 200 as in ``score``), its transform onto the
template, and the animal's own neutral face in HOG space (pooled and per-animal models replace
the neutral prototype with it; transfer models take every frame relative to it). Frames the
quality pass flags are kept out of the neutral face, as offline. A calibration is saved with
:meth:`LiveReadout.save_reference` and read back by a later session of the same animal with
:meth:`LiveReadout.load_reference`.

The quality flag is causal: each frame is measured on arrival with the library's measures
(``frame_metrics``, ``occlusion_area`` against the calibration's neutral face, the HOG outlier
score against the calibration frames' HOG), ``blurry`` is judged against the calibration's median
blur and ``dropped`` against its frame interval (offline both use the whole session). The pixel
measures run on a second thread while the frame is registered and its HOG computed: they cost
about as much, and both release the GIL.

One call per frame. The per-frame features come from one method, :meth:`_Features.__call__`; when
the one-pass engine's per-frame processor lands in :mod:`mouseface.features`, that method's body
becomes the single call into it (it also measures the frame's quality; see the note there).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path
from mouseface._errors import InputError
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.transfer import NeutralReference, TransferModel
from mouseface.features.alignment import (
    Alignment,
    Region,
    fill_masked,
    plan_alignments,
    reference_faces,
    region_of,
)
from mouseface.features.hog import hog, hog_shape
from mouseface.features.masks import cell_mask, feature_keep, region_pixels
from mouseface.features.quality import (
    HogOutlier,
    OcclusionReference,
    frame_metrics,
    occlusion_area,
    occlusion_reference,
    quality_table,
)
from mouseface.features.registration import drift_table, reference_face
from mouseface.io.model import load_array, load_model
from mouseface.io.tables import check_roi, parse_regions

__all__ = ["Calibration", "LiveReadout", "Reading", "QUALITY_COLUMNS", "DRIFT_COLUMNS",
           "one_core"]

#: The reference face averages the earliest this many calibration frames, as ``score`` does.
MAX_REFERENCE = inspect.signature(reference_faces).parameters["max_frames"].default
_QT = inspect.signature(quality_table).parameters

#: Thresholds of the quality flags that ``score`` leaves at their defaults.
_MAX_FRACTION = _QT["max_fraction"].default
_BLUR_RATIO = _QT["blur_ratio"].default
_GAP_FACTOR = _QT["gap_factor"].default
#: Gray value of masked pixels when quality is measured (as ``video_quality`` does).
_QUALITY_FILL = 128

QUALITY_COLUMNS = ("motion_energy", "blur", "blurry", "dark", "saturated", "duplicate",
                   "dropped", "occlusion", "hog_z", "occluded", "large_shift", "flag")
DRIFT_COLUMNS = ("shift_y", "shift_x", "shift")
_REFERENCE_FORMAT = 1


_THREADPOOLS = None


@contextlib.contextmanager
def one_core() -> Iterator[None]:
    """Numba (in this thread) and BLAS held to one thread, as every frame is read out.

    One frame is too little work for their thread pools: on two cores, with a grabber thread
    decoding beside it, Numba's and OpenBLAS's threads wait for each other busily and a frame
    costs many times more. Entering costs about 50 microseconds.
    """
    global _THREADPOOLS
    import numba
    from threadpoolctl import ThreadpoolController

    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with _THREADPOOLS.limit(limits=1):
            yield
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
        The quality columns of ``frames.parquet`` for this frame.
    """

    time: float | None
    names: tuple[str, ...]
    similarity: np.ndarray
    flag: bool
    shift: tuple[float, float] | None = None
    quality: dict = field(default_factory=dict)

    def __getitem__(self, name: str) -> float:
        try:
            return float(self.similarity[self.names.index(name)])
        except ValueError:
            raise KeyError(f"no prototype {name!r}; the model has {list(self.names)}") from None

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
    settings: dict
    feature_shape: tuple[int, ...]
    crop_shape: tuple[int, ...]
    template: np.ndarray | None
    regions: tuple[list, list]
    fingerprint: str


def _load(path: str | Path, animal: str | None) -> _Saved:
    path = Path(path)
    saved, meta = load_model(path)
    if len(saved) == 1 and next(iter(saved)) in ("pooled", "transfer"):
        names, protos = next(iter(saved.values()))
    elif animal is not None and animal in saved:
        names, protos = saved[animal]
    elif animal is None:
        raise InputError(f"the model has per-animal prototypes ({', '.join(sorted(saved))}): "
                         "say whose with --animal, or fit a model with `mouseface fit`", path)
    else:
        raise InputError(f"the model has per-animal prototypes for {sorted(saved)} but not for "
                         f"animal {animal}: fit a model with `mouseface fit`", path)
    settings = meta.get("settings", {})
    try:
        regions = parse_regions(meta.get("mask_regions", ""))
    except ValueError as exc:
        raise InputError(f"model.json: mask_regions: {exc}", path) from None
    h = hashlib.blake2b(digest_size=12)
    h.update(json.dumps([meta.get("names"), meta.get("settings")], sort_keys=True).encode())
    h.update(np.ascontiguousarray(protos).tobytes())
    template = load_array(path, "template")
    return _Saved(path, meta.get("mode", "pooled"), [str(n) for n in names], protos, settings,
                  tuple(meta["feature_shape"]), tuple(meta.get("crop_shape") or ()),
                  template, regions, h.hexdigest())


def _hog_params(settings: dict) -> dict:
    hp = dict(settings.get("hog", {}))
    for k in ("pixels_per_cell", "cells_per_block"):
        if k in hp:
            hp[k] = tuple(hp[k])
    return hp


class _Features:
    """The per-frame features: registered crop -> HOG (mask entries dropped), and drift.

    This is the seam for the one-pass engine: when its per-frame processor (mask fill, drift,
    warp, HOG, quality measures in one call) is in :mod:`mouseface.features`, the body of
    :meth:`__call__` becomes that one call, and ``LiveReadout`` takes its quality measures from
    it instead of measuring them itself (``_measure``).
    """

    def __init__(self, alignment: Alignment | None, roi_shape: tuple[int, int],
                 hog_params: dict, keep: np.ndarray | None):
        self.alignment = alignment
        self.roi_shape = roi_shape
        self.hog_params = hog_params
        self.keep = keep

    def __call__(self, region: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """HOG (n, D) float32 and drift (n, 2) of region frames (n, H', W'), as offline."""
        crops, shifts = (self.alignment.apply(region, self.roi_shape)
                         if self.alignment is not None else (region, None))
        x = hog(crops, **self.hog_params)
        return (x if self.keep is None else x[:, self.keep]), shifts


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
        The prototypes, ``neutral`` first (after :meth:`calibrate` or :meth:`load_reference`).
    mode_ : str
        ``"transfer"``, ``"pooled"`` or ``"per-animal"``.
    alignment_ : Alignment or None
        How frames are registered (None: neither registration nor drift correction).
    calibration_ : dict
        What calibrated the readout: frames, flagged frames, source.

    Examples
    --------
    >>> readout = LiveReadout("results/model", roi=(40, 20, 128, 128))  # doctest: +SKIP
    >>> readout.calibrate(baseline_frames)                             # doctest: +SKIP
    >>> readout.update(frame)["pain"]                                  # doctest: +SKIP
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
        """Fix the frame size of the source: check the ROI against it and the model.

        Called by :meth:`calibrate`, :meth:`load_reference` and ``mouseface live`` once the
        source's first frame is known. Raises :class:`~mouseface._errors.InputError` (one line)
        when the ROI leaves the frame or its size does not fit the model's HOG.
        """
        s = self.saved_
        frame_shape = (int(frame_shape[0]), int(frame_shape[1]))
        roi = check_roi(self.roi, frame_shape, source)
        x, y, w, h = roi
        hp = _hog_params(s.settings)
        try:
            per_image = hog_shape((h, w), **{k: hp[k] for k in
                                             ("orientations", "pixels_per_cell",
                                              "cells_per_block") if k in hp})
        except ValueError as exc:
            per_image = None
            why = str(exc)
        n = None if per_image is None else int(np.prod(per_image))
        if (s.crop_shape and tuple(s.crop_shape) != (h, w)) or n != int(np.prod(s.feature_shape)):
            fitted = (f"{s.crop_shape[1]} x {s.crop_shape[0]} (width x height)" if s.crop_shape
                      else f"crops whose HOG has {int(np.prod(s.feature_shape))} entries")
            cell = "x".join(str(v) for v in hp.get("pixels_per_cell", ()))
            extra = "" if per_image is not None else f" ({why})"
            raise InputError(f"the model was fitted on {fitted} face crops (HOG cells of "
                             f"{cell} px) but the source's crop is {w} x {h} (ROI {x},{y},{w},"
                             f"{h}){extra}: give --roi x,y,w,h of the model's crop size",
                             s.path)
        reg = s.settings.get("registration", {})
        align = reg.get("align", "auto")
        align = "translation" if align == "auto" else align  # what `score` resolves for a model
        if s.template is None:
            align = "none"  # fitted without registration: nothing to register onto
        drift = bool(reg.get("drift", True))
        margin = int(reg.get("margin", 12)) if (align != "none" or drift) else 0
        if s.template is not None and align != "none" and s.template.shape != (h + 2 * margin,
                                                                                w + 2 * margin):
            raise InputError(f"the model's template is {s.template.shape} (ROI plus margin) but "
                             f"the source's crop gives {(h + 2 * margin, w + 2 * margin)}: use an "
                             "ROI of the model's size", s.path)
        self.frame_shape_ = frame_shape
        self.roi_ = roi
        self.roi_shape_ = (h, w)
        self.margin_ = margin
        self.region_: Region = region_of(roi, margin, frame_shape)
        self.align_ = align
        self.drift_ = drift
        self.hog_params_ = hp
        rects, polys = s.regions
        self.mask_pixels_ = (region_pixels((h, w), rects, polys) if (rects or polys) else None)
        self.keep_ = None
        if rects or polys:
            ppc = hp.get("pixels_per_cell", (32, 32))
            mask = cell_mask((h, w), ppc, rects, polys)
            self.keep_ = feature_keep(mask, hp.get("orientations", 8),
                                      hp.get("cells_per_block", (1, 1)))
        self.names_ = tuple(s.names)
        self.mode_ = s.mode
        q = s.settings.get("quality", {})
        self.exclude_flagged_ = bool(q.get("enabled", True)) and bool(
            q.get("exclude_flagged", True))
        self.min_area_ = float(q.get("min_area", _QT["min_area"].default))
        self.min_z_ = float(q.get("min_z", _QT["min_z"].default))
        self.shift_threshold_ = float(reg.get("shift_threshold", 2.0))

    def _region(self, frame: np.ndarray) -> np.ndarray:
        """The region read around the ROI of one full frame, (1, H', W') (padded at edges)."""
        f = np.asarray(frame)
        if f.shape != self.frame_shape_:
            raise InputError(f"a frame of {f.shape} arrived from a source of "
                             f"{self.frame_shape_}: the camera changed its frame size")
        x, y, w, h = self.region_.read
        return self.region_.complete(f[None, y:y + h, x:x + w])

    def _raw_crop(self, region: np.ndarray) -> np.ndarray:
        """The ROI's own pixels (1, h, w), masks painted mid-gray: what quality measures."""
        m = self.margin_
        h, w = self.roi_shape_
        crop = region[:, m:m + h, m:m + w]
        if self.mask_pixels_ is not None and self.mask_pixels_.any():
            crop = crop.copy()
            crop[:, self.mask_pixels_] = _QUALITY_FILL
        return crop

    # ------------------------------------------------------------------ calibration

    def start_calibration(self, frame_shape: tuple[int, int],
                          source: str | Path | None = None) -> Calibration:
        """An empty :class:`Calibration` for frames of ``frame_shape`` (what ``live`` feeds)."""
        self.setup(frame_shape, source)
        return Calibration(self)

    def calibrate(self, frames, time=None, *, source: str | Path | None = None) -> LiveReadout:
        """Learn the animal's reference face and neutral face from quiet baseline frames.

        Parameters
        ----------
        frames : (n, H, W) uint8 array or iterable of (H, W) frames
            Full camera frames of the animal at rest, in order.
        time : (n,) array, optional
            Their times in seconds (for ``dropped``); default 30 frames/s.

        Returns
        -------
        self
        """
        frames = list(frames) if not isinstance(frames, np.ndarray) else frames
        if len(frames) == 0:
            raise InputError("no calibration frames: the animal's neutral face needs its "
                             "quiet baseline frames", source)
        t = (np.arange(len(frames)) / 30.0 if time is None
             else np.asarray(time, dtype=np.float64))
        cal = self.start_calibration(np.asarray(frames[0]).shape, source)
        for f, ti in zip(frames, t, strict=True):
            cal.add(f, float(ti))
        cal.finish()
        return self

    def _neutral(self, hogs: np.ndarray, flagged: np.ndarray):
        """The animal's own neutral face from calibration HOGs, as ``score`` takes it from the
        baseline frames: their mean (pooled, per-animal; None when every frame is flagged: the
        saved neutral prototype stays) or a :class:`NeutralReference` (transfer)."""
        s = self.saved_
        base = hogs[~flagged] if self.exclude_flagged_ else hogs
        if s.mode == "transfer":
            if len(base) == 0:
                raise InputError("every calibration frame is quality-flagged: a transfer model "
                                 "needs the animal's own neutral face; calibrate on a quiet "
                                 "period", s.path)
            return TransferModel.from_prototypes(s.names, s.prototypes[:1]).reference(base)
        return base.mean(axis=0) if len(base) else None

    def _finish(self, alignment: Alignment | None, neutral, outlier: HogOutlier,
                occlusion_ref: OcclusionReference | None, blur: float, interval: float,
                info: dict) -> None:
        """Set the learned state: alignment, the neutral face (see :meth:`_neutral`) and the
        quality references."""
        s = self.saved_
        protos = s.prototypes if self.keep_ is None else s.prototypes[:, self.keep_]
        n_frames = int(s.settings.get("prototypes", {}).get("n_frames", 10))
        if s.mode == "transfer":
            model = TransferModel.from_prototypes(s.names, protos)
            self.neutral_ = neutral
        else:
            model = PrototypeModel.from_prototypes(s.names, protos, n_frames=n_frames)
            if neutral is not None:  # as `score` does: the animal's own neutral face
                own = model.prototypes_.copy()
                own[0] = neutral
                model = PrototypeModel.from_prototypes(model.classes_, own, n_frames=n_frames)
            self.neutral_ = None
        self.model_ = model
        self.alignment_ = alignment
        self.features_ = _Features(alignment, self.roi_shape_, self.hog_params_, self.keep_)
        self.outlier_ = outlier
        self.occlusion_ref_ = occlusion_ref
        self.blur_ = float(blur)
        self.interval_ = float(interval)
        self.calibration_ = info
        self._previous = None
        self._previous_time = None
        if getattr(self, "_pixels", None) is None:
            self._pixels = ThreadPoolExecutor(1, thread_name_prefix="mouseface-quality")

    def close(self) -> None:
        """Stop the readout's quality thread (a later ``update`` starts it again)."""
        pool, self._pixels = getattr(self, "_pixels", None), None
        if pool is not None:
            pool.shutdown(wait=True)

    def _similarity(self, hogs: np.ndarray) -> np.ndarray:
        if self.neutral_ is not None:
            return self.model_.transform(hogs, self.neutral_)
        return self.model_.transform(hogs)

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
        if getattr(self, "_pixels", None) is None:
            self._pixels = ThreadPoolExecutor(1, thread_name_prefix="mouseface-quality")
        region = self._region(frame)
        pixels = self._pixels.submit(self._pixel_measures, self._raw_crop(region))
        try:
            with one_core():
                x, shifts = self.features_(region)
                sim = self._similarity(x)[0]
                z = float(self.outlier_.z(x)[0])
        finally:
            m, occ = pixels.result()
        q = self._flags(m, occ, z, shifts, time)
        shift = None if shifts is None else (float(shifts[0, 0]), float(shifts[0, 1]))
        return Reading(time, self.names_, sim, bool(q["flag"]), shift, q)

    def _pixel_measures(self, raw: np.ndarray) -> tuple[dict, float]:
        """Frame measures and occlusion area of one raw crop (1, h, w) (the quality thread)."""
        m = frame_metrics(raw, self._previous).iloc[0].to_dict()
        self._previous = raw[0]
        occ = (np.nan if self.occlusion_ref_ is None
               else float(occlusion_area(raw, self.occlusion_ref_)[0]))
        return m, occ

    def _flags(self, m: dict, occ: float, z: float, shifts: np.ndarray | None,
               time: float | None) -> dict:
        """The causal quality columns of one frame (see the module notes)."""
        dropped = False
        if time is not None and self._previous_time is not None and self.interval_ > 0:
            dropped = bool(time - self._previous_time > _GAP_FACTOR * self.interval_)
        self._previous_time = time
        q = {"motion_energy": float(m["motion_energy"]), "blur": float(m["blur"]),
             "blurry": bool(m["blur"] < _BLUR_RATIO * self.blur_),
             "dark": bool(m["dark_fraction"] > _MAX_FRACTION),
             "saturated": bool(m["saturated_fraction"] > _MAX_FRACTION),
             "duplicate": bool(m["duplicate"]), "dropped": dropped,
             "occlusion": occ, "hog_z": z,
             "occluded": bool(occ > self.min_area_ and z > self.min_z_)}
        if shifts is not None:
            d = drift_table(shifts, self.shift_threshold_).iloc[0]
            q["large_shift"] = bool(d["large_shift"])
            q.update(shift_y=float(d["shift_y"]), shift_x=float(d["shift_x"]),
                     shift=float(d["shift"]))
        else:
            q["large_shift"] = False
        q["flag"] = bool(q["blurry"] or q["dark"] or q["saturated"] or q["duplicate"]
                         or q["dropped"] or q["occluded"] or q["large_shift"])
        return q

    # ------------------------------------------------------------------ reference files

    def save_reference(self, path: str | Path) -> Path:
        """Write the calibration to ``path`` (``.npz``) for a later session of this animal."""
        if not hasattr(self, "model_"):
            raise RuntimeError("nothing to save: calibrate the readout first")
        a = self.alignment_
        arrays = {"outlier_proto": self.outlier_.proto}
        if a is not None:
            if a.reference is not None:
                arrays["reference"] = a.reference
            if a.matrix is not None:
                arrays["matrix"] = np.asarray(a.matrix)
            if a.fill is not None:
                arrays["fill"] = a.fill
        if self.neutral_ is not None:
            arrays["neutral_mean"] = self.neutral_.mean
            arrays["neutral_scale"] = self.neutral_.scale
        else:
            arrays["neutral_prototype"] = self.model_.prototypes_[0]
        o = self.occlusion_ref_
        if o is not None:
            arrays.update(occlusion_low=o.low, occlusion_high=o.high, occlusion_median=o.median)
        meta = {"format": _REFERENCE_FORMAT, "model": str(Path(self.model).resolve()),
                "model_fingerprint": self.saved_.fingerprint, "mode": self.mode_,
                "names": list(self.names_), "roi": list(self.roi_),
                "frame_shape": list(self.frame_shape_), "hog": self.hog_params_,
                "margin": self.margin_, "align": self.align_, "drift": self.drift_,
                "fill_value": None if a is None else a.fill_value,
                "neutral_frames": None if self.neutral_ is None else self.neutral_.n_frames,
                "occlusion": None if o is None else {"noise": o.noise, "radius": o.radius,
                                                     "sigma": o.sigma},
                "outlier": {"median": self.outlier_.median, "scale": self.outlier_.scale},
                "blur": self.blur_, "interval": self.interval_,
                "calibration": self.calibration_}
        path = Path(path)
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta, default=str)), **arrays)
        return path

    def load_reference(self, path: str | Path, frame_shape: tuple[int, int] | None = None,
                       source: str | Path | None = None) -> LiveReadout:
        """Calibrate from a reference file written by :meth:`save_reference`.

        ``frame_shape`` is the source's frame size (default the one the file was made with).
        The file must come from a model with the same prototypes, HOG and crop.
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
        mine = {"names": list(self.names_), "roi size": list(self.roi_shape_),
                "hog": json.loads(json.dumps(self.hog_params_)), "margin": self.margin_,
                "mode": self.mode_}
        theirs = {"names": meta["names"], "roi size": meta["roi"][2:][::-1],
                  "hog": meta["hog"], "margin": meta["margin"], "mode": meta["mode"]}
        bad = [k for k in mine if mine[k] != theirs[k]]
        if bad:
            k = bad[0]
            raise InputError(f"made with another model: its {k} {theirs[k]} differs from this "
                             f"model's {mine[k]}; calibrate this session (--calibrate)", path)
        alignment = None
        if self.align_ != "none" or self.drift_:
            fill = arrays.get("fill")
            alignment = Alignment(self.margin_, arrays.get("matrix"), arrays.get("reference"),
                                  fill, float(meta.get("fill_value") or 0.0))
        occ = None
        if meta.get("occlusion") is not None:
            o = meta["occlusion"]
            occ = OcclusionReference(arrays["occlusion_low"], arrays["occlusion_high"],
                                     arrays["occlusion_median"], o["noise"], o["radius"],
                                     o["sigma"])
        outlier = HogOutlier(arrays["outlier_proto"], meta["outlier"]["median"],
                             meta["outlier"]["scale"])
        if "neutral_mean" in arrays:
            neutral = NeutralReference(arrays["neutral_mean"], arrays["neutral_scale"],
                                       int(meta["neutral_frames"]))
        else:
            neutral = arrays["neutral_prototype"]
        self._finish(alignment, neutral, outlier, occ, meta["blur"], meta["interval"],
                     {**meta["calibration"], "reference_file": str(path)})
        return self


class Calibration:
    """A calibration fed frame by frame (``mouseface live --calibrate``).

    The first :data:`MAX_REFERENCE` frames are held (as region crops) until the reference face
    is known; from then on each frame's features are computed as it arrives, so memory stays
    bounded however long the calibration. :meth:`finish` sets the readout's learned state and
    returns the calibration frames' own readings.
    """

    def __init__(self, readout: LiveReadout):
        self.readout = readout
        self._held: list[np.ndarray] = []
        self.time: list[float] = []
        self._hogs: list[np.ndarray] = []
        self._shifts: list[np.ndarray] = []
        self._metrics: list[pd.DataFrame] = []
        self._occlusion: list[np.ndarray] = []
        self._features: _Features | None = None
        self._alignment: Alignment | None = None
        self._occ_ref: OcclusionReference | None = None
        self._previous = None

    def __len__(self) -> int:
        return len(self.time)

    def add(self, frame: np.ndarray, time: float) -> None:
        """Add one full frame (H, W) at ``time`` seconds."""
        region = np.ascontiguousarray(self.readout._region(frame))
        self.time.append(float(time))
        if self._features is None:
            self._held.append(region[0])
            if len(self._held) >= MAX_REFERENCE:
                with one_core():
                    self._build()
        else:
            with one_core():
                self._process(region)

    def _build(self) -> None:
        """Reference face, alignment and occlusion reference from the held frames."""
        r = self.readout
        held = np.stack(self._held)
        self._held = []
        alignment = None
        if r.align_ != "none" or r.drift_:
            ref = reference_face(held)
            mask = None
            if r.mask_pixels_ is not None and r.mask_pixels_.any():
                mask = np.pad(r.mask_pixels_, r.margin_)
                ref = fill_masked(ref, mask)
            try:
                alignment = plan_alignments(
                    {"live": ref}, {"live": r.saved_.template if r.align_ != "none" else None},
                    margin=r.margin_, align=r.align_, drift=r.drift_,
                    masks={} if mask is None else {"live": mask})["live"]
            except ValueError as exc:
                raise InputError(str(exc), r.saved_.path) from None
        self._alignment = alignment
        self._occ_ref = occlusion_reference(r._raw_crop(held))
        self._features = _Features(alignment, r.roi_shape_, r.hog_params_, r.keep_)
        self._process(held)

    def _process(self, regions: np.ndarray) -> None:
        x, shifts = self._features(regions)
        raw = self.readout._raw_crop(regions)
        self._hogs.append(x)
        if shifts is not None:
            self._shifts.append(shifts)
        self._metrics.append(frame_metrics(raw, self._previous))
        self._occlusion.append(occlusion_area(raw, self._occ_ref))
        self._previous = raw[-1]

    def finish(self, source: str | Path | None = None) -> list[Reading]:
        """Set the readout's reference face, neutral face and quality references; return the
        calibration frames' readings (in order)."""
        if not self.time:
            raise InputError("no calibration frames: the animal's neutral face needs its quiet "
                             "baseline frames", source)
        with one_core():
            if self._features is None:
                self._build()
            return self._finish(source)

    def _finish(self, source) -> list[Reading]:
        r = self.readout
        hogs = np.concatenate(self._hogs)
        time = np.asarray(self.time)
        shifts = np.concatenate(self._shifts) if self._shifts else None
        drift = None if shifts is None else drift_table(shifts, r.shift_threshold_)
        metrics = pd.concat(self._metrics, ignore_index=True)
        occ = np.concatenate(self._occlusion)
        outlier = HogOutlier.from_baseline(hogs)
        z = outlier.z(hogs)
        q = quality_table(metrics, time, occlusion=occ, hog_z=z,
                          large_shift=None if drift is None else drift["large_shift"].to_numpy(),
                          min_area=r.min_area_, min_z=r.min_z_)
        flagged = q["flag"].to_numpy(dtype=bool)
        interval = float(np.median(np.diff(time))) if len(time) > 1 else 0.0
        info = {"frames": len(time), "flagged": int(flagged.sum()),
                "seconds": float(time[-1] - time[0] + (interval or 0.0)),
                "reference_frames": min(len(time), MAX_REFERENCE)}
        blur = float(np.nanmedian(metrics["blur"])) if len(metrics) else math.nan
        r._finish(self._alignment, r._neutral(hogs, flagged), outlier, self._occ_ref, blur,
                  interval, info)
        r._previous = self._previous
        r._previous_time = float(time[-1])
        sims = r._similarity(hogs)
        if drift is not None:
            q = pd.concat([q, drift[list(DRIFT_COLUMNS)]], axis=1)
        rows = q.to_dict("records")
        return [Reading(float(t), r.names_, sims[i], bool(rows[i]["flag"]),
                        None if shifts is None else (float(shifts[i, 0]), float(shifts[i, 1])),
                        rows[i])
                for i, t in enumerate(time)]



