"""How a face session is set up before its frames are read: one object for ``run``/``fit``/
``score`` (:mod:`mouseface.workflows.prepare`), ``mouseface live`` and the napari viewer.

::

    setup = FaceSetup.from_settings(settings, scope="animal", regions=(rects, polys))
    setup.margin, setup.align, setup.drift          # the registration plan
    fill = setup.fill((h, w))                       # masked pixels over the region
    alignment = setup.alignment(reference, template, fill)   # one session onto its template
    cal = setup.calibrate(baseline_frames, (h, w), alignment)
    spec = setup.spec((h, w), alignment, cal)       # what the one pass needs (FaceSpec)
    setup.load_kernels()                            # compile, or load Numba's cache, up front
    quality, spread = setup.quality_table(measures, time, baseline, large_shift)
    live = setup.causal_quality(spread, blur, interval)

From :class:`~mouseface.settings.Settings` it fixes, once:

- **registration**: the alignment for the scope (``"animal"`` in ``run``, ``"all"`` in
  ``fit``, ``"model"`` in ``score`` and ``live``), drift correction, and the margin read
  around the ROI (none when nothing moves);
- **masks**: the regions whose pixels take one value before drift and warp (:meth:`fill`) and
  whose HOG cells are dropped (:meth:`cells`);
- **quality**: the pass's measures (:class:`~mouseface.features.facepass.QualityParams`), the
  thresholds of ``occluded`` and ``large_shift``, and whether flagged frames stay out of
  prototypes.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._errors import InputError
from mouseface.features.alignment import Alignment, fill_masked, fill_value, plan_alignments
from mouseface.features.facepass import (
    FacePass,
    FaceSpec,
    PassCalibration,
    QualityParams,
    calibrate,
    occlusion_bin,
)
from mouseface.features.hog import load_pending_kernels
from mouseface.features.masks import cell_mask, feature_keep, region_pixels
from mouseface.features.motion import region_motion
from mouseface.features.quality import (
    CausalQuality,
    occlusion_area,
    occlusion_reference,
    session_quality,
)
from mouseface.features.warp import warp_frames
from mouseface.settings import Settings

__all__ = ["FaceSetup"]

_Regions = tuple[list, list]


@dataclass(frozen=True)
class FaceSetup:
    """What every session of a run (or a live session) is read with (see the module notes).

    Attributes
    ----------
    hog_params
        Arguments of :func:`mouseface.features.hog.hog`.
    align
        The resolved alignment onto the template: ``"none"``, ``"translation"`` or
        ``"similarity"``.
    drift
        Per-frame drift against the session's reference face.
    margin
        Pixels read around the ROI (0 when frames are neither aligned nor drift-corrected).
    drift_every, shift_threshold
        Drift measured on every n-th frame; frames beyond ``shift_threshold`` px are
        ``large_shift``.
    regions
        Mask rectangles and polygons in ROI pixels.
    quality
        The pass's quality measures; None: quality off.
    exclude_flagged
        Flagged frames stay out of prototypes (and of a live animal's neutral face).
    min_area, min_z
        Thresholds of ``occluded``.
    """

    hog_params: dict
    align: str = "none"
    drift: bool = False
    margin: int = 0
    drift_every: int = 1
    shift_threshold: float = 2.0
    regions: _Regions = ((), ())
    quality: QualityParams | None = None
    exclude_flagged: bool = True
    min_area: float = 0.025
    min_z: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings, *, scope: str, regions: _Regions = ((), ()),
                      align: str | None = None) -> FaceSetup:
        """The setup of ``settings`` for ``scope`` (``"animal"``, ``"all"`` or ``"model"``).

        ``regions`` are the mask regions in force (config, sessions table and model together);
        ``align`` overrides the resolved alignment (``live`` with a model that has no template:
        ``"none"``, nothing to align onto).
        """
        r, q = settings.registration, settings.quality
        align = align or r.resolved(scope)
        margin = r.margin if (align != "none" or r.drift) else 0
        return cls(hog_params=settings.hog_params(), align=align, drift=r.drift, margin=margin,
                   drift_every=r.drift_every, shift_threshold=r.shift_threshold,
                   regions=(list(regions[0]), list(regions[1])),
                   quality=QualityParams(occlusion_gate=q.occlusion_gate) if q.enabled else None,
                   exclude_flagged=q.enabled and q.exclude_flagged,
                   min_area=q.min_area, min_z=q.min_z)

    # ------------------------------------------------------------------ registration

    @property
    def registering(self) -> bool:
        """Whether frames move at all (an alignment onto a template, or drift)."""
        return self.align != "none" or self.drift

    def region_shape(self, roi_shape: tuple[int, int]) -> tuple[int, int]:
        """The region read around a crop of ``roi_shape`` (h, w)."""
        return roi_shape[0] + 2 * self.margin, roi_shape[1] + 2 * self.margin

    def check_template(self, template: np.ndarray | None, shape: tuple[int, int],
                       path: str | Path | None = None) -> None:
        """A model's template must be the region of these crops (``shape``: ROI plus
        margin)."""
        shape = tuple(shape)
        if template is not None and template.shape != shape:
            raise InputError(f"the model's template is {template.shape} (ROI plus margin) but "
                             f"these crops give {shape}: use an ROI of the model's size", path)

    def alignments(self, references: dict[str, np.ndarray],
                   templates: dict[str, np.ndarray | None],
                   fills: dict[str, np.ndarray | None]) -> dict[str, Alignment]:
        """Each session's alignment from its reference face (masked pixels filled, see
        :func:`~mouseface.features.alignment.fill_masked`) onto its template (None: its own).

        Without registration only masked sessions get one (the fill); the others none.
        Raises ValueError when a region differs from its template's.
        """
        if not self.registering:
            return {s: Alignment(0, fill=f, fill_value=fill_value(references[s], f))
                    for s, f in fills.items() if f is not None}
        return plan_alignments(references, templates, margin=self.margin, align=self.align,
                               drift=self.drift, masks=fills)

    def alignment(self, reference: np.ndarray, template: np.ndarray | None,
                  fill: np.ndarray | None) -> Alignment:
        """One session's alignment from its reference face (unfilled) onto ``template``."""
        ref = fill_masked(reference, fill) if self.registering else reference
        got = self.alignments({"s": ref}, {"s": template}, {"s": fill})
        return got.get("s", Alignment(0))

    # ------------------------------------------------------------------ masks

    @property
    def masked(self) -> bool:
        return bool(self.regions[0] or self.regions[1])

    def fill(self, roi_shape: tuple[int, int]) -> np.ndarray | None:
        """The masked pixels over the region of a crop of ``roi_shape`` (None: no mask)."""
        if not self.masked:
            return None
        px = np.pad(region_pixels(tuple(roi_shape), *self.regions), self.margin)
        return px if px.any() else None

    def cells(self, roi_shape: tuple[int, int]) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The HOG cells the mask leaves out (cells_y, cells_x) and the HOG entries kept
        (None, None: no mask). Raises ValueError for a mask that fits no cell grid."""
        if not self.masked:
            return None, None
        hp = self.hog_params
        mask = cell_mask(tuple(roi_shape), hp.get("pixels_per_cell", (32, 32)), *self.regions)
        keep = feature_keep(mask, hp.get("orientations", 8), hp.get("cells_per_block", (1, 1)))
        return mask, keep

    # ------------------------------------------------------------------ the pass

    def spec(self, roi_shape: tuple[int, int], alignment: Alignment | None,
             calibration: PassCalibration | None = None, *,
             drift_every: int | None = None) -> FaceSpec:
        """What the one pass needs for a session (``drift_every``: live measures every
        frame)."""
        return FaceSpec(tuple(roi_shape), self.hog_params, alignment or Alignment(0),
                        self.drift_every if drift_every is None else drift_every,
                        self.quality, calibration)

    def calibrate(self, baseline_frames: np.ndarray, roi_shape: tuple[int, int],
                  alignment: Alignment | None) -> PassCalibration | None:
        """The pass's neutral HOG and occlusion reference from a session's baseline frames at
        its region (None: quality off)."""
        if self.quality is None:
            return None
        return calibrate(baseline_frames, self.spec(roi_shape, alignment))

    def load_kernels(self, roi_shapes: Iterable[tuple[int, int]] | None = None, *,
                     part: str = "all", beside: bool = False) -> None:
        """Compile the pass's Numba kernels, or load them from Numba's on-disk cache.

        Runs the pass over a tiny synthetic session read with this setup (its HOG
        parameters, alignment, drift and quality measures), so that what the first frames
        would otherwise pay (seconds of compiling on a first run, a fraction of a second of
        loading the cache after) is paid here, once, and a run can time it as a stage of its
        own; then the kernels that run on some frames only (HOG's pending pixels, the
        occlusion test), the registration table's float warp and the motion energy. The
        kernels are compiled with ``cache=True``: a second process loads them.

        ``roi_shapes``: the (h, w) of the ROIs the run will read, if known: the synthetic
        session has the first one's size, and the occlusion test's kernel is compiled for the
        pixels those crops give it (their own or binned, see
        :func:`~mouseface.features.facepass.occlusion_bin`) rather than both. ``part``:
        ``"pass"`` the synthetic pass only, ``"other"`` the kernels after it only (two
        processes can compile the two at once), ``"all"`` both. ``beside`` (with ``"all"``):
        when the cache lacks the kernels after the pass (a first run), a second process
        compiles them (:func:`compile_beside`) while this one compiles the pass's, and this
        one then loads them.
        """
        if part not in ("all", "pass", "other"):
            raise ValueError(f"part must be 'all', 'pass' or 'other', got {part!r}")
        helper = compile_beside() if beside and part == "all" else None
        if helper is not None:
            try:
                self.load_kernels(roi_shapes, part="pass")
                helper.wait(timeout=_BESIDE_TIMEOUT_S)
            except subprocess.TimeoutExpired:  # whatever it left, this process compiles
                pass
            finally:  # a failure or Ctrl-C here leaves no process compiling behind
                if helper.poll() is None:
                    helper.kill()
                    helper.wait()
            part = "other"
        shapes = None if roi_shapes is None else [(int(h), int(w)) for h, w in roi_shapes]
        hp = self.hog_params
        ppc, cpb = hp.get("pixels_per_cell", (32, 32)), hp.get("cells_per_block", (1, 1))
        ppc = (ppc, ppc) if np.isscalar(ppc) else ppc
        # big enough for a block; without ROIs, for the occlusion test's binning (> 1 at 160)
        roi = tuple(max(size, 2 * c * b) for size, c, b in
                    zip(shapes[0] if shapes else (160, 160), ppc, cpb, strict=True))
        rng = np.random.default_rng(0)
        frames = rng.integers(0, 256, (4, *self.region_shape(roi)), dtype=np.uint8)
        if part != "other":
            # a template a pixel off makes a real (not identity) transform
            template = np.roll(frames[0], 1, axis=1) if self.align != "none" else None
            alignment = self.alignment(frames[0], template, None)
            spec = self.spec(roi, alignment, self.calibrate(frames, roi, alignment))
            p = FacePass(spec)
            p.push(frames, np.arange(len(frames)), np.arange(len(frames)) / 30.0)
            p.flush()
        if part == "pass":
            return
        if self.quality is not None:  # runs only on frames far from neutral: load it here
            binned = ({True, False} if shapes is None else
                      {occlusion_bin(shape, self.quality) > 1 for shape in shapes})
            # a small corner: the kernel's types, not the crop's size, decide its compile (a
            # 400-px crop's reference alone takes ~1 s of min/max filtering)
            reference = occlusion_reference(frames[:, :32, :32])
            for face in (reference.median.astype(np.uint8), reference.median):
                if (face.dtype != np.uint8) in binned:
                    occlusion_area(face[None], reference)
        region_motion(frames[1:], frames[0])
        # the registration table's scores: the references in float64 (alignment_score)
        warp_frames(frames[0].astype(np.float64), None)
        load_pending_kernels()

    # ------------------------------------------------------------------ quality

    def quality_table(self, measures: dict[str, np.ndarray], time: np.ndarray,
                      baseline: np.ndarray, large_shift: np.ndarray | None = None
                      ) -> tuple[pd.DataFrame, tuple[float, float]]:
        """A session's quality columns and its baseline's distance spread
        (:func:`~mouseface.features.quality.session_quality` with this setup's thresholds)."""
        return session_quality(measures, time, baseline, large_shift,
                               min_area=self.min_area, min_z=self.min_z)

    def causal_quality(self, spread: tuple[float, float], blur: float,
                       interval: float) -> CausalQuality:
        """The frame-by-frame flags judged against calibration frames (``live``)."""
        return CausalQuality(float(spread[0]), float(spread[1]), float(blur), float(interval),
                             min_area=self.min_area, min_z=self.min_z)

    def drift_table(self, shifts: np.ndarray) -> pd.DataFrame:
        """The drift columns of ``frames.parquet`` (``large_shift`` beyond the threshold)."""
        from mouseface.features.drift import drift_table

        return drift_table(shifts, self.shift_threshold)


#: how long a first run waits for :func:`compile_beside`'s process (it takes seconds)
_BESIDE_TIMEOUT_S = 600.0


def compile_beside() -> subprocess.Popen | None:
    """A second Python process that compiles the kernels the run uses after its pass
    (:meth:`FaceSetup.load_kernels`' part ``"other"``) into Numba's on-disk cache and exits,
    when the cache lacks them for this source (a first run, or a new version); None when it
    holds them or cannot be read (the caller then loads or compiles them itself).

    A first run then compiles the two parts at once, on two cores: the pass's here, the others
    there (the compile stage of the benchmark's first run: 21 -> 15-16 s). The process
    compiles for the default settings and both occlusion variants: a kernel's compile depends
    on the types of its arguments only, and whatever it does not leave in the cache, the
    caller compiles.
    """
    from mouseface.features.hog import _add_pending
    from mouseface.features.quality import _occlusion_areas

    try:
        if all(kernel._cache._cache_file._load_index() for kernel in
               (_occlusion_areas, _add_pending)):  # Numba's index of the source's overloads
            return None
    except Exception:  # noqa: BLE001 - Numba's internals moved: as if cached
        return None
    # where this package was found, last: before the interpreter's own folders it could
    # shadow the standard library; a different copy found first only wastes the process
    code = (f"import sys; sys.path.append({str(Path(__file__).resolve().parents[2])!r}); "
            "from mouseface.features.face_setup import _compile_other; _compile_other()")
    try:
        return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def _compile_other() -> None:
    """:func:`compile_beside`'s process."""
    FaceSetup.from_settings(Settings(), scope="animal").load_kernels(part="other")
