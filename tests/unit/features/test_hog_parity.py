"""Reference parity: mouseface.hog equals skimage.feature.hog (max abs difference <= 1e-5)."""

from pathlib import Path

import numpy as np
import pytest
from skimage.feature import hog as skimage_hog

from mouseface import hog

REAL = Path(__file__).resolve().parents[4] / "shared" / "data" / "real"
MOUSEFLOW = REAL / "mouseflow_sample" / "sample_body1_20190213_145358892_trim.mp4"
DER = REAL / "der_videos" / "2024-02-23_08-51-34-ECO_3_000_M-der.mp4"


def _reference(image, **kw):
    return skimage_hog(image, orientations=kw.get("orientations", 8),
                       pixels_per_cell=kw.get("pixels_per_cell", (32, 32)),
                       cells_per_block=kw.get("cells_per_block", (1, 1)),
                       block_norm=kw.get("block_norm", "L2-Hys"),
                       transform_sqrt=kw.get("transform_sqrt", True), feature_vector=True)


@pytest.mark.parametrize("block_norm", ["L1", "L1-sqrt", "L2", "L2-Hys"])
@pytest.mark.parametrize("cells_per_block", [(1, 1), (2, 2)])
@pytest.mark.parametrize("transform_sqrt", [True, False])
def test_random_images_match_skimage(block_norm, cells_per_block, transform_sqrt):
    rng = np.random.default_rng(0)
    image = (rng.random((70, 93)) * 255).astype(np.uint8)  # not a multiple of the cell
    kw = dict(pixels_per_cell=(8, 8), cells_per_block=cells_per_block, block_norm=block_norm,
              transform_sqrt=transform_sqrt)
    ours = hog(image, **kw)
    assert ours.dtype == np.float32
    assert np.max(np.abs(ours - _reference(image, **kw))) <= 1e-5


@pytest.mark.parametrize("ppc", [(8, 8), (24, 24), (32, 32)])
def test_float_images_and_cell_sizes(ppc):
    rng = np.random.default_rng(1)
    image = rng.random((131, 150)).astype(np.float32)
    ours = hog(image, pixels_per_cell=ppc)
    assert np.max(np.abs(ours - _reference(image, pixels_per_cell=ppc))) <= 1e-5


def test_batch_equals_single_frames():
    rng = np.random.default_rng(2)
    batch = (rng.random((5, 64, 80)) * 255).astype(np.uint8)
    out = hog(batch, pixels_per_cell=(16, 16))
    assert out.shape == (5, 4 * 5 * 8)
    for frame, row in zip(batch, out, strict=True):
        np.testing.assert_array_equal(row, hog(frame, pixels_per_cell=(16, 16)))


def _frames(path: Path, n: int, crop) -> np.ndarray:
    import av

    if not path.is_file():
        pytest.skip(f"real data not found: {path} (see ../shared/data/real/README.md)")
    out = []
    with av.open(str(path)) as container:
        for i, frame in enumerate(container.decode(video=0)):
            if i >= n:
                break
            out.append(frame.to_ndarray(format="gray")[crop])
    return np.stack(out)


def test_real_face_frames_match_skimage():
    faces = _frames(MOUSEFLOW, 4, (slice(150, 330), slice(540, 770)))
    for face in faces:
        assert np.max(np.abs(hog(face) - _reference(face))) <= 1e-5
    tiles = _frames(DER, 4, (slice(25, 89), slice(8, 88)))
    ours = hog(tiles, pixels_per_cell=(8, 8))
    for tile, row in zip(tiles, ours, strict=True):
        assert np.max(np.abs(row - _reference(tile, pixels_per_cell=(8, 8)))) <= 1e-5


def test_bad_arguments_say_what_to_do():
    with pytest.raises(ValueError, match="block_norm"):
        hog(np.zeros((64, 64)), block_norm="L3")
    with pytest.raises(ValueError):
        hog(np.zeros((4, 4)), pixels_per_cell=(8, 8))
    with pytest.raises(ValueError):
        hog(np.zeros((2, 2, 2, 2)))
