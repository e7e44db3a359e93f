"""The HTML report, its figures and the overlay video, on a small results folder from real
video files (see video_results.py)."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pandas as pd
import pytest
from tests.unit.report.video_results import FPS, N_FRAMES, shared_results

from mouseface._errors import InputError
from mouseface.report import figures


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    return shared_results(tmp_path_factory)


# ---------------------------------------------------------------------------- glyphs


def test_hog_glyph_is_a_line_along_the_edge():
    # gradient angle pi*(o+0.5)/n with o=0 of 8 is ~11 deg from the column axis: a vertical
    # edge; its glyph runs along the edge, i.e. (nearly) vertical through the cell centre
    h = np.zeros((1, 1, 8))
    h[0, 0, 0] = 1.0
    img = figures.hog_glyphs(h, 32)
    assert img.shape == (32, 32)
    rows, cols = np.nonzero(img > 0.2)
    assert np.ptp(rows) > 3 * np.ptp(cols)
    # the orientation at 90 deg (o=4 of 8, ~101 deg) gives a (nearly) horizontal glyph
    h = np.zeros((1, 1, 8))
    h[0, 0, 4] = 1.0
    rows, cols = np.nonzero(figures.hog_glyphs(h, 32) > 0.2)
    assert np.ptp(cols) > 3 * np.ptp(rows)


def test_images_are_embedded_in_their_smallest_fitting_encoding():
    import io

    from PIL import Image

    rng = np.random.default_rng(0)
    face = (rng.normal(128, 30, (200, 240)).clip(0, 255)).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(face).save(buf, format="PNG")
    png = buf.getvalue()
    # a photograph may go lossy: WebP, smaller than the PNG
    mime, data = figures.web_image(png, photo=True)
    assert mime == "image/webp" and len(data) < len(png)
    # a figure never does: line art keeps a (palette) PNG, as drawn up to the palette
    fig, ax = figures.plt.subplots(figsize=(3, 2))
    ax.plot([0, 1], [0, 1], color="tab:red")
    ax.set_xlabel("time (s)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    figures.plt.close(fig)
    mime, data = figures.web_image(buf.getvalue())
    assert mime == "image/png"
    original = np.asarray(Image.open(buf).convert("RGB"))
    got = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert got.shape == original.shape
    assert np.abs(got.astype(int) - original).mean() < 1.0  # gray levels


def test_an_exact_image_is_embedded_pixel_for_pixel():
    # the registration's QC figures: rare bright colours (magma's top) are the finding, and
    # 256 colours merged them; exact keeps every pixel, in a smaller lossless encoding
    import io

    from PIL import Image

    rng = np.random.default_rng(1)
    face = rng.random((60, 80))
    img = np.concatenate([np.repeat(face[..., None], 3, axis=-1),  # gray and magma: > 256
                          figures.plt.get_cmap("magma")(face ** 4)[..., :3]], axis=1)
    img = np.repeat(np.repeat((img * 255).astype(np.uint8), 3, axis=0), 3, axis=1)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    png = buf.getvalue()
    mime, data = figures.web_image(png, exact=True)
    assert mime == "image/webp" and len(data) < len(png)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), img)
    # not so for a figure: its palette version loses colours
    mime, lossy = figures.web_image(png)
    assert not np.array_equal(np.asarray(Image.open(io.BytesIO(lossy)).convert("RGB")), img)


def test_a_palette_png_is_embedded_as_drawn():
    # the report's own figures come as palette PNGs (png_bytes): not quantized a second time
    fig, ax = figures.plt.subplots(figsize=(3, 2))
    ax.imshow(np.random.default_rng(0).random((20, 30)))
    png = figures.png_bytes(fig)
    assert figures.web_image(png) == ("image/png", png)
    # a full-colour PNG still gets its palette version when that is smaller
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.open(io.BytesIO(png)).convert("RGB").save(buf, format="PNG")
    mime, data = figures.web_image(buf.getvalue())
    assert mime == "image/png" and len(data) < len(buf.getvalue())


def test_hog_glyphs_scale_with_value_and_ignore_negatives():
    h = np.zeros((2, 3, 8))
    h[1, 2, 3] = 2.0
    h[0, 0, 1] = -5.0
    img = figures.hog_glyphs(h, 16)
    assert img.shape == (32, 48)
    assert img[:16, :16].max() == 0  # the negative cell draws nothing
    assert img[16:, 32:].max() > 1.0
    with pytest.raises(ValueError, match="cells_y, cells_x, orientations"):
        figures.hog_glyphs(np.zeros((3, 8)))


@pytest.mark.parametrize(("orientations", "cell_px"), [(8, 16), (8, 32), (9, 12), (3, 5), (6, 7)])
def test_hog_glyphs_equal_each_line_drawn_on_its_own(orientations, cell_px):
    # every cell's line for every orientation drawn and added one at a time, in the order of
    # cells, orientations and the line's pixels: the glyphs must equal it to the bit (the
    # lines are drawn once per orientation and placed; (9, 12) and (3, 5) have ends half a
    # pixel off the grid, which round by parity, so every cell is drawn again)
    from skimage.draw import line_aa

    rng = np.random.default_rng(orientations * 100 + cell_px)
    h = rng.random((5, 7, orientations)) * 3
    h[rng.random(h.shape) < 0.3] = 0
    expected = np.zeros((5 * cell_px, 7 * cell_px))
    radius = cell_px // 2 - 1
    mid = np.pi * (np.arange(orientations) + 0.5) / orientations
    for r in range(5):
        for c in range(7):
            r0, c0 = r * cell_px + cell_px // 2, c * cell_px + cell_px // 2
            for o in range(orientations):
                dr, dc = radius * np.sin(mid[o]), radius * np.cos(mid[o])
                rr, cc, val = line_aa(int(round(r0 - dc)), int(round(c0 + dr)),
                                      int(round(r0 + dc)), int(round(c0 - dr)))
                inside = (rr < expected.shape[0]) & (cc < expected.shape[1])
                np.add.at(expected, (rr[inside], cc[inside]), val[inside] * h[r, c, o])
    assert np.array_equal(figures.hog_glyphs(h, cell_px), expected)


# ---------------------------------------------------------------------------- report


def _images(html: str) -> list[bytes]:
    import base64

    found = re.findall(r'<img src="data:image/(png|webp);base64,([^"]+)"', html)
    images = [base64.b64decode(m) for _, m in found]
    # each is what its mime type says
    assert all(i.startswith(b"\x89PNG") if kind == "png" else i[8:12] == b"WEBP"
               for (kind, _), i in zip(found, images, strict=True))
    return images


def test_report_is_self_contained_with_every_section(results):
    from mouseface.report import write_report

    path = write_report(results)
    assert path == results / "report.html"
    html = path.read_text()
    for section in ("summary", "prototypes", "traces", "aligned", "heatmaps", "scores",
                    "registration", "warnings"):
        assert f'id="{section}"' in html
    # no network: no external scripts, styles or images
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script" not in html
    images = _images(html)
    # 2 prototype figures, traces, aligned, heatmaps, score matrix, 2 registration QC figures
    assert len(images) == 8
    assert "registration/qc_mA.png" in html and "registration/summary.json" in html
    # run summary: settings, versions, inputs; no warnings and no failed section
    assert "hog.pixels_per_cell" in html and "pynwb" in html and "mA_s1.mp4" in html
    assert "could not be drawn" not in html
    assert "None: the run and the report finished without warnings" in html
    # the trial table has every trial and its scores
    trials = pd.read_csv(results / "trials.csv")
    assert html.count("<tr><td") >= len(trials)
    assert f"{trials['score_pain'].iloc[1]:+.3f}" in html


def test_report_shows_warnings_and_extra_figures(results, tmp_path):
    import json

    from mouseface.report.html import write_report

    d = tmp_path / "res"
    shutil.copytree(results, d)
    run = json.loads((d / "run.json").read_text())
    run["warnings"] = ["video.mp4: video ends early: decoded 10 of 20 frames"]
    (d / "run.json").write_text(json.dumps(run))
    (d / "analysis").mkdir()
    (d / "neural").mkdir()
    png = figures.png_bytes(figures.score_matrix_figure(
        pd.DataFrame([[0.1]], index=["pain"], columns=["pain"])))
    (d / "analysis" / "confusion.png").write_bytes(png)
    (d / "neural" / "correlations.png").write_bytes(png)
    (d / "neural" / ".correlations.tmp.png").write_bytes(b"half written")
    (d / "analysis" / "summary.json").write_text('{"classify": {"ok": true}}')
    html = write_report(d, max_sessions=1).read_text()
    assert "video ends early" in html
    assert 'id="analysis"' in html and 'id="neural"' in html
    assert "analysis/confusion.png" in html and "neural/correlations.png" in html
    assert "analysis/summary.json" in html and "&#34;classify&#34;" in html
    assert len(_images(html)) == 10  # the temporary file is left out
    assert "Showing 1 of 2 sessions" in html


def test_figures_drawn_beforehand_make_the_same_page(results, tmp_path):
    # the demo draws the run's own figures while its analyses run, then writes the page
    from mouseface.io.results import load_results
    from mouseface.report import html

    d = tmp_path / "res"
    shutil.copytree(results, d)
    res = load_results(d)
    drawn = html.draw_figures(d, res, res.run, max_sessions=1)
    (d / "analysis").mkdir()  # written after the figures were drawn: still shown
    (d / "analysis" / "summary.json").write_text('{"classify": {"ok": true}}')
    before = html.build_context(d, results=res, max_sessions=1, drawn=drawn)
    here = html.build_context(d, results=res, max_sessions=1)
    assert before.keys() == here.keys()
    for key in sorted(set(before) - {"generated"}):
        assert before[key] == here[key], key
    assert before["prototypes"] and before["traces"] and "analysis/summary.json" in str(
        before["extras"])


def test_sections_drawn_by_two_callers_make_the_same_figures(results, tmp_path):
    """The demo's two processes share the report's sections (``claim``): what each drew, put
    together (``add_drawn``), is what one call draws; no section is drawn twice."""
    from mouseface.io.results import load_results
    from mouseface.report import html

    d = tmp_path / "res"
    shutil.copytree(results, d)
    res = load_results(d)
    taken: list[str] = []

    def claim(name: str) -> bool:
        if name in taken:
            return False
        taken.append(name)
        return True

    # the second process is done first here: it takes from the end
    late = html.draw_figures(d, res, res.run, max_sessions=1, registration=False,
                             sections=("action_units", "aligned"), claim=claim)
    first = html.draw_figures(d, res, res.run, max_sessions=1, claim=claim)
    assert late["drawn"] == ["action_units", "aligned"]
    assert first["drawn"] == ["prototypes", "traces", "scores"]
    assert first["aligned"] is None and late["aligned"]
    html.add_drawn(first, late)
    html.add_drawn(first, None)  # the other drew nothing
    whole = html.draw_figures(d, res, res.run, max_sessions=1)
    assert sorted(first["drawn"]) == sorted(whole["drawn"]) == sorted(html.SECTIONS)
    for key in sorted(set(whole) - {"drawn"}):
        assert first[key] == whole[key], key


def _videos_gone(d, tmp_path):
    import zarr

    for store in (d / "features").glob("*.zarr"):
        zarr.open_group(str(store), mode="r+").attrs["video"] = str(tmp_path / "gone.mp4")


def test_report_draws_the_mean_faces_the_run_recorded_without_the_videos(results, tmp_path):
    import warnings

    from mouseface.io.layout import ResultsLayout
    from mouseface.report.html import write_report

    d = tmp_path / "res"
    shutil.copytree(results, d)
    _videos_gone(d, tmp_path)
    files = ResultsLayout(d).model_files
    assert files.picked_frames.is_file() and files.mean_faces.is_file()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        html = write_report(d).read_text()
    # nothing decoded (the videos are gone), nothing missing
    assert not [w for w in caught if "mean faces" in str(w.message)]
    assert "not drawn" not in html and "picked_frames.csv" in html
    assert len(_images(html)) == 8


def test_report_without_videos_or_recorded_faces_still_draws(results, tmp_path):
    from mouseface.io.layout import ResultsLayout
    from mouseface.report.html import write_report

    d = tmp_path / "res"
    shutil.copytree(results, d)
    # no faces recorded (the pass kept no crops) and the videos moved away: mean faces cannot
    # be decoded, the rest of the page is there
    ResultsLayout(d).model_files.mean_faces.unlink()
    _videos_gone(d, tmp_path)
    with pytest.warns(UserWarning, match="mean faces of mA not drawn"):
        html = write_report(d).read_text()
    assert "mean faces of mA not drawn" in html and "gone.mp4" in html
    assert len(_images(html)) == 8


def test_report_of_a_folder_without_trials(results, tmp_path):
    from mouseface.report.html import write_report

    d = tmp_path / "res"
    shutil.copytree(results, d)
    (d / "trials.csv").unlink()
    steps = []
    html = write_report(d, progress=steps.append).read_text()
    assert steps == ["figures", "page"]
    assert 'id="traces"' in html and 'id="scores"' not in html
    assert "could not be drawn" not in html


def test_report_refuses_a_folder_that_is_not_results(tmp_path):
    from mouseface.report import write_report

    with pytest.raises(InputError, match="not a mouseface results folder"):
        write_report(tmp_path)


def test_report_cli(results, tmp_path):
    from typer.testing import CliRunner

    from mouseface.cli import app

    out = tmp_path / "r.html"
    got = CliRunner().invoke(app, ["report", str(results), "--out", str(out)])
    assert got.exit_code == 0, got.output
    assert out.is_file() and "report written to" in got.output
    got = CliRunner().invoke(app, ["report", str(tmp_path / "nothing")])
    assert got.exit_code == 2 and "not a mouseface results folder" in got.output


# ---------------------------------------------------------------------------- overlay


def test_overlay_has_one_frame_per_input_frame(results, tmp_path):
    import av

    from mouseface.report.overlay import write_overlay

    path = write_overlay(results, "mA_s1", tmp_path / "o.mp4")
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        frames = [f.to_ndarray(format="gray") for f in c.decode(stream)]
        rate = float(stream.average_rate)
    assert len(frames) == N_FRAMES
    assert rate == pytest.approx(FPS)
    h, w = frames[0].shape
    assert h % 2 == 0 and w % 2 == 0 and w > 300
    # the stimulus is marked: a bright frame around the crop during stimuli (t = 4.5 s)
    # and not before (t = 1 s)
    on, off = frames[45], frames[10]
    assert (on[:, :6] >= 240).sum() > (off[:, :6] >= 240).sum() + 100


def test_overlay_cli_and_errors(results, tmp_path):
    from typer.testing import CliRunner

    from mouseface.cli import app

    got = CliRunner().invoke(app, ["overlay", str(results), "nope"])
    assert got.exit_code == 2 and "no session 'nope'" in got.output and "mA_s1" in got.output
    out = tmp_path / "b.mp4"
    got = CliRunner().invoke(app, ["overlay", str(results), "mB_s1", "-o", str(out), "-q"])
    assert got.exit_code == 0, got.output
    assert out.stat().st_size > 0


def test_the_prototypes_are_the_mean_of_the_frames_the_run_recorded(results):
    from mouseface.io.model import load_mean_faces, load_picked
    from mouseface.io.results import Results

    r = Results(results)
    picked, faces = load_picked(results), load_mean_faces(results)
    n_frames = r.run["settings"]["prototypes"]["n_frames"]
    assert set(picked["model"]) == set(r.models) and set(faces) == set(r.models)
    assert len(picked.groupby(["model", "prototype"])) == sum(
        np.isfinite(r.prototypes[n][i]).any() for n in r.prototypes if n != "neutral"
        for i in range(len(r.models)))
    for (model, name), rows in picked.groupby(["model", "prototype"]):
        assert 0 < len(rows) <= n_frames
        proto = r.prototype(name, model).ravel()
        ok = np.isfinite(proto)  # cells under a mask are NaN
        mean = r.hog(rows).astype(np.float64).mean(axis=0)
        np.testing.assert_allclose(mean[ok], proto[ok], rtol=1e-6, atol=1e-9)
        face, count = faces[model][name]
        assert face is not None and 0 < count <= len(rows)
    for model in r.models:
        face, count = faces[model]["neutral"]
        assert face is not None and count > 0
