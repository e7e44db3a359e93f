"""Masks: excluded HOG cells never influence similarities or scores."""

import numpy as np
import pytest

from mouseface import hog
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.transfer import TransferModel
from mouseface.features.masks import apply_cell_mask, cell_mask, feature_keep, parse_regions
from mouseface.synth import make_animal, render_face

HP = {"orientations": 8, "pixels_per_cell": (16, 16)}
SPOUT = [(112, 96, 30, 24)]  # a rectangle over the mouth region (x, y, w, h)
POLY = [[(10, 10), (40, 12), (20, 45)]]


def _frames(rng, n, state, intensity):
    animal = make_animal(np.random.default_rng(1))
    return np.stack([render_face(state, intensity * rng.uniform(0.6, 1.0), size=(160, 160),
                                 animal=animal, noise_std=2.5, rng=rng) for _ in range(n)])


def _paint(frames, mask_rects, polys, rng):
    """Noise painted inside the masked regions (not grown: strictly inside)."""
    from skimage.draw import polygon2mask

    out = frames.copy()
    region = np.zeros(frames.shape[1:], bool)
    for x, y, w, h in mask_rects:
        region[y:y + h, x:x + w] = True
    for p in polys:
        region |= polygon2mask(frames.shape[1:], np.asarray(p)[:, ::-1])
    out[:, region] = rng.integers(0, 255, (len(out), int(region.sum())))
    return out


def test_painting_noise_inside_mask_does_not_change_scores():
    rng = np.random.default_rng(0)
    neutral = _frames(rng, 20, "neutral", 0.0)
    pain = _frames(rng, 20, "pain", 1.0)
    frames = np.concatenate([neutral, pain])
    y = np.repeat(["neutral", "pain"], 20)
    mask = cell_mask(frames.shape[1:], HP["pixels_per_cell"], SPOUT, POLY)
    painted = _paint(frames, SPOUT, POLY, rng)
    a = apply_cell_mask(hog(frames, **HP), mask, 8)
    b = apply_cell_mask(hog(painted, **HP), mask, 8)
    assert np.array_equal(a, b)
    for model in (PrototypeModel(n_frames=5), TransferModel()):
        sa = model.fit(a, y).transform(a, **({"baseline": a[:20]} if
                                             isinstance(model, TransferModel) else {}))
        sb = model.fit(b, y).transform(b, **({"baseline": b[:20]} if
                                             isinstance(model, TransferModel) else {}))
        assert np.array_equal(sa, sb)
    # without the mask the painted noise does change the features
    assert not np.array_equal(hog(frames, **HP), hog(painted, **HP))


def test_mask_grid_rectangles_polygons_and_growth():
    m = cell_mask((64, 80), 8, rectangles=[(16, 16, 8, 8)])
    # the cell itself plus its neighbours touched by the one-pixel growth
    assert m.shape == (8, 10)
    assert m[1:4, 1:4].all() and m.sum() == 9
    m = cell_mask((64, 80), 8, polygons=[[(40, 0), (79, 0), (79, 30)]])
    assert m[0, 9] and not m[7, 0]
    # rows and columns beyond the last whole cell are ignored
    assert cell_mask((70, 85), 8).shape == (8, 10)


def test_feature_keep_with_blocks():
    m = np.zeros((3, 3), bool)
    m[0, 0] = True
    keep = feature_keep(m, 4, cells_per_block=(2, 2))  # 2 x 2 blocks of 2 x 2 cells
    assert keep.shape == (2 * 2 * 2 * 2 * 4,)
    assert keep.reshape(4, -1).all(axis=1).tolist() == [False, True, True, True]


def test_apply_cell_mask_accepts_cell_arrays_and_none():
    x = np.arange(2 * 2 * 3 * 4, dtype=np.float32).reshape(2, 2, 3, 4)
    m = np.zeros((2, 3), bool)
    m[1, 2] = True
    out = apply_cell_mask(x, m, 4)
    assert out.shape == (2, 20) and out.dtype == np.float32
    assert np.array_equal(out, x.reshape(2, -1)[:, :20])
    assert apply_cell_mask(x, None, 4).shape == (2, 24)


def test_parse_regions():
    assert parse_regions("") == ([], [])
    assert parse_regions(None) == ([], [])
    assert parse_regions("rect:1,2,3,4;5,6,7,8") == ([(1, 2, 3, 4), (5, 6, 7, 8)], [])
    assert parse_regions("0,0,10,0,5,5")[1] == [[(0, 0), (10, 0), (5, 5)]]


def test_bad_masks():
    with pytest.raises(ValueError, match="every HOG cell"):
        cell_mask((16, 16), 8, rectangles=[(0, 0, 16, 16)])
    with pytest.raises(ValueError, match="no area"):
        cell_mask((16, 16), 8, rectangles=[(0, 0, 0, 4)])
    with pytest.raises(ValueError, match="at least 3"):
        cell_mask((16, 16), 8, polygons=[[(0, 0), (1, 1)]])
    with pytest.raises(ValueError, match="was the mask made for this crop"):
        apply_cell_mask(np.zeros((2, 40)), np.zeros((2, 3), bool), 8)
    with pytest.raises(ValueError, match="a rectangle has 4 numbers"):
        parse_regions("1,2,3")
    with pytest.raises(ValueError, match="unknown region kind"):
        parse_regions("circle:1,2,3")
    with pytest.raises(ValueError, match="cannot read region"):
        parse_regions("a,b,c,d")
