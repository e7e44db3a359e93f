"""Registration: drift by phase correlation, similarity transforms, warping before the crop."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.transform import SimilarityTransform, warp

from mouseface.features.drift import (
    drift_columns,
    drift_table,
    estimate_shifts,
    reference_face,
    shift_frames,
)
from mouseface.features.similarity_fit import (
    estimate_similarity_transform,
    mean_template,
    transform_summary,
)
from mouseface.features.warp import _block_means, block_means, expand_roi, warp_frames
from mouseface.synth import Pose, make_animal, render_face

SIZE = (160, 160)
CENTRE = ((SIZE[1] - 1) / 2, (SIZE[0] - 1) / 2)
ROI = (16, 16, 128, 128)


@pytest.fixture(scope="module")
def animal():
    return make_animal(np.random.default_rng(3))


def face(animal, rng, pose=Pose(), state="neutral", intensity=0.0):
    return render_face(state, intensity, size=SIZE, animal=animal, noise_std=2.5, rng=rng,
                       pose=pose)


def test_shifts_of_synthetic_faces_within_a_pixel(animal):
    rng = np.random.default_rng(0)
    ref = face(animal, rng).astype(np.float32)
    truth = rng.uniform(-4, 4, (12, 2))
    frames = np.stack([face(animal, rng, Pose(dx, dy, 0.0)) for dy, dx in truth])
    est = estimate_shifts(frames, ref)
    assert est.shape == (12, 2)
    assert np.abs(est - truth).max() < 0.5  # acceptance: 1 px


def test_shifts_subpixel_exact_on_fourier_shifted_texture():
    rng = np.random.default_rng(1)
    ref = ndimage.gaussian_filter(rng.random((48, 64)), 1.5)
    truth = np.array([[0.3, -1.7], [-2.4, 0.0], [5.0, 3.1]])
    frames = np.stack([np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(ref), d)).real
                       for d in truth])
    est = estimate_shifts(frames, ref, upsample_factor=20, window=False)
    assert np.abs(est - truth).max() <= 0.05
    whole = estimate_shifts(frames, ref, upsample_factor=1, window=False)
    assert np.array_equal(whole, np.rint(whole))



def test_whitening_kernel_divides_as_numpy_bit_for_bit():
    """The phase correlation's whitening (compiled, in place) gives the bits of NumPy's
    ``prod /= np.maximum(np.abs(prod), floor)``: spectra over many magnitudes, exact zeros
    of either sign, values under the floor, a NaN (its frame all NaN)."""
    from mouseface.features.drift import _whiten

    rng = np.random.default_rng(8)
    shape = (4, 40, 21)
    prod = (rng.normal(size=shape) * np.exp2(rng.integers(-40, 40, shape))
            + 1j * rng.normal(size=shape) * np.exp2(rng.integers(-40, 40, shape))
            ).astype(np.complex64)
    prod[0, :4] = 0
    prod[1, :4] = -0.0 + 1j
    prod[2, :4] = np.complex64(-0.0 - 0.0j)
    prod[3, 5, 7] = np.nan
    mag = np.abs(prod)
    floor = np.float32(1e-6) * mag.max(axis=(1, 2)) + np.float32(1e-30)
    with np.errstate(invalid="ignore"):
        want = prod / np.maximum(mag, floor[:, None, None])
    _whiten(prod.view(np.float32), mag, floor)
    assert prod.tobytes() == want.tobytes()

def test_shift_frames_undoes_integer_shift_exactly_and_keeps_dtype():
    rng = np.random.default_rng(2)
    img = rng.integers(0, 255, (30, 40)).astype(np.uint8)
    moved = np.roll(img, (2, -3), axis=(0, 1))  # content moved down 2, left 3
    back = shift_frames(moved[None], [[2, -3]])
    assert back.dtype == np.uint8
    assert np.array_equal(back[0, :28, 3:], img[:28, 3:])
    # border: edge pixels repeat ('edge'), or cval ('constant')
    const = shift_frames(moved, [2, -3], mode="constant", cval=7)
    assert (const[28:] == 7).all()


def test_drift_table_flags_large_shifts():
    t = drift_table(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), threshold=2.0)
    assert list(t.columns) == ["shift_y", "shift_x", "shift", "large_shift"]
    assert t["large_shift"].tolist() == [False, False, True]
    # the live loop's columns without the table: the same values
    cols = drift_columns(np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]), threshold=2.0)
    for name, values in cols.items():
        np.testing.assert_array_equal(values, t[name].to_numpy())


def test_similarity_transform_recovers_synthetic_pose(animal):
    """Acceptance: known shifts within 1 px and rotations within 1 degree."""
    rng = np.random.default_rng(4)
    ref = face(animal, rng)
    for dx, dy, rot in [(2.5, -1.5, 3.0), (-3.2, 0.7, -4.0), (0.4, 3.6, 1.2)]:
        img = face(animal, rng, Pose(dx, dy, rot))
        t = estimate_similarity_transform(img, ref, roi=ROI)
        s = transform_summary(t, CENTRE)
        assert abs(s["dx"] - dx) < 0.3 and abs(s["dy"] - dy) < 0.3
        assert abs(s["rotation_deg"] - rot) < 0.3
        assert abs(s["scale"] - 1) < 0.01


def test_similarity_transform_recovers_scale():
    rng = np.random.default_rng(5)
    ref = render_face("neutral", 0.0, size=SIZE, animal=make_animal(rng))
    c = np.asarray(CENTRE)
    true = SimilarityTransform(matrix=SimilarityTransform(translation=c).params
                               @ SimilarityTransform(rotation=np.deg2rad(-5), scale=1.08).params
                               @ SimilarityTransform(translation=-c).params)
    moving = warp(ref.astype(float), true.inverse, mode="edge", preserve_range=True)
    t = estimate_similarity_transform(moving, ref, roi=ROI)
    # moving -> template is the inverse of the template -> moving map
    assert abs(np.rad2deg(t.rotation) - 5) < 0.2
    assert abs(t.scale - 1 / 1.08) < 0.005


def test_translation_only_and_fallback(animal):
    rng = np.random.default_rng(6)
    ref = face(animal, rng)
    img = face(animal, rng, Pose(3.0, -2.0, 0.0))
    t = estimate_similarity_transform(img, ref, roi=ROI, rotation=False, scale=False)
    assert t.rotation == 0 and t.scale == pytest.approx(1.0)
    assert transform_summary(t, CENTRE)["dx"] == pytest.approx(3.0, abs=0.3)
    # a featureless image cannot be registered: the answer stays bounded and finite
    flat = np.full(SIZE, 100.0)
    t = estimate_similarity_transform(flat, ref, roi=ROI)
    assert np.isfinite(t.params).all()
    assert abs(np.rad2deg(t.rotation)) <= 20


def test_warp_frames_before_crop_matches_skimage_warp(animal):
    rng = np.random.default_rng(7)
    frames = np.stack([face(animal, rng, Pose(2.0, 1.0, 2.0)) for _ in range(3)])
    t = SimilarityTransform(rotation=np.deg2rad(2.0), translation=(-3.0, 2.0))
    out = warp_frames(frames, t, (20, 30, 80, 64))
    assert out.shape == (3, 64, 80) and out.dtype == np.uint8
    full = warp(frames[0].astype(float), t.inverse, order=1, mode="edge",
                preserve_range=True)
    assert np.abs(out[0].astype(float) - full[30:94, 20:100]).max() <= 1.0


def test_warp_frames_with_per_frame_drift():
    rng = np.random.default_rng(8)
    ref = ndimage.gaussian_filter(rng.random((50, 60)), 2)
    shifts = np.array([[1.0, 2.0], [-2.0, 0.0]])
    frames = np.stack([ndimage.shift(ref, d, order=1, mode="nearest") for d in shifts])
    out = warp_frames(frames, None, (10, 10, 30, 20), shifts=shifts)
    assert np.allclose(out, ref[10:30, 10:40], atol=1e-9)


def _bilinear_translation(frames, offset, shifts, roi):
    """The translation kernel's arithmetic written out in NumPy: clamped source pixels and
    weights per axis, one weight for the unclamped columns, rows then columns, rounded."""
    x0, y0, w, h = roi
    n, hi, wi = frames.shape

    def axis(start, off, size, n_in):
        v = np.arange(start, start + size) + off
        rv = np.rint(v)
        v = np.where(np.abs(v - rv) < 1e-9, rv, v)
        v = np.clip(v, 0.0, n_in - 1.0)
        a = np.minimum(v.astype(np.int64), max(n_in - 2, 0))
        return a, np.minimum(a + 1, n_in - 1), v - a

    out = np.empty((n, h, w), frames.dtype)
    for i in range(n):
        ya, yb, fy = axis(y0, offset[1] + shifts[i, 0], h, hi)
        xa, xb, fx = axis(x0, offset[0] + shifts[i, 1], w, wi)
        run = np.flatnonzero((xb == xa + 1) & (xa > 0) & (xa < wi - 2))
        if len(run):  # the kernel's interior: one weight, while xa advances by one
            stop = run[0] + 1
            while stop < w and stop in run and xa[stop] == xa[run[0]] + stop - run[0]:
                stop += 1
            fx = fx.copy()
            fx[run[0]:stop] = fx[run[0]]
        src = frames[i].astype(np.float64)
        rows = src[:, xa] * (1.0 - fx) + src[:, xb] * fx  # every source row along x
        v = rows[ya] * (1.0 - fy)[:, None] + rows[yb] * fy[:, None]
        out[i] = np.clip(np.rint(v), 0, np.iinfo(frames.dtype).max)
    return out


def test_translation_kernel_is_the_bilinear_formula_bit_for_bit():
    """Each source row interpolated along x once per frame, reused for two output rows: the
    same bits as the formula, also where shifts clamp rows and columns at the edges."""
    rng = np.random.default_rng(11)
    frames = rng.integers(0, 256, (6, 30, 37), dtype=np.uint8)
    shifts = np.array([[0.3, -0.7], [2.5, 1.25], [-9.6, 12.2], [40.0, -3.5], [0.0, 0.0],
                       [-0.5, -31.9]])
    for roi in ((3, 4, 25, 20), (0, 0, 37, 30)):
        for t in (None, SimilarityTransform(translation=(-1.5, 0.75))):
            got = warp_frames(frames, t, roi, shifts=shifts)
            offset = (0.0, 0.0) if t is None else -t.params[:2, 2]
            np.testing.assert_array_equal(got, _bilinear_translation(frames, offset, shifts,
                                                                     roi))


def test_block_means_of_uint8_crops_in_place_equal_the_general_kernel():
    """Block sums of uint8 pixels are exact integers: the in-place kernel (a crop of a
    subset of frames, no copy; 16-bit sums, strides of 2-5 written out) gives the float32
    kernel's bits, up to the largest block it takes and beyond."""
    rng = np.random.default_rng(12)
    frames = rng.integers(0, 256, (5, 47, 53), dtype=np.uint8)
    frames[1] = 255
    for b, (x0, y0), select in ((3, (0, 0), None), (5, (2, 7), np.array([4, 1])),
                                (1, (1, 1), np.array([0])), (2, (1, 0), None),
                                (4, (0, 3), None), (7, (3, 1), None), (16, (0, 0), None),
                                (17, (0, 0), None)):  # 16 x 16 uint8 sums still fit 16 bits
        h, w = (40 - y0) // b, (50 - x0) // b
        sel = np.arange(5) if select is None else select
        want = np.empty((len(sel), h, w), np.float32)
        _block_means(np.ascontiguousarray(frames[sel, y0:y0 + h * b, x0:x0 + w * b]), b, want)
        got = block_means(frames, b, np.empty_like(want), y0, x0, select)
        np.testing.assert_array_equal(got, want)
        assert got.dtype == np.float32


