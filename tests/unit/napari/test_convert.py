"""mouseface data <-> napari layer data (mouseface.napari.convert): coordinates and round trips.

These need no display; the rasterisation check uses napari's own Shapes layer (no viewer) and
skips without napari.
"""

from __future__ import annotations

import numpy as np
import pytest

from mouseface.features.masks import region_pixels
from mouseface.io.tables import parse_regions
from mouseface.napari import convert


def test_roi_rectangle_round_trip_on_random_rois():
    rng = np.random.default_rng(0)
    for _ in range(200):
        roi = tuple(int(v) for v in (*rng.integers(0, 500, 2), *rng.integers(1, 300, 2)))
        assert convert.rectangle_to_roi(convert.roi_to_rectangle(roi)) == roi


def test_rectangle_to_roi_snaps_to_pixel_edges_and_clips_to_the_frame():
    # napari's coordinates are pixel centres: row 10.2 lies 0.7 into the pixel edges' count
    # (edge 10.7), nearest edge 11; row 40.3 -> edge 40.8 -> 41; column 19.6 -> 20.1 -> 20;
    # column 60.4 -> 60.9 -> 61
    assert convert.rectangle_to_roi([[10.2, 19.6], [40.3, 60.4]]) == (20, 11, 41, 30)
    # a leading frame axis (a 3-D shapes layer) is dropped
    assert convert.rectangle_to_roi([[7, 10.2, 19.6], [7, 40.3, 60.4]]) == (20, 11, 41, 30)
    assert convert.rectangle_to_roi([[-5, -5], [20, 300]], frame_shape=(96, 128)) \
        == (0, 0, 128, 21)
    with pytest.raises(ValueError, match="less than one pixel"):
        convert.rectangle_to_roi([[3.1, 3.1], [3.3, 3.3]])
    with pytest.raises(ValueError, match="inside the frame"):
        convert.rectangle_to_roi([[-20, -20], [-5, -5]], frame_shape=(96, 128))


@pytest.mark.parametrize("text", [
    "60,40,20,24",
    "0,0,12,8; 5,5,3,3",
    "poly:0,0,12,0,0,12",
    "60,40,20,24; poly:0,0,12.5,0,0,12.5; poly:30,30,40,31.2,35,44",
])
def test_mask_text_shapes_round_trip(text):
    roi = (37, 21, 80, 64)
    data, kinds = convert.mask_to_shapes(text, roi)
    assert convert.shapes_to_mask(data, kinds, roi) == text
    # and what the text means did not move: the same pixels, wherever the ROI sits
    back = convert.shapes_to_mask(*convert.mask_to_shapes(text, (0, 0, 80, 64)), (0, 0, 80, 64))
    assert np.array_equal(region_pixels((64, 80), *parse_regions(back)),
                          region_pixels((64, 80), *parse_regions(text)))


def test_mask_rectangles_grow_to_the_pixels_they_touch():
    roi = (10, 20, 50, 40)
    # napari corners half-way into pixels: crop columns 3.3 .. 9.6, rows 2.6 .. 7.1
    rect = np.array([[22.1, 12.8], [22.1, 19.1], [26.6, 19.1], [26.6, 12.8]])
    text = convert.shapes_to_mask([rect], ["rectangle"], roi)
    assert text == "3,2,7,6"
    rects, _ = parse_regions(text)
    assert np.array_equal(region_pixels((40, 50), rects),
                          region_pixels((40, 50), [(3.3, 2.6, 6.3, 4.5)]))


def test_rotated_rectangles_and_ellipses_become_polygons_lines_are_refused():
    roi = (0, 0, 100, 100)
    diamond = np.array([[10.5, 30.5], [30.5, 50.5], [50.5, 30.5], [30.5, 10.5]])
    text = convert.shapes_to_mask([diamond], ["rectangle"], roi)
    assert text == "poly:31,11,51,31,31,51,11,31"
    ellipse = np.array([[39.5, 19.5], [39.5, 59.5], [59.5, 59.5], [59.5, 19.5]])  # 40 x 20
    _, polys = parse_regions(convert.shapes_to_mask([ellipse], ["ellipse"], roi))
    pts = np.array(polys[0])
    assert len(pts) == 24
    r = ((pts[:, 0] - 40) / 20) ** 2 + ((pts[:, 1] - 50) / 10) ** 2
    assert np.allclose(r, 1, atol=0.02)  # on the ellipse (to the 0.1-px rounding)
    with pytest.raises(ValueError, match="encloses no region"):
        convert.shapes_to_mask([np.array([[0, 0], [5, 5]])], ["line"], roi)


