"""The figures' writer (``analysis_figures.save``) lays a figure out once for its PNG and SVG:
the PNG must stay what matplotlib's own tight bounding box gives, to the pixel."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from mouseface.report.analysis_figures import plt, save


def _figure():
    fig, axes = plt.subplots(2, 1, figsize=(5, 3), layout="constrained")
    x = np.linspace(1, 100, 400)
    axes[0].plot(x, np.sqrt(x))
    axes[0].set_yscale("log")
    axes[0].set_title("a long title that sets the layout", loc="left")
    axes[1].imshow(np.arange(64.0).reshape(8, 8))
    axes[1].set_ylabel("rows\n(two lines)")
    fig.legend(["trace"], loc="outside lower center")
    fig.suptitle("suptitle")
    return fig


def test_save_writes_the_png_of_a_tight_savefig_and_an_svg(tmp_path):
    fig = _figure()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150, bbox_inches="tight")
    plt.close(fig)
    paths = save(_figure(), tmp_path / "fig")
    assert [p.name for p in paths] == ["fig.png", "fig.svg"]
    expected = np.asarray(Image.open(buf))
    assert np.array_equal(np.asarray(Image.open(paths[0])), expected)
    svg = paths[1].read_text()
    assert svg.lstrip().startswith("<?xml") and "suptitle" in svg.replace("<!-- ", "")


@pytest.mark.parametrize("module", ["mouseface.report.behaviour_figures",
                                    "mouseface.report.registration_figures",
                                    "mouseface.report.neural_figures",
                                    "mouseface.report.figures"])
def test_a_figure_module_imported_alone_draws_in_the_report_style(module):
    """The figures look alike whichever command draws them first: importing any drawing
    module of the report applies the report's style (not only ``report.figures``)."""
    import subprocess
    import sys

    code = (f"import {module}, matplotlib.pyplot as plt; "
            "from mouseface.report.style import RC; "
            "print(all(plt.rcParams[k] == v for k, v in RC.items()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "True"
