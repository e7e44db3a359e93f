"""LiveReadout, the Python API: calibrate, update, reference files, and what it refuses.

The model here is made by hand (no fit): pooled prototypes over 64 x 64 crops of a sliding
texture, the ``slide`` prototype being the HOG of frame 40 itself, and a mask region.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from mouseface._errors import InputError
from mouseface.features.hog import hog
from mouseface.features.masks import cell_mask, feature_keep
from mouseface.live import LiveReadout
from mouseface.live.readout import REFERENCE_FRAMES

ROI = (16, 8, 64, 64)
MASK = "48,0,16,16"


def _settings(**kw):
    from mouseface.settings import load_settings

    # the texture slides 2 px a frame: no drift correction (it would undo the slide)
    return load_settings(hog={"pixels_per_cell": 16}, registration={"drift": False},
                         masks={"regions": MASK}, **kw)


def _crop(frames):
    x, y, w, h = ROI
    return frames[..., y:y + h, x:x + w]


def _save(path, models, mode, frames, axes=None):
    """A model folder as `fit` writes it; ``axes``: the ``slide`` expression axis."""
    from mouseface.io.model import save_model

    settings = _settings()
    mask = cell_mask((64, 64), 16, [(48, 0, 16, 16)])
    keep = feature_keep(mask, 8)
    extra = {}
    if axes is not None:
        axes = np.array(axes, np.float64)
        axes[:, ~keep] = np.nan
        extra = {"arrays": {"axes": axes}, "axis_names": ["slide"]}
    out = {}
    for k, protos in models.items():
        protos = np.asarray(protos, np.float64)
        protos[:, ~keep] = np.nan  # as `fit` saves them: masked entries NaN
        out[k] = SimpleNamespace(classes_=["neutral", "slide"], prototypes_=protos)
    return save_model(path, out, mode=mode, settings=settings, feature_shape=(4, 4, 8),
                      mask=mask.astype(int).tolist(), mask_regions=MASK, crop_shape=[64, 64],
                      **extra)


@pytest.fixture(scope="module")
def model(tmp_path_factory, moving_frames):
    x = hog(_crop(moving_frames), pixels_per_cell=16).astype(np.float64)
    return _save(tmp_path_factory.mktemp("model") / "model",
                 {"pooled": np.vstack([x[:10].mean(0), x[40]])}, "pooled", moving_frames)


def test_calibrate_then_update_frame_by_frame(model, moving_frames):
    r = LiveReadout(model, roi=ROI).calibrate(moving_frames[:10], np.arange(10) / 20)
    assert r.names_ == ("neutral", "slide") and r.mode_ == "pooled"
    assert r.calibration_["frames"] == 10
    readings = [r.update(f, (10 + i) / 20) for i, f in enumerate(moving_frames[10:])]
    slide = np.array([x["slide"] for x in readings])
    # the prototype is frame 40's own HOG (masked cells dropped on both sides): r = 1 there
    assert slide[30] == pytest.approx(1.0, abs=1e-9)
    assert slide[np.arange(len(slide)) != 30].max() < 0.999
    neutral = np.array([x["neutral"] for x in readings])
    assert neutral[0] > neutral[-1]  # the texture slides away from the calibration's face
    x = readings[0]
    assert x.as_dict() == {"neutral": x["neutral"], "slide": x["slide"]}
    assert x.shift is None and x.quality["motion_energy"] > 0
    assert r.grade_names_ == () and x.grades.shape == (0,)  # a model without expression axes
    with pytest.raises(KeyError, match="no prototype 'pain'"):
        x["pain"]


def test_the_mask_hides_what_happens_inside_it(model, moving_frames):
    r = LiveReadout(model, roi=ROI).calibrate(moving_frames[:10])
    frame = moving_frames[20].copy()
    a = r.update(frame).similarity
    x, y, _, _ = ROI
    frame[y:y + 16, x + 48:x + 64] = 255  # paint inside the mask region
    r2 = LiveReadout(model, roi=ROI).calibrate(moving_frames[:10])
    b = r2.update(frame).similarity
    np.testing.assert_array_equal(a, b)


def test_a_reference_file_restores_the_calibration(model, moving_frames, tmp_path):
    r = LiveReadout(model, roi=ROI).calibrate(moving_frames[:10])
    path = r.save_reference(tmp_path / "m1.npz")
    again = LiveReadout(model, roi=ROI).load_reference(path)
    for f in moving_frames[10:14]:
        a, b = r.update(f), again.update(f)
        np.testing.assert_array_equal(a.similarity, b.similarity)
    assert again.calibration_["reference_file"] == str(path)


def test_calibration_holds_at_most_the_reference_frames(model, moving_frames):
    r = LiveReadout(model, roi=ROI)
    cal = r.start_calibration(moving_frames.shape[1:])
    frames = np.concatenate([moving_frames] * 4)[:REFERENCE_FRAMES + 30]
    for i, f in enumerate(frames):
        cal.add(f, i / 20)
        assert len(cal._held) <= REFERENCE_FRAMES
    assert cal._held == [] and len(cal) == REFERENCE_FRAMES + 30
    readings = cal.finish()
    assert [x.time for x in readings] == [i / 20 for i in range(REFERENCE_FRAMES + 30)]


def test_what_the_readout_refuses(model, moving_frames, tmp_path):
    r = LiveReadout(model, roi=ROI)
    with pytest.raises(RuntimeError, match="calibrate the readout first"):
        r.update(moving_frames[0])
    r.calibrate(moving_frames[:5])
    with pytest.raises(InputError, match="the camera changed its frame size"):
        r.update(np.zeros((50, 50), np.uint8))
    with pytest.raises(InputError, match=r"ROI .* lies outside the 128x96 frame"):
        LiveReadout(model, roi=(100, 0, 64, 64)).calibrate(moving_frames[:5])
    with pytest.raises(InputError, match=r"fitted on 64 x 64 .* crop is 128 x 96"):
        LiveReadout(model).calibrate(moving_frames[:5])  # the whole frame
    with pytest.raises(InputError, match="no calibration frames"):
        LiveReadout(model, roi=ROI).calibrate(moving_frames[:0])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not an npz")
    with pytest.raises(InputError, match="not a mouseface reference file"):
        LiveReadout(model, roi=ROI).load_reference(bad)


def test_a_per_animal_model_needs_the_animal(tmp_path, moving_frames):
    x = hog(_crop(moving_frames), pixels_per_cell=16).astype(np.float64)
    path = _save(tmp_path / "run_model", {"m1": np.vstack([x[0], x[40]]),
                                          "m2": np.vstack([x[5], x[30]])},
                 "per-animal", moving_frames)
    with pytest.raises(InputError, match=r"per-animal prototypes \(m1, m2\): say whose with "
                       "--animal"):
        LiveReadout(path, roi=ROI).calibrate(moving_frames[:5])
    with pytest.raises(InputError, match="but not for animal m9"):
        LiveReadout(path, roi=ROI, animal="m9").calibrate(moving_frames[:5])
    r = LiveReadout(path, roi=ROI, animal="m2").calibrate(moving_frames[:5])
    assert r.update(moving_frames[30])["slide"] == pytest.approx(1.0, abs=1e-9)


def test_frames_are_graded_on_the_models_axis_from_the_calibration(tmp_path, moving_frames):
    """The model's axis, the calibration frames' mean as neutral and their spread along the
    axis as unit: ``ExpressionAxis.transform(baseline=calibration)``, which is what ``score``
    computes from a baseline window; a reference file carries the same neutral and unit."""
    from mouseface.expressions.intensity import ExpressionAxis

    x = hog(_crop(moving_frames), pixels_per_cell=16).astype(np.float64)
    change = (x[40] - x[:10].mean(0))[None]
    path = _save(tmp_path / "graded", {"pooled": np.vstack([x[:10].mean(0), x[40]])},
                 "pooled", moving_frames, axes=change)
    r = LiveReadout(path, roi=ROI).calibrate(moving_frames[:10], np.arange(10) / 20)
    assert r.grade_names_ == ("slide",) and r.calibration_["flagged"] == 0
    readings = [r.update(f, (10 + i) / 20) for i, f in enumerate(moving_frames[10:])]
    keep = feature_keep(cell_mask((64, 64), 16, [(48, 0, 16, 16)]), 8)
    axis = ExpressionAxis.from_axes(["slide"], change[:, keep], np.zeros(keep.sum()))
    expected = axis.transform(x[10:, keep], baseline=x[:10, keep])[:, 0]
    got = np.array([g.grade("slide") for g in readings])
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=1e-9)
    assert got[30] > 2 * got[0] > 0  # frame 40 lies far along its own axis
    with pytest.raises(KeyError, match="no expression axis 'pain'"):
        readings[0].grade("pain")
    ref = r.save_reference(tmp_path / "m1.npz")
    again = LiveReadout(path, roi=ROI).load_reference(ref)
    assert again.grade_names_ == ("slide",)
    for f in moving_frames[10:14]:
        np.testing.assert_array_equal(r.update(f).grades, again.update(f).grades)
    # the unit belongs to the axis: a model with another axis refuses the file
    other = _save(tmp_path / "other", {"pooled": np.vstack([x[:10].mean(0), x[40]])},
                  "pooled", moving_frames, axes=(x[30] - x[:10].mean(0))[None])
    with pytest.raises(InputError, match="made with another model: its expression axes' "
                       "fingerprint"):
        LiveReadout(other, roi=ROI).load_reference(ref)
    # a file from before live graded (format 2) has no neutral face or unit for the grades
    with np.load(ref) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("meta")))
    old = tmp_path / "old.npz"
    np.savez(old, meta=np.array(json.dumps({**meta, "format": 2})), **arrays)
    with pytest.raises(InputError, match="format 2 is not 3: calibrate again"):
        LiveReadout(path, roi=ROI).load_reference(old)
