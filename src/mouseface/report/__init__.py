"""The report room: figures and the self-contained HTML report of a results folder.

``write_report(results_dir)`` writes ``results_dir/report.html`` and returns its path. The
figure modules of the analyses (:mod:`~mouseface.report.analysis_figures`,
:mod:`~mouseface.report.neural_figures`) live here too; importing this package stays light.
"""

from __future__ import annotations

from pathlib import Path


def write_report(results_dir: str | Path, out: str | Path | None = None, **kwargs) -> Path:
    """Write ``results_dir/report.html``; see :func:`mouseface.report.html.write_report`."""
    from mouseface.report.html import write_report as _write

    return _write(results_dir, out, **kwargs)


__all__ = ["write_report"]
