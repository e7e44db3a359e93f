"""Registration as the pipeline applies it: regions, reference faces, the per-chunk warp."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mouseface.features.alignment import (
    Alignment,
    fill_masked,
    plan_alignments,
    reference_faces,
    region_of,
)
from mouseface.features.drift import estimate_shifts
from mouseface.features.extract import extract_features


def _texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.random((h, w)), 3)
    return ((img - img.min()) / (img.max() - img.min()) * 200 + 20).astype(np.float64)


@pytest.fixture(scope="module")
def drifting(tmp_path_factory):
    """A lossless image folder (20 fps) of a texture moved by known whole-pixel shifts."""
    folder = tmp_path_factory.mktemp("drift") / "frames"
    folder.mkdir()
    big = _texture(120, 140)
    rng = np.random.default_rng(1)
    shifts = rng.integers(-3, 4, (48, 2))
    shifts[:10] = 0  # the baseline: the first 0.5 s sit still
    frames = []
    for i, (dy, dx) in enumerate(shifts):
        f = np.roll(big, (dy, dx), axis=(0, 1)).astype(np.uint8)
        frames.append(f)
        Image.fromarray(f).save(folder / f"f{i:03d}.png")
    return folder, np.stack(frames), shifts.astype(float)


def test_region_pads_where_the_frame_ends():
    r = region_of((5, 20, 80, 64), 12, (140, 233))
    assert r.read == (0, 8, 97, 88) and r.pad == ((0, 0), (7, 0))
    frames = np.arange(2 * 88 * 97, dtype=np.uint8).reshape(2, 88, 97)
    full = r.complete(frames)
    assert full.shape == (2, 64 + 24, 80 + 24)
    assert (full[:, :, :7] == frames[:, :, :1]).all()  # edge repeated on the left


@pytest.mark.parametrize("roi", [(5, 20, 80, 64), (150, 3, 80, 64), (60, 70, 80, 64),
                                 (2, 1, 228, 138)])
def test_region_completes_frames_as_edge_padding(roi):
    r = region_of(roi, 12, (140, 233))
    x, y, w, h = r.read
    frames = np.random.default_rng(2).integers(0, 255, (3, 140, 233), dtype=np.uint8)
    read = frames[:, y:y + h, x:x + w]
    full = r.complete(read)
    assert full.shape == (3, roi[3] + 24, roi[2] + 24) and any(r.pad[0] + r.pad[1])
    np.testing.assert_array_equal(full, np.pad(read, ((0, 0), *r.pad), mode="edge"))


def test_reference_face_is_the_mean_of_the_baseline_frames(drifting):
    folder, frames, _ = drifting
    roi = (30, 20, 64, 48)
    window = np.array([[0.1, 0.4]])  # frames 2..7 at 20 fps
    ref, = reference_faces(folder, [roi], [window], margin=8, fps=20.0)
    expected = frames[2:8, 12:12 + 64, 22:22 + 80].mean(axis=0)
    np.testing.assert_allclose(ref, expected, atol=1e-4)
    first, = reference_faces(folder, [roi], [None], margin=8, fps=20.0, max_frames=5)
    np.testing.assert_allclose(first, frames[:5, 12:76, 22:102].mean(axis=0), atol=1e-4)
    with pytest.raises(ValueError, match="no frame falls in the baseline windows"):
        reference_faces(folder, [roi], [np.array([[100.0, 101.0]])], margin=8, fps=20.0)


def test_drift_is_measured_undone_and_stored(drifting, tmp_path):
    folder, frames, shifts = drifting
    roi = (30, 20, 64, 48)
    ref, = reference_faces(folder, [roi], [np.array([[0.0, 0.5]])], margin=8, fps=20.0)
    a = Alignment(8, None, ref)
    hp = {"orientations": 8, "pixels_per_cell": (8, 8)}
    store = extract_features(folder, tmp_path / "s.zarr", hog_params=hp, roi=roi, fps=20.0,
                             chunk_size=16, alignment=a)
    assert store.has_shifts and store.attrs["registration"]["drift"]
    np.testing.assert_allclose(store.shifts, shifts, atol=0.15)
    # every registered crop is the still frame's crop: all HOGs (nearly) equal the first
    x = store.read()
    assert np.abs(x - x[0]).max() < 0.05
    plain = extract_features(folder, tmp_path / "p.zarr", hog_params=hp, roi=roi, fps=20.0,
                             chunk_size=16)
    assert plain.shifts is None and np.abs(plain.read() - plain.read()[:1]).max() > 0.2
    # the alignment is part of the fingerprint: the same one reuses the store, another
    # (a different reference face) recomputes it
    same = extract_features(folder, tmp_path / "s.zarr", hog_params=hp, roi=roi, fps=20.0,
                            chunk_size=16, alignment=a)
    assert same.extraction["chunks_written"] == 0
    other = Alignment(8, None, np.roll(ref, 2, axis=1))
    redone = extract_features(folder, tmp_path / "s.zarr", hog_params=hp, roi=roi, fps=20.0,
                              chunk_size=16, alignment=other)
    assert redone.extraction["chunks_written"] == 3
    assert np.abs(redone.shifts[:, 1] - (shifts[:, 1] - 2)).max() < 0.15


def test_masked_pixels_are_filled_before_anything_is_measured():
    face = _texture(40, 50)
    mask = np.zeros(face.shape, bool)
    mask[10:20, 30:45] = True
    filled = fill_masked(face.astype(np.float32), mask)
    assert (filled[mask] == np.round(face[~mask].mean())).all()
    assert (filled[~mask] == face[~mask].astype(np.float32)).all()
    a, = plan_alignments({"s": filled}, {"s": None}, margin=4, masks={"s": mask}).values()
    frames = np.repeat(face[None].astype(np.uint8), 3, axis=0)
    painted = frames.copy()
    painted[:, mask] = np.random.default_rng(0).integers(0, 255, (3, int(mask.sum())))
    c1, s1 = a.apply(frames, (32, 42))
    c2, s2 = a.apply(painted, (32, 42))
    assert np.array_equal(c1, c2) and np.array_equal(s1, s2)
    assert a.digest() != Alignment(4, None, filled).digest()


def test_binned_phase_correlation_keeps_sub_pixel_precision():
    ref = _texture(128, 128, seed=3)
    truth = np.array([[1.3, -2.6], [0.0, 0.7], [-3.2, 2.1]])
    moved = np.stack([ndimage.shift(ref, t, order=3, mode="nearest") for t in truth])
    for b in (1, 2):
        est = estimate_shifts(moved, ref, bin=b)
        assert np.abs(est - truth).max() < 0.2, (b, est)
    with pytest.raises(ValueError, match="bin must be a positive integer"):
        estimate_shifts(moved, ref, bin=0)
