"""The report in a real browser: headless Chromium (Debian's ``chromium``) driven by Playwright.

Checks that the page loads from disk with no console errors and no network requests, that
every image decoded (``naturalWidth > 0``), and saves a full-page screenshot in
``test-artifacts/`` for a person to look at. Skips with a reason when Playwright or Chromium is
missing (``apt-get install chromium``; ``.ci/run`` installs it when it can).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.unit.report.video_results import shared_results

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed "
                        "(pip install -e '.[test]')")
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.skip("no chromium on PATH: apt-get install chromium")
    return exe


def open_report(path: Path, screenshot: Path, top: Path | None = None) -> dict:
    """Load ``path`` in headless Chromium; return console errors, requests and image states."""
    from playwright.sync_api import sync_playwright

    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1366, "height": 800})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(path.resolve().as_uri(), wait_until="load")
            images = page.evaluate("""() => Array.from(document.images).map(i => ({
                alt: i.alt, complete: i.complete, width: i.naturalWidth}))""")
            sections = page.evaluate(
                "() => Array.from(document.querySelectorAll('section')).map(s => s.id)")
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(screenshot), full_page=True)
            if top is not None:
                page.screenshot(path=str(top))
        finally:
            browser.close()
    return {"errors": errors, "requests": requests, "images": images, "sections": sections}


def _check(got: dict, report: Path) -> None:
    assert got["errors"] == [], got["errors"]
    # the page itself is the only request: images are data URIs, nothing from the network
    others = [u for u in got["requests"] if not u.startswith(("file:", "data:"))]
    assert others == [], others
    assert got["images"], "no images in the report"
    broken = [i["alt"] for i in got["images"] if not (i["complete"] and i["width"] > 0)]
    assert broken == [], f"images that did not load: {broken}"


@pytest.fixture(scope="module")
def small_report(tmp_path_factory) -> Path:
    from mouseface.report import write_report

    results = tmp_path_factory.mktemp("browser") / "results"
    shutil.copytree(shared_results(tmp_path_factory), results)
    # an analysis and a neural figure, as the analysis verbs would leave them
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    for sub, name in (("analysis", "confusion"), ("neural", "correlations")):
        (results / sub).mkdir(exist_ok=True)
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot([0, 1], [0, 1])
        ax.set_xlabel("x (s)")
        fig.savefig(results / sub / f"{name}.png", bbox_inches="tight")
        plt.close(fig)
        (results / sub / "summary.json").write_text('{"ok": true}')
    return write_report(results)


def test_report_loads_in_chromium(small_report):
    _chromium()
    got = open_report(small_report, ARTIFACTS / "report_small.png")
    _check(got, small_report)
    assert {"summary", "prototypes", "traces", "aligned", "heatmaps", "scores", "registration",
            "analysis", "neural", "warnings"} <= set(got["sections"])
    # 2 prototype figures, traces, aligned, heatmaps, score matrix, 2 registration QC, 2 extras
    assert len(got["images"]) == 10


@pytest.mark.slow
@pytest.mark.timeout(1800)  # the demo: about a minute on an idle 2-core machine
def test_demo_report_in_chromium(small_demo):
    """The demo's report (a small demo: 2 animals, 2 trials per condition); screenshots kept:
    the whole page and its top (the Findings a reader sees first)."""
    _chromium()
    report = small_demo.results / "report.html"
    got = open_report(report, ARTIFACTS / "report.png", top=ARTIFACTS / "report_top.png")
    _check(got, report)
    assert got["sections"][:2] == ["findings", "summary"]
    assert {"prototypes", "traces", "aligned", "heatmaps", "scores"} <= set(got["sections"])