def test_mean_template_and_expand_roi(animal):
    rng = np.random.default_rng(9)
    faces = [face(animal, rng, Pose(dx, 0.0, 0.0)).astype(np.float32) for dx in (0, 2, -2)]
    template, ts = mean_template(faces, roi=ROI, rotation=False, scale=False)
    assert template.shape == SIZE
    assert [round(float(t.translation[0])) for t in ts] == [0, -2, 2]
    assert expand_roi((5, 5, 10, 10), 8, (20, 30)) == (0, 0, 23, 20)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="reference has shape"):
        estimate_shifts(np.zeros((2, 8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match="normalization"):
        estimate_shifts(np.zeros((8, 8)), np.zeros((8, 8)), normalization="x")
    with pytest.raises(ValueError, match="does not fit"):
        warp_frames(np.zeros((8, 8)), None, (4, 4, 8, 8))
    with pytest.raises(ValueError, match="too small"):
        estimate_similarity_transform(np.zeros((40, 40)), np.zeros((40, 40)),
                                          roi=(0, 0, 10, 10))
    with pytest.raises(ValueError, match="baseline"):
        reference_face(np.zeros((0, 4, 4)))
    with pytest.raises(ValueError, match="shifts for"):
        shift_frames(np.zeros((3, 4, 4)), np.zeros((2, 2)))


def test_registration_qc_figure(tmp_path, animal):
    from mouseface.report.registration_figures import registration_qc

    rng = np.random.default_rng(10)
    ref = face(animal, rng)
    moved = [face(animal, rng, Pose(3.0, -2.0, 2.0)) for _ in range(2)]
    ts = [estimate_similarity_transform(m, ref, roi=ROI) for m in moved]
    x, y, w, h = ROI
    png = registration_qc([m[y:y + h, x:x + w] for m in moved],
                          [warp_frames(m, t, ROI) for m, t in zip(moved, ts, strict=True)],
                          ref[y:y + h, x:x + w], tmp_path / "qc.png", names=["a", "b"])
    path = tmp_path / "qc.png"
    assert png.startswith(b"\x89PNG") and path.read_bytes() == png and len(png) > 1000


def _find_block(image: np.ndarray, block: np.ndarray) -> list[tuple[int, int]]:
    """Where ``block`` occurs in ``image`` exactly (top-left corners)."""
    bh, bw = block.shape[:2]
    corners = np.argwhere((image[:image.shape[0] - bh + 1, :image.shape[1] - bw + 1]
                           == block[0, 0]).all(axis=-1))
    return [(int(y), int(x)) for y, x in corners
            if np.array_equal(image[y:y + bh, x:x + bw], block)]


@pytest.mark.parametrize(("shape", "factor"), [((20, 30), 8), ((60, 80), 3), ((500, 300), 0),
                                             ((7, 9), 27)])
def test_registration_qc_shows_each_face_pixel_as_it_is(tmp_path, shape, factor):
    # the panels are pasted into the figure unscaled: a small face's pixels become squares
    # of factor x factor screen pixels, a large face is averaged in blocks to ~240 px
    import io

    from PIL import Image

    from mouseface.report import registration_figures as rf

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    template = (yy * 7 + xx * 3 + rng.integers(0, 3, shape)).astype(float)
    moved = [np.roll(template, s, axis=1) for s in (1, 2, 3)]
    names = ["first session", "b", "c"]
    png = rf.registration_qc(moved, [template] * 3, template, tmp_path / "qc.png", names=names,
                             title="animal A")
    labels = [f"{n}\nr {rf._corr(m, template):.2f} -> 1.00" for n, m in zip(names, moved,
                                                                         strict=True)]
    image = rf._mosaic([rf._panels(m, template, template) for m in moved],
                       ["template", "before", "after", "|after - template|"], labels, "animal A")
    lo, hi = np.percentile(template, [1, 99])
    gray = (np.clip((template - lo) / (hi - lo), 0, 1) * 255).round().astype(np.uint8)
    if factor:
        panel = np.repeat(np.repeat(gray, factor, axis=0), factor, axis=1)
        # the template column and the "after" column (which registered onto the template
        # exactly: gray where both agree), in three rows
        assert len(_find_block(image, np.repeat(panel[..., None], 3, axis=-1))) == 6
    else:  # averaged in 2x2 blocks: 250 x 150 panels
        assert image.shape[0] < 3 * (rf.PANEL_PX + 30) + 100
    # the difference after registration is zero: three panels of magma's 0
    size = (shape[0] * factor, shape[1] * factor) if factor else (shape[0] // 2, shape[1] // 2)
    import matplotlib

    zero = (np.array(matplotlib.colormaps["magma"](0.0)[:3]) * 255).round().astype(np.uint8)
    assert len(_find_block(image, np.broadcast_to(zero, (*size, 3)))) == 3
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(png)).convert("RGB")), image)
    assert (tmp_path / "qc.png").read_bytes() == png

