"""The napari plugin in a real viewer: draw the face ROI and a mask through napari's layer API,
write the sessions table, browse a results folder (synthetic videos, so it runs in seconds).

The acceptance run on real video is test_napari_real.py. Skips without napari or a display
(see tests/fixtures/viewer.py).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.unit.report.video_results import shared_results

from mouseface._errors import InputError
from mouseface.io.tables import read_sessions
from mouseface.napari import convert
from mouseface.napari.view import open_path

pytestmark = pytest.mark.napari


@pytest.fixture
def table(tmp_path, moving_video):
    other = tmp_path / "other.mp4"
    other.write_bytes(moving_video.read_bytes())
    path = tmp_path / "sessions.csv"
    pd.DataFrame({"session": ["s1", "s2", "t1"],
                  "video": [str(moving_video), str(moving_video), other.name],
                  "animal": ["m1", "m1", "m2"], "fps": ["20", "20", "20"],
                  "notes": ["a, b", "", "c"]}).to_csv(path, index=False)
    return path


def test_draw_roi_and_mask_and_write_the_table(make_napari_viewer, table, moving_frames):
    viewer = make_napari_viewer()
    regions, results = open_path(viewer, table)
    assert results is None and regions.session == "s1"
    video = viewer.layers["video"].data
    assert video.shape == moving_frames.shape and video.reader.frames_out <= 64
    regions.cell_box.setValue(16)

    # the user drags a rectangle from inside one pixel to inside another ...
    regions.roi_layer.add_rectangles(np.array([[7.6, 15.7], [55.4, 79.3]]))
    assert regions.current_roi() == (16, 8, 64, 48)
    # ... and a spout polygon in the crop's lower right
    spout = np.array([[40.5, 60.5], [55.5, 60.5], [55.5, 79.5]])
    regions.mask_layer.add_polygons([spout])
    mask = regions.current_mask()
    assert mask == "poly:45,33,45,48,64,48"

    viewer.dims.set_current_step(0, 40)
    assert regions.preview["frame"] == 40
    assert np.array_equal(regions.preview["crop"], video[40][8:56, 16:80])
    assert np.abs(regions.preview["crop"].astype(int) - moving_frames[40, 8:56, 16:80]).mean() < 3
    glyphs = regions.preview["hog"]
    cell = glyphs.shape[0] // 3
    assert glyphs[2 * cell:, 3 * cell:].max() == 0  # the masked corner cell shows no glyph
    assert glyphs[:cell, :cell].max() > 0

    before = pd.read_csv(table, dtype=str, keep_default_na=False)
    assert regions.write("session") == ["s1"]
    after = pd.read_csv(table, dtype=str, keep_default_na=False)
    assert after.loc[0, "roi"] == "16,8,64,48" and after.loc[0, "mask"] == mask
    pd.testing.assert_frame_equal(after.loc[1:, before.columns], before.loc[1:])
    # the spout is fixed to the camera: its mask goes to every session of the animal, the ROI
    # stays each session's own
    assert regions.write("animal", roi=False) == ["s1", "s2"]
    s = read_sessions(table)
    assert s["mask"].tolist() == [mask, mask, None]
    assert s["roi"].tolist() == [(16, 8, 64, 48), None, None]

    # another session, then back: the layers show what the table holds
    regions.select_session("t1")
    assert len(regions.roi_layer.data) == 0 and len(regions.mask_layer.data) == 0
    assert viewer.layers["video"].data.path.name == "other.mp4"
    regions.select_session("s1")
    assert np.allclose(regions.roi_layer.data[0], convert.roi_to_rectangle((16, 8, 64, 48)))
    assert regions.current_mask() == mask


def test_bad_regions_are_one_line_in_the_widget_and_the_table_is_kept(make_napari_viewer,
                                                                      table):
    viewer = make_napari_viewer()
    regions, _ = open_path(viewer, table)
    regions.cell_box.setValue(32)
    before = table.read_bytes()
    with pytest.raises(InputError, match="draw the face ROI as a rectangle"):
        regions.write()
    regions.roi_layer.add_rectangles(convert.roi_to_rectangle((0, 0, 64, 32)))
    regions.mask_layer.add_rectangles(np.array([[-0.5, -0.5], [31.5, 63.5]]))
    with pytest.raises(InputError, match="excludes every HOG cell"):
        regions.write()
    # the button's path: the error becomes the status line, not a traceback
    regions._try(regions.write, "session")
    assert regions.status.text().startswith("error: mask: the mask excludes every HOG cell")
    assert "\n" not in regions.status.text()
    assert table.read_bytes() == before
    # a rectangle dragged past the frame's edge is clipped to it
    regions.mask_layer.data = []
    regions.roi_layer.data = []
    regions.roi_layer.add_rectangles(np.array([[-9.0, 99.8], [49.7, 140.0]]))
    assert regions.current_roi() == (100, 0, 28, 50)


def test_results_traces_trials_flags_and_registered_crop(make_napari_viewer, tmp_path_factory):
    from mouseface.features.hog import hog
    from mouseface.io.results import Results

    path = shared_results(tmp_path_factory)
    viewer = make_napari_viewer()
    regions, results = open_path(viewer, path, session="mB_s1")
    t = results.traces
    frames = Results(path).frames
    f = frames[frames["session"] == "mB_s1"]
    assert results.trial_list.count() == len(t.trials) == 6
    # the first view: at the session's first stimulus, on its face, every field filled
    first = t.frame_at(float(t.trials["onset"].iloc[0]))
    assert first > 0 and viewer.dims.current_step[0] == first
    assert regions.table == Results(path).sessions_table and regions.table.is_file()
    assert regions.table_edit.text() == str(regions.table)
    assert regions.session_box.currentText() == regions.session == "mB_s1"
    scene = getattr(viewer, "scene", None)
    camera = scene.camera if scene is not None else viewer.camera
    x, y, w, h = t.roi
    assert camera.center[-2:] == pytest.approx((y + h / 2 - 0.5, x + w / 2 - 0.5))
    # the legend beside the traces, not on them; flag labels apart
    fig = results.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    traces = fig.axes[0]
    legend = traces.get_legend().get_window_extent(renderer)
    assert legend.x0 >= traces.get_window_extent(renderer).x1
    labels = [lab.get_window_extent(renderer) for lab in fig.axes[1].get_yticklabels()]
    assert all(a.y1 <= b.y0 or b.y1 <= a.y0 for a, b in zip(labels, labels[1:], strict=False))
    assert [ax.get_ylabel() for ax in results.figure.axes][::len(results.figure.axes) - 1] \
        == ["similarity (r)", "drift (px)"]
    # every axis shades the six stimulus windows
    assert all(len(ax.patches) == 6 for ax in results.figure.axes)

    frame = results.go_to_trial(3)
    onset = float(t.trials["onset"].iloc[3])
    expected = int(f["frame"].to_numpy()[np.searchsorted(f["time"].to_numpy(), onset - 1e-9)])
    assert frame == expected and viewer.dims.current_step[0] == expected
    assert results._lines[0].get_xdata()[0] == pytest.approx(onset, abs=0.5 / 10)
    assert results.status.text().startswith(f"frame {expected}, ")

    # a click on the plot goes to the frame shown at that time
    from types import SimpleNamespace

    results._clicked(SimpleNamespace(xdata=12.34, inaxes=results.figure.axes[0]))
    at = int(f["frame"].to_numpy()[np.searchsorted(f["time"].to_numpy(), 12.34 - 1e-9)])
    assert viewer.dims.current_step[0] == at
    viewer.dims.set_current_step(0, expected)

    flagged = f.loc[f["flag"].to_numpy(bool), "frame"].to_numpy()
    got = results.next_flagged(1)
    later = flagged[flagged > expected]
    assert got == (int(later[0]) if len(later) else None)

    # the registered crop is the crop HOG saw in the run: its HOG equals the stored one
    store = Results(path).store("mB_s1")
    ppc = tuple(t.hog_params["pixels_per_cell"])
    moved = f["frame"].to_numpy()[np.hypot(f["shift_y"], f["shift_x"]).to_numpy() > 0]
    assert len(moved) >= 5
    for k in [0, *moved[:: max(1, len(moved) // 8)]]:
        viewer.dims.set_current_step(0, int(k))
        reg = regions.preview["registered"]
        assert np.abs(hog(reg, pixels_per_cell=ppc) - store.read(np.array([k]))[0]).max() <= 1e-5
