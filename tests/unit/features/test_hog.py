"""The HOG kernel: parity with ``skimage.feature.hog``, shapes, a golden file, and bad input.

Parity is max abs difference <= 1e-5 against scikit-image with the same arguments (the kernel
reproduces scikit-image's float32 accumulation, so the observed differences are ~1e-7).

The golden file ``tests/data/hog_golden_64.npy`` holds ``hog(_golden_frame(), **GOLDEN)`` with
``feature_vector=False`` (shape (3, 3, 2, 2, 8), float32). It was written by::

    import numpy as np
    from skimage.feature import hog as skimage_hog
    from mouseface import hog
    from tests.unit.features.test_hog import GOLDEN, _golden_frame

    frame = _golden_frame()
    out = hog(frame, feature_vector=False, **GOLDEN)
    ref = skimage_hog(frame, feature_vector=False, **GOLDEN)
    assert np.abs(out - ref).max() <= 1e-6
    np.save("tests/data/hog_golden_64.npy", out)

Regenerate it only when a change of the reference (a new scikit-image) is intended.
"""

from __future__ import annotations

import doctest
from pathlib import Path

import numpy as np
import pytest
from skimage.feature import hog as skimage_hog

import mouseface
from mouseface.features import hog as hog_module
from mouseface.features.hog import hog, hog_shape, n_features

REPO = Path(__file__).resolve().parents[3]
REAL = REPO / ".." / "shared" / "data" / "real"
MOUSEFLOW = REAL / "mouseflow_sample" / "sample_body1_20190213_145358892_trim.mp4"
DER = REAL / "der_videos"
GOLDEN_FILE = REPO / "tests" / "data" / "hog_golden_64.npy"
GOLDEN = dict(orientations=8, pixels_per_cell=(16, 16), cells_per_block=(2, 2),
              block_norm="L2-Hys", transform_sqrt=True)
NORMS = ["L1", "L1-sqrt", "L2", "L2-Hys"]
TOL = 1e-5


def _reference(image, orientations=8, pixels_per_cell=(32, 32), cells_per_block=(1, 1),
               block_norm="L2-Hys", transform_sqrt=True, feature_vector=True):
    return skimage_hog(image, orientations=orientations, pixels_per_cell=pixels_per_cell,
                       cells_per_block=cells_per_block, block_norm=block_norm,
                       transform_sqrt=transform_sqrt, feature_vector=feature_vector,
                       channel_axis=None)


def _max_diff(ours, ref) -> float:
    return float(np.max(np.abs(ours.astype(np.float64) - ref)))


def _golden_frame() -> np.ndarray:
    """64x64 uint8 from integer arithmetic only (the same on every platform)."""
    yy, xx = np.mgrid[:64, :64]
    frame = (xx * 7 + yy * 3) % 50 + 100 * (((xx - 40) ** 2 + (yy - 24) ** 2) < 200)
    frame = frame + 60 * (xx > yy)  # a diagonal edge: exact 45-degree gradients
    return frame.astype(np.uint8)


def _random(rng, shape, dtype):
    if dtype == np.uint8:
        return rng.integers(0, 256, shape, dtype=np.uint8)
    return (rng.random(shape) * 255).astype(dtype)


# ------------------------------------------------------------------------------- parity


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("transform_sqrt", [True, False])
@pytest.mark.parametrize("cells_per_block", [(1, 1), (2, 2)])
@pytest.mark.parametrize("cell", [8, 24, 32])
@pytest.mark.parametrize("block_norm", NORMS)
def test_random_frames_match_skimage(block_norm, cell, cells_per_block, transform_sqrt, dtype):
    rng = np.random.default_rng([cell, cells_per_block[0], int(transform_sqrt),
                                 NORMS.index(block_norm)])
    kw = dict(pixels_per_cell=(cell, cell), cells_per_block=cells_per_block,
              block_norm=block_norm, transform_sqrt=transform_sqrt)
    for shape in [(70, 93), (133, 197)]:  # neither a multiple of the cell
        image = _random(rng, shape, dtype)
        ours = hog(image, **kw)
        assert ours.dtype == np.float32
        assert _max_diff(ours, _reference(image, **kw)) <= TOL


