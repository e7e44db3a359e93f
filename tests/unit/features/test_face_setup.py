"""One face-session setup: what `run`, `live` and the viewer read a session with."""

import numpy as np
import pytest

from mouseface.features.face_setup import FaceSetup
from mouseface.features.quality import CausalQuality, session_quality
from mouseface.settings import load_settings


def test_registration_plan_follows_the_settings_and_the_scope():
    s = load_settings(registration={"margin": 9})
    run = FaceSetup.from_settings(s, scope="animal")  # auto: none in run, drift on
    assert (run.align, run.drift, run.margin) == ("none", True, 9)
    model = FaceSetup.from_settings(s, scope="model")  # auto: translation in score and live
    assert model.align == "translation" and model.margin == 9
    still = FaceSetup.from_settings(load_settings(registration={"drift": False}), scope="animal")
    assert not still.registering and still.margin == 0  # nothing moves: no margin read
    assert FaceSetup.from_settings(s, scope="model", align="none").align == "none"


def test_quality_settings_reach_the_pass_and_the_flags():
    s = load_settings(quality={"occlusion_gate": 1.0, "min_z": 4.0, "exclude_flagged": False})
    setup = FaceSetup.from_settings(s, scope="animal")
    assert setup.quality.occlusion_gate == 1.0 and setup.min_z == 4.0
    assert not setup.exclude_flagged
    off = FaceSetup.from_settings(load_settings(quality={"enabled": False}), scope="animal")
    assert off.quality is None and not off.exclude_flagged
    assert off.calibrate(np.zeros((3, 8, 8), np.uint8), (8, 8), None) is None


def test_mask_fill_and_cells_of_one_region():
    s = load_settings(hog={"pixels_per_cell": 8}, registration={"margin": 4})
    setup = FaceSetup.from_settings(s, scope="animal", regions=([(0, 0, 6, 6)], []))
    fill = setup.fill((32, 32))
    assert fill.shape == (40, 40) and fill[4:10, 4:10].all() and not fill[:4].any()
    cells, keep = setup.cells((32, 32))
    assert cells.shape == (4, 4) and cells[0, 0] and cells.sum() < 16
    assert len(keep) == 16 * 8 and keep.sum() == (16 - cells.sum()) * 8  # 8 orientations
    bare = FaceSetup.from_settings(s, scope="animal")
    assert bare.fill((32, 32)) is None and bare.cells((32, 32)) == (None, None)


def test_unregistered_masked_session_fills_with_the_face_mean_outside_the_mask():
    s = load_settings(registration={"drift": False})
    setup = FaceSetup.from_settings(s, scope="animal", regions=([(0, 0, 4, 4)], []))
    face = np.full((16, 16), 100.0, np.float32)
    face[:4, :4] = 250  # what the mask hides does not set the fill
    a = setup.alignment(face, None, setup.fill((16, 16)))
    assert a.margin == 0 and a.fill_value == 100.0 and a.fill[:4, :4].all()


def test_a_template_of_another_size_is_one_line():
    setup = FaceSetup.from_settings(load_settings(), scope="model")
    setup.check_template(np.zeros((44, 44)), setup.region_shape((20, 20)))  # 20 + 2 * 12
    with pytest.raises(Exception, match=r"template is \(40, 40\).*give \(44, 44\)"):
        setup.check_template(np.zeros((40, 40)), setup.region_shape((20, 20)))


def test_causal_flags_equal_the_sessions_when_calibrated_on_the_whole_session():
    """Judged against a calibration that is the whole session, each frame's causal flags are
    the offline flags of that session (same thresholds, same spread, blur and interval)."""
    rng = np.random.default_rng(0)
    n = 200
    m = {"motion_energy": rng.random(n), "blur": rng.gamma(5, 20, n),
         "dark_fraction": rng.random(n) * 0.4, "saturated_fraction": rng.random(n) * 0.4,
         "duplicate": (rng.random(n) < 0.05).astype(float),
         "occlusion": np.where(rng.random(n) < 0.5, rng.random(n) * 0.1, np.nan),
         "hog_distance": rng.gamma(2, 0.05, n)}
    m["blur"][[5, 50]] = 1.0  # blurry
    time = np.arange(n) / 20.0
    time[100:] += 0.2  # frames dropped before frame 100
    table, spread = session_quality(m, time, np.ones(n, bool), min_area=0.025, min_z=2.0)
    causal = CausalQuality(*spread, blur=float(np.nanmedian(m["blur"])),
                           interval=float(np.median(np.diff(time))), min_area=0.025, min_z=2.0)
    rows = [causal.flags({k: v[i] for k, v in m.items()}, time[i], time[i - 1] if i else None)
            for i in range(n)]
    for col in ("blurry", "dark", "saturated", "duplicate", "dropped", "occluded"):
        assert [r[col] for r in rows] == table[col].tolist(), col
    assert table[["blurry", "dropped", "occluded"]].any().all()  # the test sees each flag
    np.testing.assert_allclose([r["hog_z"] for r in rows], table["hog_z"], rtol=1e-6)
