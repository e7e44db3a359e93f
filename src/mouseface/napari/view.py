"""Open a video, a sessions table or a results folder in a napari viewer (``mouseface view``).

::

    regions, results = open_path(viewer, "results/")              # results dock too
    regions, _ = open_path(viewer, "sessions.csv", session="m1_s1")
    regions, _ = open_path(viewer, "face.mp4", table="sessions.csv")
    regions, _ = open_path(viewer, "face.mp4", poses="face_DLC.h5")  # keypoints over it
"""

from __future__ import annotations

from pathlib import Path

from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout
from mouseface.io.tables import _SUFFIXES
from mouseface.io.video import IMAGE_SUFFIXES

__all__ = ["open_path", "kind_of", "read_view_poses"]

#: video file suffixes the viewer opens (anything else PyAV reads works too)
VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".webm")


def kind_of(path: str | Path) -> str:
    """``"results"``, ``"table"``, ``"video"`` (a file or a folder of frames) for a path.

    Raises
    ------
    InputError
        The path does not exist, or is a folder that is neither results nor frames.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("not found", path)
    if path.is_dir():
        if ResultsLayout(path).is_results():
            return "results"
        if any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.iterdir()):
            return "video"
        raise InputError("a folder that is neither a mouseface results folder (no run.json or "
                         "frames.parquet) nor a folder of image frames", path)
    if path.suffix.lower() in _SUFFIXES:
        return "table"
    return "video"


def read_view_poses(poses, individual: str | None = None):
    """A pose file read for the viewer (a ``movement`` dataset is returned as it is).

    Raises
    ------
    InputError
        A missing or unreadable pose file, or no such individual.
    """
    if not isinstance(poses, (str, Path)):
        return poses
    from mouseface.io.poses import read_poses

    return read_poses(poses, individual=individual)


def open_path(viewer, path: str | Path | None = None, *, session: str | None = None,
              table: str | Path | None = None, fps: float | None = None,
              poses: str | Path | None = None, min_likelihood: float | None = 0.6,
              individual: str | None = None):
    """Dock mouseface's widgets in ``viewer`` and open ``path`` in them.

    Parameters
    ----------
    viewer
        A ``napari.Viewer``.
    path
        A video file (or folder of frames), a sessions table, or a results folder; None opens
        the widgets empty.
    session
        The session to show (a sessions table or a results folder).
    table
        The sessions table the ROI and mask are written into (with a video or results).
    fps
        Frame rate of a folder of frames.
    poses
        A pose file (or a ``movement`` dataset) of the video on screen, frame for frame
        (DeepLabCut, SLEAP, Lightning Pose, Facemap; read by
        :func:`mouseface.io.poses.read_poses`): its keypoints as a Points layer. A results
        folder made with poses shows its own without this.
    min_likelihood
        Keypoints below it are hidden (None: all).
    individual
        The animal of a multi-animal pose file (default: all of them).

    Returns
    -------
    (RegionsWidget, ResultsWidget or None)
    """
    from mouseface.napari.widgets import RegionsWidget, ResultsWidget

    regions = RegionsWidget(viewer)
    viewer.window.add_dock_widget(regions, name="mouseface: face ROI and masks", area="right")
    results = None
    kind = None if path is None else kind_of(path)
    if kind == "results":
        results = ResultsWidget(viewer, regions=regions)
        viewer.window.add_dock_widget(results, name="mouseface: results", area="bottom")
        results.open_results(path, session)
        if regions.video is not None:
            from qtpy.QtCore import QTimer

            # again once the window is laid out: the docks shrink the canvas the first zoom
            # was computed for, and the face must be on screen
            QTimer.singleShot(0, lambda: regions._try(regions.zoom_to_roi))
    elif kind == "table":
        regions.open_table(path, session)
    elif kind == "video":
        regions.open_video(path, fps=fps)
    if table is not None:
        regions.open_table(table, session)
    if poses is not None:
        regions.show_poses(read_view_poses(poses, individual), min_likelihood=min_likelihood)
    return regions, results