@pytest.mark.parametrize("orientations", [1, 3, 7, 8, 9, 12, 14])
def test_orientation_counts_match_skimage(orientations):
    """Edges that are not round numbers (180/7 ...) are compared in float64, as skimage does."""
    rng = np.random.default_rng(orientations)
    image = rng.integers(0, 256, (64, 80), dtype=np.uint8)
    kw = dict(orientations=orientations, pixels_per_cell=(8, 8))
    assert _max_diff(hog(image, **kw), _reference(image, **kw)) <= TOL


@pytest.mark.parametrize("transform_sqrt", [True, False])
@pytest.mark.parametrize("orientations", [8, 7, 12])
def test_gradients_on_bin_edges_match_skimage(orientations, transform_sqrt):
    """Dark integer frames: many gradients lie exactly on an edge (axes, diagonals) or within
    rounding of one (sqrt(2) - 1 = tan 22.5 degrees from pixel values 0, 1, 2), where only
    NumPy's own arctan2 decides the bin."""
    rng = np.random.default_rng(7)
    levels = np.array([0, 1, 2, 4, 8, 9, 18, 32, 50, 72, 98, 128, 162, 200, 242], np.uint8)
    frames = [levels[rng.integers(0, len(levels), (64, 80))],
              rng.integers(0, 3, (64, 80)).astype(np.uint8),
              (rng.integers(0, 4, (64, 80)) * 0.5).astype(np.float32)]
    kw = dict(orientations=orientations, pixels_per_cell=(8, 8), transform_sqrt=transform_sqrt)
    for image in frames:
        assert _max_diff(hog(image, **kw), _reference(image, **kw)) <= TOL


def test_steps_and_ramps_match_skimage():
    """Flat areas, straight and diagonal edges, and the zero-gradient border."""
    yy, xx = np.mgrid[:96, :96]
    frames = [np.zeros((96, 96), np.uint8), (xx > 40).astype(np.uint8) * 200,
              (yy > 40).astype(np.uint8) * 200, ((xx + yy) > 90).astype(np.uint8) * 200,
              ((xx - yy) > 5).astype(np.uint8) * 200, (xx * 2).astype(np.uint8),
              (xx + yy).astype(np.uint8)]
    for image in frames:
        for norm in NORMS:
            kw = dict(pixels_per_cell=(8, 8), cells_per_block=(2, 2), block_norm=norm)
            assert _max_diff(hog(image, **kw), _reference(image, **kw)) <= TOL


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.uint16, np.int32, bool, ">f8"])
def test_other_dtypes_match_skimage(dtype):
    rng = np.random.default_rng(3)
    image = (rng.random((64, 72)) * (1 if dtype is bool else 200)).round().astype(dtype)
    for sqrt in (True, False):
        kw = dict(pixels_per_cell=(8, 8), transform_sqrt=sqrt)
        ours = hog(image, **kw)
        assert ours.dtype == np.float32
        assert _max_diff(ours, _reference(image, **kw)) <= TOL


def test_non_finite_and_negative_pixels_match_skimage():
    """NaN, +-inf, negative (NaN after the square root) and huge pixels: the same NaN cells."""
    rng = np.random.default_rng(4)
    image = rng.random((64, 80))
    image[10, 10], image[30, 40], image[40, 20] = np.nan, np.inf, -np.inf
    image[50, 50], image[20, 60] = -1.0, 1e200
    for sqrt in (True, False):
        kw = dict(pixels_per_cell=(8, 8), transform_sqrt=sqrt)
        with np.errstate(all="ignore"):
            ref = _reference(image, **kw)
        ours = hog(image, **kw)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
        finite = ~np.isnan(ref)
        assert _max_diff(ours[finite], ref[finite]) <= TOL


def test_tiny_and_large_scales_match_skimage():
    rng = np.random.default_rng(5)
    for scale in (1e-40, 1e-20, 1e20):
        image = rng.random((48, 48)) * scale
        kw = dict(pixels_per_cell=(8, 8))
        assert _max_diff(hog(image, **kw), _reference(image, **kw)) <= TOL


