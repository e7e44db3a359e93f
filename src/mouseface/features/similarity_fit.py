"""Placement between sessions and animals: a similarity transform from a session's reference
face onto a template face.

Head plate, camera and animal size differ between sessions: a similarity transform
(translation, rotation, scale) from each session's reference face to a template face
(:func:`estimate_similarity_transform`; templates of several faces: :func:`mean_template`),
applied to the frames before the ROI is cut (:func:`mouseface.features.warp.warp_frames`), so
the crop covers the same part of every face. :func:`alignment_score` says how well two faces
line up.

The transform maps *moving* (session) coordinates onto *template* coordinates (see
:mod:`mouseface.features.warp`). Rotations are counter-clockwise on screen, in degrees where
this module reports them (``np.rad2deg(tform.rotation)``), the convention of
``skimage.transform.rotate``.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage

if TYPE_CHECKING:  # scikit-image's transforms load SciPy's spatial module: imported when used
    from skimage.transform import SimilarityTransform

from mouseface.features.drift import _hann, estimate_shifts
from mouseface.features.warp import _check_roi, _crop, _Roi, warp_frames

__all__ = ["estimate_similarity_transform", "alignment_score", "transform_summary",
           "mean_template"]


def _similarity(rotation: float, scale: float, translation, centre) -> SimilarityTransform:
    """Rotation (rad) and scale about ``centre`` (x, y), then ``translation``."""
    from skimage.transform import SimilarityTransform

    c = SimilarityTransform(translation=-np.asarray(centre, dtype=float))
    rs = SimilarityTransform(rotation=rotation, scale=scale)
    back = SimilarityTransform(translation=np.asarray(centre, dtype=float)
                               + np.asarray(translation, dtype=float))
    return SimilarityTransform(matrix=back.params @ rs.params @ c.params)


def alignment_score(moving: np.ndarray, template: np.ndarray,
                    transform: SimilarityTransform | None = None,
                    roi: _Roi | None = None) -> float:
    """Pearson correlation between the template's ROI and the moving image warped onto it.

    1 is a perfect match up to brightness and contrast; used to choose between candidate
    transforms and in the registration QC.

    Examples
    --------
    >>> img = np.random.default_rng(0).random((20, 20))
    >>> round(alignment_score(img, img), 3)
    1.0
    """
    t = np.asarray(template, dtype=np.float64)
    roi = _check_roi(roi, t.shape)
    w = warp_frames(np.asarray(moving, dtype=np.float64), transform, roi, output_shape=t.shape)
    a = w.ravel() - w.mean()
    b = _crop(t, roi).ravel()
    b = b - b.mean()
    den = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / den) if den > 0 else float("nan")


def _log_polar_rotation_scale(moving: np.ndarray, template: np.ndarray,
                              upsample_factor: int) -> tuple[float, float]:
    """Rotation (deg, ccw on screen) and scale of ``moving`` relative to ``template``.

    Fourier-Mellin: the magnitude spectrum ignores translation; in log-polar coordinates a
    rotation is a shift along the angle axis and a scale a shift along log-radius.
    """
    from skimage.registration import phase_cross_correlation
    from skimage.transform import warp_polar

    h, w = template.shape
    win = _hann((h, w))

    def spectrum(img):
        f = np.abs(np.fft.fftshift(np.fft.fft2((img - img.mean()) * win)))
        # emphasise mid frequencies (the low ones are the window and the face's blob shape)
        fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
        fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
        r = np.hypot(fy, fx)
        return np.log1p(f) * (1 - np.cos(np.pi * np.clip(r / 0.5, 0, 1))) / 2

    radius = min(h, w) // 2
    n_angles = 360
    lp_t = warp_polar(spectrum(template), radius=radius, output_shape=(n_angles, radius),
                      scaling="log", order=1)[: n_angles // 2]
    lp_m = warp_polar(spectrum(moving), radius=radius, output_shape=(n_angles, radius),
                      scaling="log", order=1)[: n_angles // 2]
    with warnings.catch_warnings():  # a featureless image: no RMS error, shift 0
        warnings.simplefilter("ignore", UserWarning)
        shift, _, _ = phase_cross_correlation(lp_t, lp_m, upsample_factor=upsample_factor,
                                              normalization=None)
    # moving rotated ccw on screen by a -> its spectrum rows shift by -a (warp_polar's angle
    # runs clockwise on screen); moving scaled by s -> log-radius shift of -log(s) * klog
    klog = radius / math.log(radius)
    angle = float(shift[0]) * 360.0 / n_angles
    angle = (angle + 90.0) % 180.0 - 90.0
    return angle, math.exp(float(shift[1]) / klog)


def _translation(moving: np.ndarray, template: np.ndarray, roi: _Roi,
                 base: SimilarityTransform, upsample_factor: int,
                 normalization: str | None) -> SimilarityTransform:
    """Refine ``base`` (moving -> template) by the translation phase correlation finds."""
    from skimage.transform import SimilarityTransform

    warped = warp_frames(moving, base, roi, output_shape=template.shape)
    d = estimate_shifts(warped, _crop(template, roi), upsample_factor,
                        normalization=normalization)
    # warped content sits d away from the template's: move it back by -d
    return SimilarityTransform(matrix=SimilarityTransform(translation=(-d[1], -d[0])).params
                               @ base.params)


def _refine(moving: np.ndarray, template: np.ndarray, roi: _Roi, init: SimilarityTransform,
            *, rotation: bool, scale: bool, sigma: float, n_iter: int = 60
            ) -> SimilarityTransform:
    """Gauss-Newton (Lucas-Kanade) fit of a similarity transform with gain and offset.

    Minimises sum over the template's ROI of ``(T(x) - g * M(W(x)) - c)^2`` where ``W`` maps
    template to moving coordinates; parameters rotation, log-scale, translation, g, c.
    """
    from skimage.transform import SimilarityTransform

    m = ndimage.gaussian_filter(moving.astype(np.float64), sigma) if sigma > 0 else moving
    t = ndimage.gaussian_filter(template.astype(np.float64), sigma) if sigma > 0 else template
    gy, gx = np.gradient(m)
    x0, y0, w, h = roi
    yy, xx = np.mgrid[y0:y0 + h, x0:x0 + w].astype(np.float64)
    cx, cy = x0 + (w - 1) / 2.0, y0 + (h - 1) / 2.0
    px, py = xx.ravel() - cx, yy.ravel() - cy
    tv = t[y0:y0 + h, x0:x0 + w].ravel()
    inv = init.inverse  # template -> moving
    a = inv.params
    # parameters of W(p) = s R(th) (p - c) + c + tr, from the initial inverse map
    s0 = math.hypot(a[0, 0], a[1, 0])
    th = math.atan2(a[1, 0], a[0, 0])
    cvec = np.array([cx, cy])
    tr = a[:2, :2] @ cvec + a[:2, 2] - cvec
    params = np.array([th, math.log(s0), tr[0], tr[1]])
    free = np.array([rotation, scale, True, True])
    hm, wm = m.shape

    def sample(img, X, Y):
        return ndimage.map_coordinates(img, [Y, X], order=1, mode="nearest")

    prev = np.inf
    for _ in range(n_iter):
        th, ls, tx, ty = params
        s = math.exp(ls)
        cs, sn = math.cos(th), math.sin(th)
        X = s * (cs * px - sn * py) + cx + tx
        Y = s * (sn * px + cs * py) + cy + ty
        ok = (X >= 0) & (wm - 1 >= X) & (Y >= 0) & (hm - 1 >= Y)
        if ok.sum() < 0.5 * len(X):
            break
        mv = sample(m, X, Y)
        # photometric fit: T ~ g * M + c on the pixels inside
        A = np.column_stack([mv[ok], np.ones(ok.sum())])
        (g, c), *_ = np.linalg.lstsq(A, tv[ok], rcond=None)
        r = (tv - g * mv - c)[ok]
        err = float(r @ r)
        if err > prev * (1 + 1e-9):
            break
        prev = err
        ix, iy = g * sample(gx, X, Y)[ok], g * sample(gy, X, Y)[ok]
        qx, qy = px[ok], py[ok]
        # dW/dtheta = s R'(th) p, dW/dlogs = s R(th) p
        dxt, dyt = s * (-sn * qx - cs * qy), s * (cs * qx - sn * qy)
        dxs, dys = s * (cs * qx - sn * qy), s * (sn * qx + cs * qy)
        J = np.column_stack([ix * dxt + iy * dyt, ix * dxs + iy * dys, ix, iy])[:, free]
        step, *_ = np.linalg.lstsq(J, r, rcond=None)
        full = np.zeros(4)
        full[free] = step
        params = params + full
        if np.abs(full[2:]).max() < 1e-4 and np.abs(full[:2]).max() < 1e-6:
            break
    th, ls, tx, ty = params
    w_map = _similarity(th, math.exp(ls), (tx, ty), (cx, cy))  # template -> moving
    return SimilarityTransform(matrix=np.linalg.inv(w_map.params))


def estimate_similarity_transform(
    moving: np.ndarray,
    template: np.ndarray,
    *,
    roi: _Roi | None = None,
    rotation: bool = True,
    scale: bool = True,
    max_rotation: float = 20.0,
    max_scale: float = 1.3,
    refine: bool = True,
    sigma: float = 1.0,
    upsample_factor: int = 20,
) -> SimilarityTransform:
    """Similarity transform (translation, rotation, scale) from a face to a template face.

    Coarse, then fine: (1) rotation and scale from the log-polar magnitude spectra
    (Fourier-Mellin; translation does not change a magnitude spectrum), (2) translation by
    phase correlation after undoing them, (3) a Gauss-Newton (Lucas-Kanade) refinement of all
    four parameters, with a gain and an offset for illumination, on lightly smoothed images.
    Every candidate (translation only, coarse, refined) is scored by :func:`alignment_score`
    on the template's ROI and the best is returned, so a step that fails (a spectrum too weak
    to show a rotation, a refinement that wanders) falls back to the simpler answer.

    Parameters
    ----------
    moving : (H, W) array
        The session's reference face (:func:`reference_face` of its baseline frames), full
        frame or a region around the face.
    template : (H', W') array
        The template face (the animal's first session, or a reference animal).
    roi : (x, y, w, h), optional
        Template pixels that count (the face crop, with a margin); default the whole
        template. The coarse steps compare the same box of both images, so ``moving`` must
        contain it too.
    rotation, scale
        Estimate rotation and scale; with both False the transform is a translation.
    max_rotation, max_scale
        Coarse estimates beyond these (degrees; factor either way) are discarded.
    refine
        Run the Gauss-Newton refinement.
    sigma
        Gaussian smoothing (pixels) of both images for the refinement.
    upsample_factor
        Sub-pixel precision of the phase correlations.

    Returns
    -------
    skimage.transform.SimilarityTransform
        Maps moving (x, y) onto template (x, y). ``np.rad2deg(t.rotation)`` is the moving
        face's rotation relative to the template, counter-clockwise on screen; ``t.scale``
        the template's size over the moving face's; ``t.inverse(c) - c`` for the template's
        centre ``c`` where that centre sits in the moving image.

    Notes
    -----
    ECC (Evangelidis & Psarakis 2008) is not in scikit-image and OpenCV is not a dependency;
    the refinement here is the same idea (intensity-based, photometrically invariant) as a
    plain least-squares fit. Feature matching (ORB + RANSAC) was not chosen: a small, smooth,
    low-texture face crop (80 x 64 px in the DER videos) yields too few stable keypoints.

    Examples
    --------
    >>> from skimage.transform import rotate
    >>> rng = np.random.default_rng(0)
    >>> face = ndimage.gaussian_filter(rng.random((96, 96)), 3)
    >>> moved = ndimage.shift(rotate(face, 3.0, mode="edge"), (2.0, -1.0), mode="nearest")
    >>> t = estimate_similarity_transform(moved, face, roi=(16, 16, 64, 64))
    >>> round(float(np.rad2deg(t.rotation)), 1), round(float(t.scale), 2)
    (3.0, 1.0)
    """
    from skimage.transform import SimilarityTransform

    m = np.asarray(moving, dtype=np.float64)
    t = np.asarray(template, dtype=np.float64)
    if m.ndim != 2 or t.ndim != 2:
        raise ValueError(f"moving and template must be single grayscale images (H, W); got "
                         f"shapes {m.shape} and {t.shape}")
    roi = _check_roi(roi, t.shape)
    _check_roi(roi, m.shape, "roi (in the moving image)")
    x0, y0, w, h = roi
    if min(w, h) < 16:
        raise ValueError(f"roi {roi} is too small to register: it needs at least 16 x 16 px")
    centre = (x0 + (w - 1) / 2.0, y0 + (h - 1) / 2.0)
    mc, tc = _crop(m, roi), _crop(t, roi)

    # whitened (phase) correlation locks onto fine detail, plain correlation onto the face's
    # overall shape (more robust between animals): keep both and let the fit decide
    norms = ("phase", None)
    candidates = [_translation(m, t, roi, SimilarityTransform(), upsample_factor, nm)
                  for nm in norms]
    if rotation or scale:
        angle, s = _log_polar_rotation_scale(mc, tc, upsample_factor)
        angle = angle if rotation else 0.0
        s = s if scale else 1.0
        if abs(angle) <= max_rotation and 1 / max_scale <= s <= max_scale:
            # moving rotated ccw by angle and scaled by s: undo both about the ROI centre
            rs = _similarity(math.radians(angle), 1.0 / s, (0.0, 0.0), centre)
            candidates += [_translation(m, t, roi, rs, upsample_factor, nm) for nm in norms]
    if refine:
        start = max(candidates, key=lambda c: alignment_score(m, t, c, roi))
        try:
            coarse = _refine(m, t, roi, start, rotation=rotation, scale=scale,
                             sigma=max(3.0 * sigma, 2.0))
            candidates.append(_refine(m, t, roi, coarse, rotation=rotation, scale=scale,
                                      sigma=sigma))
        except (np.linalg.LinAlgError, ValueError, OverflowError):  # pragma: no cover
            pass
    ok = [c for c in candidates
          if abs(math.degrees(c.rotation)) <= max_rotation
          and 1 / max_scale <= c.scale <= max_scale]
    scores = [alignment_score(m, t, c, roi) for c in ok]
    best = ok[int(np.nanargmax(scores))] if ok and not np.all(np.isnan(scores)) else \
        candidates[0]
    return best


def transform_summary(transform: SimilarityTransform, centre: tuple[float, float]) -> dict:
    """Readable numbers of a transform: rotation (deg), scale, and the displacement of
    ``centre`` (x, y) of the template in the moving image, ``dx``, ``dy`` (pixels).

    Examples
    --------
    >>> from skimage.transform import SimilarityTransform
    >>> transform_summary(SimilarityTransform(translation=(-2, 1)), (10, 10))
    {'rotation_deg': 0.0, 'scale': 1.0, 'dx': 2.0, 'dy': -1.0}
    """
    c = np.asarray(centre, dtype=float)
    d = transform.inverse(c[None])[0] - c
    return {"rotation_deg": round(float(np.rad2deg(transform.rotation)), 4),
            "scale": round(float(transform.scale), 5),
            "dx": round(float(d[0]), 4), "dy": round(float(d[1]), 4)}


def mean_template(
    faces: list[np.ndarray] | np.ndarray,
    *,
    roi: _Roi | None = None,
    start: int = 0,
    **kwargs,
) -> tuple[np.ndarray, list[SimilarityTransform]]:
    """A template face: the mean of several reference faces registered to one of them.

    Averaging the aligned faces of several sessions or animals gives a template that favours
    no single animal's shape (a model fitted on several animals keeps it, and new animals are
    registered to it).

    Parameters
    ----------
    faces : sequence of (H, W) arrays
        Reference faces (one per session or animal), all the same size.
    roi
        The region that counts in the registration (see
        :func:`estimate_similarity_transform`).
    start
        Index of the face the others are first registered to.
    **kwargs
        Passed to :func:`estimate_similarity_transform` (e.g. ``rotation=False``).

    Returns
    -------
    template : (H, W) float32
    transforms : list of SimilarityTransform
        Each face's transform onto ``faces[start]`` (and so onto the template's grid).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> face = ndimage.gaussian_filter(rng.random((48, 48)), 2)
    >>> moved = ndimage.shift(face, (0, 2), mode="nearest")
    >>> template, ts = mean_template([face, moved], rotation=False, scale=False)
    >>> round(float(ts[1].translation[0]), 1)
    -2.0
    """
    from skimage.transform import SimilarityTransform

    faces = [np.asarray(f, dtype=np.float64) for f in faces]
    if not faces:
        raise ValueError("no faces to build a template from")
    ref = faces[start]
    if any(f.shape != ref.shape for f in faces):
        raise ValueError(f"faces differ in size: {sorted({f.shape for f in faces})}")
    transforms = [SimilarityTransform() if i == start
                  else estimate_similarity_transform(f, ref, roi=roi, **kwargs)
                  for i, f in enumerate(faces)]
    warped = [warp_frames(f, t, None) for f, t in zip(faces, transforms, strict=True)]
    return np.mean(warped, axis=0).astype(np.float32), transforms