def test_mask_pixels_are_the_pixels_napari_paints():
    """A mask rectangle covers exactly the pixels napari's own rasterisation gives the shape;
    a polygon the same up to its outline (region_pixels adds the pixels the outline crosses)."""
    pytest.importorskip("napari", reason="napari is not installed (the napari extra)")
    from napari.layers import Shapes

    roi, crop_shape = (30, 12, 60, 40), (40, 60)
    frame_shape = (80, 120)
    rect = convert.roi_to_rectangle((38, 20, 17, 9))  # frame pixels x 38..54, y 20..28
    poly = np.array([[30.5, 60.5], [48.5, 60.5], [48.5, 84.5]])
    layer = Shapes([rect, poly], shape_type=["rectangle", "polygon"])
    painted = layer.to_masks(frame_shape)
    x, y, w, h = roi
    text = convert.shapes_to_mask(layer.data, layer.shape_type, roi)
    rects, polys = parse_regions(text)
    ours_rect = region_pixels(crop_shape, rects)
    assert np.array_equal(ours_rect, painted[0][y:y + h, x:x + w])
    ours_poly = region_pixels(crop_shape, polygons=polys)
    theirs = painted[1][y:y + h, x:x + w]
    assert (ours_poly | ~theirs).all()  # covers every pixel napari paints
    extra = ours_poly & ~theirs
    assert extra.sum() <= 0.5 * theirs.sum()  # and only an outline more


def test_crop_tint_and_glyphs():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 255, (96, 128)).astype(np.uint8)
    face = convert.crop(frame, (16, 8, 64, 48))
    assert np.shares_memory(face, frame) and face.shape == (48, 64)
    assert np.array_equal(face, frame[8:56, 16:80])
    rgb = convert.tint(face, "0,0,8,8")
    assert rgb.shape == (48, 64, 3)
    assert (rgb[:8, :8, 0] >= rgb[:8, :8, 1]).all() and (rgb[:8, :8, 1] < face[:8, :8]).any()
    assert np.array_equal(rgb[8:, 8:, 1], face[8:, 8:])
    params = {"pixels_per_cell": 16}
    glyphs, cell_px = convert.hog_glyph_image(face, params)
    assert glyphs.shape == (3 * cell_px, 4 * cell_px) and glyphs.min() >= 0 and glyphs.max() <= 1
    masked = np.zeros((3, 4), bool)
    masked[1, 2] = True
    without, _ = convert.hog_glyph_image(face, params, masked)
    cell = (slice(cell_px, 2 * cell_px), slice(2 * cell_px, 3 * cell_px))
    assert glyphs[cell].max() > 0 and without[cell].max() == 0


def test_registered_crop_undoes_a_known_drift():
    rng = np.random.default_rng(2)
    base = rng.integers(0, 255, (80, 100)).astype(np.uint8)
    moved = np.roll(base, (3, -2), axis=(0, 1))  # content moved 3 down, 2 left
    roi = (30, 20, 40, 30)
    got = convert.registered_crop(moved, roi, margin=8, shift=(3.0, -2.0))
    assert np.array_equal(got, convert.crop(base, roi))
    assert np.array_equal(convert.registered_crop(base, roi, margin=8), convert.crop(base, roi))
    assert np.array_equal(convert.registered_crop(base, roi, 8, shift=(np.nan, np.nan)),
                          convert.crop(base, roi))


def test_drift_from_float32_results_is_the_runs_float64_value():
    from mouseface.napari.convert import _unround

    run = np.array([0.1, 3 / 40, 0.1 / 3, -0.7, 2.25, 0.0])  # measured and interpolated drift
    kept = run.astype(np.float32).astype(np.float64)  # what frames.parquet holds
    assert not np.array_equal(kept, run)
    assert np.array_equal(_unround(kept), run)
    odd = np.array([0.123456789], np.float32).astype(np.float64)  # not a small fraction
    assert abs(_unround(odd)[0] - odd[0]) <= 1e-6