def test_numpy_fallbacks_match_skimage(monkeypatch):
    """Force the rarely taken paths: many pixels binned by NumPy afterwards, then every frame
    with such pixels recomputed from NumPy orientations."""
    rng = np.random.default_rng(6)
    batch = rng.integers(0, 256, (3, 64, 80), dtype=np.uint8)
    kw = dict(pixels_per_cell=(8, 8), orientations=9)
    ref = np.stack([_reference(frame, **kw) for frame in batch])
    monkeypatch.setattr(hog_module, "_AMBIGUITY", 0.05)  # ~1 in 10 pixels left to NumPy
    assert _max_diff(hog(batch, **kw), ref) <= TOL
    monkeypatch.setattr(hog_module, "_MAX_AMBIGUOUS", 0)  # every such frame recomputed
    assert _max_diff(hog(batch, **kw), ref) <= TOL


# -------------------------------------------------------------------------- real frames


def _decode(path: Path, n: int, crop) -> np.ndarray:
    av = pytest.importorskip("av")
    if not path.is_file():
        pytest.skip(f"real data not found: {path} (see ../shared/data/real/README.md)")
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            out.append(frame.to_ndarray(format="gray")[crop])
            if len(out) == n:
                break
    return np.stack(out)


@pytest.mark.realdata
def test_real_mouseflow_face_matches_skimage():
    """Face crop (x 540-770, y 150-330) of the MouseFlow sample, paper parameters."""
    faces = _decode(MOUSEFLOW, 4, (slice(150, 330), slice(540, 770)))
    assert faces.shape[1:] == (180, 230)
    for norm in NORMS:
        ours = hog(faces, block_norm=norm)
        assert ours.shape == (4, n_features(faces.shape))
        for face, row in zip(faces, ours, strict=True):
            assert _max_diff(row, _reference(face, block_norm=norm)) <= TOL


@pytest.mark.realdata
def test_real_der_tile_matches_skimage():
    """80x64 head crop of the first tile of a der_videos mosaic, 8-pixel cells."""
    videos = sorted(DER.glob("*.mp4")) if DER.is_dir() else []
    if not videos:
        pytest.skip(f"real data not found: {DER} (see ../shared/data/real/README.md)")
    tiles = _decode(videos[0], 6, (slice(25, 89), slice(8, 88)))
    kw = dict(pixels_per_cell=(8, 8))
    for cells_per_block in [(1, 1), (2, 2)]:
        ours = hog(tiles, cells_per_block=cells_per_block, **kw)
        for tile, row in zip(tiles, ours, strict=True):
            ref = _reference(tile, cells_per_block=cells_per_block, **kw)
            assert _max_diff(row, ref) <= TOL


# ------------------------------------------------------------------ batches and shapes


@pytest.mark.parametrize("orientations", [4, 6, 8, 9])
@pytest.mark.parametrize("transform_sqrt", [True, False])
def test_uint8_path_equals_float_path_bit_for_bit(orientations, transform_sqrt):
    """uint8 frames take a faster binning path (zeros and diagonals told in float32); the
    same pixels as float64 take the careful one. Both must give the same bits, on a quantised
    image full of exact zeros, axes and diagonals and on noise."""
    rng = np.random.default_rng(11)
    steps = (rng.integers(0, 5, (2, 72, 88)) * 40).astype(np.uint8)
    noise = rng.integers(0, 256, (2, 72, 88), dtype=np.uint8)
    for frames in (steps, noise):
        kw = dict(orientations=orientations, pixels_per_cell=(8, 8),
                  transform_sqrt=transform_sqrt)
        np.testing.assert_array_equal(hog(frames, **kw), hog(frames.astype(np.float64), **kw))


@pytest.mark.parametrize("transform_sqrt", [True, False])
def test_uint8_gradient_magnitudes_have_distinct_squares(transform_sqrt):
    """The uint8 path tells ``|g_row| == |g_col|`` from ``g_row ** 2 == g_col ** 2`` in
    float64: true only if no two gradient magnitudes a uint8 frame can have (differences of
    two entries of its table) round to the same square."""
    table = np.arange(256, dtype=np.float64)
    if transform_sqrt:
        table = np.sqrt(table)
    magnitudes = np.unique(np.abs(table[:, None] - table[None, :]))
    assert np.all(np.diff(magnitudes * magnitudes) > 0)


