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
from mouseface.features.warp import expand_roi, warp_frames
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
