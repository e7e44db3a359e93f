"""``mouseface view``: open a video, a sessions table or a results folder in napari."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import typer

from mouseface._errors import install_hint
from mouseface.cli._app import app, fail, user_errors

MISSING = f"the napari viewer is not installed: {install_hint('napari')}"


def _napari_missing() -> str | None:
    """Why napari cannot start here, or None."""
    try:
        import napari  # noqa: F401
        import qtpy.QtCore  # noqa: F401  (napari needs a Qt binding: the extra brings PyQt6)
    except Exception:  # ImportError, or qtpy's error when no Qt binding is installed
        return MISSING
    on_x11 = sys.platform.startswith(("linux", "freebsd"))
    if on_x11 and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                       or os.environ.get("QT_QPA_PLATFORM")):
        return ("no display to open the viewer on (DISPLAY is not set): run it on a desktop, "
                "or under a virtual one: xvfb-run mouseface view ...")
    return None


@app.command()
@user_errors
def view(
    path: Path | None = typer.Argument(
        None, help="A video (or folder of frames), a sessions table, or a results folder.",
        show_default=False),
    session: str | None = typer.Option(None, "--session", "-s",
                                       help="The session to show (table or results)."),
    table: Path | None = typer.Option(None, "--table", "-t",
                                      help="Sessions table to write the ROI and mask into "
                                      "(with a video or a results folder)."),
    fps: float | None = typer.Option(None, "--fps", help="Frame rate of a folder of frames."),
    poses: Path | None = typer.Option(None, "--poses", help="Keypoints of the video, frame for "
                                      "frame (DeepLabCut .h5/.csv, SLEAP .slp/.h5, Lightning "
                                      "Pose .csv, Facemap .h5): a Points layer over it."),
    min_likelihood: float = typer.Option(0.6, "--min-likelihood", help="Keypoints below this "
                                         "likelihood are hidden."),
    individual: str | None = typer.Option(None, "--individual", help="The animal of a "
                                          "multi-animal pose file (default: all)."),
) -> None:
    """Draw the face ROI and masks in napari, or browse results.

    On a video: draw the face ROI and mask regions and write them into a sessions table. On a
    results folder: its similarity traces, stimuli, quality flags and drift beside its video
    (and its keypoints and action units when it was run with poses). --poses FILE draws a pose
    file's keypoints over the video. Needs napari and a Qt binding: pip install
    "napari[pyqt6]"."""
    why = _napari_missing()
    if why:
        raise fail(why)
    import napari

    from mouseface.napari.view import kind_of, open_path, read_view_poses

    # a missing path or a bad pose file stops here with one line, before a window opens
    kind = None if path is None else kind_of(path)
    ds = None
    if poses is not None:
        if kind is None:
            raise fail("--poses draws keypoints over a video: give the video (or a sessions "
                       "table or results folder) too")
        ds = read_view_poses(poses, individual)
        if kind == "video" and path.is_file():
            from mouseface.io.poses import check_length
            from mouseface.io.video import open_video

            reader = open_video(path, fps=fps)
            check_length(ds, reader.n_frames, poses, path)
            reader.close()
    viewer = napari.Viewer(title=f"mouseface view {path.name if path else ''}".strip())
    _fit_window(viewer)
    open_path(viewer, path, session=session, table=table, fps=fps, poses=ds,
              min_likelihood=min_likelihood, individual=individual)
    napari.run()


def _fit_window(viewer, largest: tuple[int, int] = (1600, 1050)) -> None:
    """Most of the screen for the window: the ROI and results docks leave the canvas too
    little room in napari's default size."""
    from qtpy.QtWidgets import QApplication

    screen = QApplication.primaryScreen()
    if screen is None:
        return
    free = screen.availableGeometry()
    width = min(largest[0], int(free.width() * 0.95))
    height = min(largest[1], int(free.height() * 0.92))
    viewer.window._qt_window.resize(width, height)  # napari has no public resize