def test_batch_equals_single_frames():
    rng = np.random.default_rng(8)
    batch = rng.integers(0, 256, (5, 70, 93), dtype=np.uint8)
    kw = dict(pixels_per_cell=(8, 8), cells_per_block=(2, 2))
    out = hog(batch, **kw)
    assert out.shape == (5, n_features(batch.shape, pixels_per_cell=(8, 8),
                                       cells_per_block=(2, 2)))
    for frame, row in zip(batch, out, strict=True):
        np.testing.assert_array_equal(row, hog(frame, **kw))
    # A strided view of the same frames gives the same answer.
    wide = np.zeros((5, 70, 186), np.uint8)
    wide[:, :, ::2] = batch
    np.testing.assert_array_equal(hog(wide[:, :, ::2], **kw), out)


def test_unflattened_shape_and_order_follow_skimage():
    rng = np.random.default_rng(9)
    image = rng.integers(0, 256, (70, 93), dtype=np.uint8)
    kw = dict(orientations=9, pixels_per_cell=(8, 12), cells_per_block=(2, 3))
    ours = hog(image, feature_vector=False, **kw)
    ref = _reference(image, feature_vector=False, **kw)
    assert ours.shape == ref.shape == hog_shape(image.shape, **kw) == (7, 5, 2, 3, 9)
    assert _max_diff(ours, ref) <= TOL
    np.testing.assert_array_equal(ours.ravel(), hog(image, **kw))
    batch = hog(np.stack([image, image]), feature_vector=False, **kw)
    assert batch.shape == (2, 7, 5, 2, 3, 9)
    assert n_features((2, 70, 93), **kw) == 7 * 5 * 2 * 3 * 9


def test_paper_defaults_and_public_export():
    assert mouseface.hog is hog
    face = np.zeros((180, 230), np.uint8)
    assert hog_shape(face.shape) == (5, 7, 1, 1, 8)
    assert hog(face).shape == (5 * 7 * 8,)
    assert hog(face).dtype == np.float32


def test_empty_batch():
    out = hog(np.zeros((0, 64, 64), np.uint8))
    assert out.shape == (0, 2 * 2 * 8) and out.dtype == np.float32


def test_golden_file():
    golden = np.load(GOLDEN_FILE)
    frame = _golden_frame()
    ours = hog(frame, feature_vector=False, **GOLDEN)
    assert ours.shape == golden.shape == (3, 3, 2, 2, 8) and ours.dtype == golden.dtype
    np.testing.assert_allclose(ours, golden, rtol=0, atol=1e-6)
    assert _max_diff(ours, _reference(frame, feature_vector=False, **GOLDEN)) <= TOL


def test_docstring_examples():
    result = doctest.testmod(hog_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------- bad input


def test_wrong_ndim_gives_a_hint():
    with pytest.raises(ValueError, match=r"\(H, W\).*\(N, H, W\).*rgb2gray"):
        hog(np.zeros((2, 64, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="grayscale frame"):
        hog(np.zeros(64))


def test_too_small_states_the_minimum():
    with pytest.raises(ValueError, match="at least 64 rows and 64 columns"):
        hog(np.zeros((63, 100), np.uint8), pixels_per_cell=(32, 32), cells_per_block=(2, 2))
    with pytest.raises(ValueError, match="at least 32 rows and 32 columns"):
        hog_shape((31, 40))


def test_unknown_block_norm_lists_the_choices():
    with pytest.raises(ValueError, match=r"block_norm must be one of .*'L2-Hys'.*got 'L3'"):
        hog(np.zeros((64, 64)), block_norm="L3")


@pytest.mark.parametrize("kw, match", [
    (dict(orientations=0), "orientations must be a positive integer"),
    (dict(orientations=2.5), "orientations must be a positive integer"),
    (dict(pixels_per_cell=(8, 0)), "pixels_per_cell must be a pair of positive integers"),
    (dict(pixels_per_cell=(8, 8, 8)), "pixels_per_cell must be a pair"),
    (dict(cells_per_block="2"), "cells_per_block must be a pair"),
])
def test_bad_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        hog(np.zeros((64, 64)), **kw)


def test_non_real_input():
    with pytest.raises(ValueError, match="real numbers"):
        hog(np.zeros((64, 64), np.complex64))
    with pytest.raises(ValueError, match=r"image_shape must be \(H, W\)"):
        hog_shape((64,))


def test_square_cells_may_be_given_as_one_int():
    image = np.random.default_rng(10).integers(0, 256, (64, 64), dtype=np.uint8)
    np.testing.assert_array_equal(hog(image, pixels_per_cell=16),
                                  hog(image, pixels_per_cell=(16, 16)))
