"""Acceptance: a user's first hour on real video, in napari.

On a real trial mosaic from ../shared/data/real/der_videos (one mouse, three 0 uA and three
500 uA tail-shock trials, one tile each), the test does what a user does with the mouse:
opens a sessions table that has no ROI yet, draws each session's face ROI as a rectangle and
one spout-mask polygon through napari's layer API, writes them into the table (the ROI per
session, the mask for the whole animal), runs `mouseface run` on that table, opens the results
and steps to a trial. Screenshots go to test-artifacts/napari_*.png for a person to look at.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from tests.fixtures.real import DER
from typer.testing import CliRunner

from mouseface.cli import app
from mouseface.io.tables import read_sessions
from mouseface.napari import convert
from mouseface.napari.view import open_path
from mouseface.napari.widgets import ResultsWidget

pytestmark = [pytest.mark.napari, pytest.mark.realdata]

VIDEO = DER / "2024-02-23_08-51-34-ECO_3_000_M-der.mp4"
MOSAIC_W, MOSAIC_H, ROWS, COLS = 1400, 700, 5, 6  # examples/der_videos_tables.py
HEAD = (8, 25, 80, 64)  # the face in a tile: clear of the burned-in label
ONSET, DURATION, FPS = 41 / 20, 2.0, 20.0
CONFIG = "[hog]\npixels_per_cell = 8\n\n[quality]\nexclude_flagged = false\n"
# crop pixels: a spout-like wedge in the crop's lower right (the mosaics have no spout; the
# mask must still reach every session and leave its HOG cells out of the run)
SPOUT = [(58, 44), (79, 40), (79, 63), (64, 63)]


def _tables(folder):
    layout = pd.read_csv(DER / "mosaic_layout.csv")
    tiles = layout[layout["shock_uA"].isin([0, 500]) & (layout["col"] < 3)]
    sessions, events, rois = [], [], {}
    for tile in tiles.itertuples(index=False):
        session = f"m3_trial{tile.trial_index:02d}"
        sessions.append({"session": session, "video": str(VIDEO), "animal": "3_000_M",
                         "fps": FPS})
        events.append({"session": session, "onset": ONSET, "duration": DURATION,
                       "trial_type": f"{tile.shock_uA}uA", "intensity": tile.shock_uA})
        rois[session] = (round(tile.col * MOSAIC_W / COLS) + HEAD[0],
                         round(tile.row * MOSAIC_H / ROWS) + HEAD[1], HEAD[2], HEAD[3])
    pd.DataFrame(sessions).to_csv(folder / "sessions.csv", index=False)
    pd.DataFrame(events).to_csv(folder / "events.csv", index=False)
    (folder / "mouseface.toml").write_text(CONFIG)
    return folder / "sessions.csv", folder / "events.csv", folder / "mouseface.toml", rois


def test_draw_write_run_and_browse_a_real_mosaic(make_napari_viewer, tmp_path, artifacts):
    if not VIDEO.is_file():
        pytest.skip(f"real data not found: {VIDEO} (see ../shared/data/real/README.md)")
    sessions, events, config, rois = _tables(tmp_path)
    viewer = make_napari_viewer()
    viewer.window.resize(1600, 1200)
    regions, _ = open_path(viewer, sessions)
    regions.cell_box.setValue(8)
    rng = np.random.default_rng(0)

    # each session's face: a rectangle dragged by hand, a fraction of a pixel off the edges
    for session, roi in rois.items():
        regions.select_session(session)
        regions.roi_layer.add_rectangles(convert.roi_to_rectangle(roi)
                                         + rng.uniform(-0.3, 0.3, (4, 2)))
        assert regions.write("session", mask=False) == [session]
    # the spout, drawn once on the first session's frame, for every session of the mouse
    first = next(iter(rois))
    regions.select_session(first)
    x, y = rois[first][:2]
    regions.mask_layer.add_polygons([np.array([[v + y - 0.5, u + x - 0.5] for u, v in SPOUT])])
    assert regions.write("animal", roi=False) == list(rois)
    mask = "poly:" + ",".join(f"{u},{v}" for u, v in SPOUT)

    table = read_sessions(sessions)
    assert dict(zip(table["session"], table["roi"], strict=True)) == rois
    assert (table["mask"] == mask).all()
    viewer.dims.set_current_step(0, 60)
    regions.zoom_to_roi(margin=1.5)
    viewer.screenshot(str(artifacts / "napari_draw_der.png"), canvas_only=False)
    assert regions.video.reader.frames_out < 3 * regions.video.shape[0]

    # the table runs as drawn
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["run", str(sessions), str(events), "--out", str(out),
                                      "--config", str(config), "--no-report", "--quiet"])
    assert result.exit_code == 0, result.output

    results = ResultsWidget(viewer, regions=regions)
    viewer.window.add_dock_widget(results, name="mouseface: results", area="bottom")
    strong = [s for s in rois if s in set(pd.read_csv(events).query("intensity == 500").session)]
    results.open_results(out, session=strong[0])
    t = results.traces
    assert t.mask == mask and t.mask_cells.any() and not t.mask_cells.all()
    assert t.roi == rois[strong[0]] and t.names[0] == "neutral"
    assert set(t.names) == {"neutral", "0uA", "500uA"}
    frame = results.go_to_trial(0)
    assert frame == 41 and viewer.dims.current_step[0] == 41  # the shock's frame
    assert results.status.text().startswith("frame 41, 2.05 s: neutral ")
    # the registered crop beside the frame is the crop whose HOG the run stored
    from mouseface.features.hog import hog
    from mouseface.io.results import Results

    video, store = regions.video, Results(out).store(strong[0])
    assert np.array_equal(regions.preview["registered"], convert.registered_crop(
        video.frame(41), t.roi, t.registration["margin"], t.registration["matrix"],
        t.shift[t.row_of(41)]))
    stored = store.read(flat=False)
    # compared outside the mask and the ring of cells around it: the run paints the masked
    # pixels one gray before its warp, which the bilinear warp carries a pixel further
    from scipy import ndimage

    near = ndimage.binary_dilation(t.mask_cells, np.ones((3, 3), bool))
    assert near.sum() < 0.3 * near.size
    for k in range(len(stored)):
        crop = convert.registered_crop(video.frame(k), t.roi, t.registration["margin"],
                                       t.registration["matrix"], t.shift[t.row_of(k)])
        seen = hog(crop, pixels_per_cell=(8, 8), feature_vector=False).reshape(stored[k].shape)
        assert np.abs(seen - stored[k])[~near].max() <= 1e-5, k
    # the masked HOG cells are empty in the glyphs
    cells = t.mask_cells
    glyphs = regions.preview["hog"]
    px = glyphs.shape[0] // cells.shape[0]
    per_cell = glyphs.reshape(cells.shape[0], px, cells.shape[1], px).max(axis=(1, 3))
    assert (per_cell[cells] == 0).all() and (per_cell[~cells] > 0).mean() > 0.9
    regions.zoom_to_roi(margin=1.5)
    viewer.screenshot(str(artifacts / "napari_results_der.png"), canvas_only=False)
