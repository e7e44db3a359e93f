"""The dock widgets: draw the face ROI and masks (:class:`RegionsWidget`), browse a results
folder (:class:`ResultsWidget`).

Both are thin: conversions live in :mod:`mouseface.napari.convert`, frames come from
:class:`~mouseface.napari.lazy.LazyVideo`, the sessions table is written by
:func:`mouseface.io.regions.write_regions`. Every action a button does is a method a script
(or a test) can call: ``open_video``, ``open_table``, ``select_session``, ``write``,
``show_poses``, ``open_results``, ``go_to_trial``, ``next_flagged``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from mouseface._errors import InputError
from mouseface.expressions.windows import stimulus_window
from mouseface.io.regions import SCOPES, roi_text, write_regions
from mouseface.napari import convert
from mouseface.napari.lazy import LazyVideo

__all__ = ["RegionsWidget", "ResultsWidget", "LAYERS"]

#: names of the layers the widgets own
LAYERS = {"video": "video", "roi": "face ROI", "mask": "mask", "poses": "keypoints"}
_SCOPE_TEXT = {"session": "this session", "animal": "all sessions of this animal",
               "video": "all sessions of this video"}
#: the previews' size in the dock (longer side, screen pixels): two a row, so that all three
#: fit the dock's width and the height left beside the results dock (the glyphs at twice the
#: size were cut off)
_PREVIEW_PX = {"crop": 120, "registered": 120, "hog": 120}


def _notify(message: str, error: bool = False) -> None:
    from napari.utils import notifications

    (notifications.show_error if error else notifications.show_info)(message)


class RegionsWidget(QWidget):
    """Draw the face ROI (a rectangle) and mask regions on a video; write them into a sessions
    table; see the crop, its HOG glyphs and (with results) the registered crop of the frame.

    Parameters
    ----------
    napari_viewer
        The viewer (napari passes it when the widget is opened from the Plugins menu).
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None):
        super().__init__(parent)
        self.viewer = napari_viewer
        self.video: LazyVideo | None = None
        self.table: Path | None = None
        self.sessions = None  # the validated sessions table
        self.session: str | None = None
        self.hog_params = dict(convert.DEFAULT_HOG)
        self.registration: dict | None = None  # {"margin", "matrix"} of a run
        self.shift_of = None  # video frame -> (dy, dx) of a run's drift
        self._updating = False

        self.video_label = QLabel("no video")
        self.video_label.setWordWrap(True)
        self.table_edit = QLineEdit()
        self.table_edit.setPlaceholderText("sessions table (.csv, .tsv, .parquet)")
        self.table_edit.returnPressed.connect(lambda: self._try(self.open_table,
                                                                self.table_edit.text()))
        open_table = QPushButton("Open…")
        open_table.clicked.connect(self._browse_table)
        row = QHBoxLayout()
        row.addWidget(self.table_edit)
        row.addWidget(open_table)
        self.session_box = QComboBox()
        self.session_box.activated.connect(
            lambda _: self._try(self.select_session, self.session_box.currentText()))
        self.cell_box = QSpinBox()
        self.cell_box.setRange(4, 128)
        self.cell_box.setValue(int(np.ravel(self.hog_params["pixels_per_cell"])[0]))
        self.cell_box.setToolTip("HOG cell size of the preview (the run's [hog] pixels_per_cell)")
        self.cell_box.valueChanged.connect(self._cell_changed)
        self.scope_box = QComboBox()
        for scope in SCOPES:
            self.scope_box.addItem(_SCOPE_TEXT[scope], scope)
        self.write_roi = QCheckBox("ROI")
        self.write_mask = QCheckBox("mask")
        for box in (self.write_roi, self.write_mask):
            box.setChecked(True)
        write = QPushButton("Write to the table")
        write.clicked.connect(lambda: self._try(
            self.write, self.scope_box.currentData(), roi=self.write_roi.isChecked(),
            mask=self.write_mask.isChecked()))
        what = QHBoxLayout()
        what.addWidget(self.write_roi)
        what.addWidget(self.write_mask)
        what.addWidget(write, 1)
        self.roi_label = QLabel("roi: -")
        self.mask_label = QLabel("mask: -")
        for label in (self.roi_label, self.mask_label):
            label.setTextInteractionFlags(Qt.TextSelectableByMouse)
            label.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.preview: dict = {}  # the arrays shown: crop, hog, registered (tests read them)
        self.previews = {}
        # crop and registered crop side by side, the glyphs below; scrolls when the dock is short
        grid = QGridLayout()
        for key, title, (r, c, span) in (
                ("crop", "crop (mask in red)", (0, 0, 1)),
                ("registered", "registered (as HOG saw it)", (0, 1, 1)),
                ("hog", "HOG glyphs (masked cells empty)", (2, 0, 2))):
            caption = QLabel(title)
            caption.setWordWrap(True)
            grid.addWidget(caption, r, c, 1, span)
            self.previews[key] = QLabel()
            self.previews[key].setWordWrap(True)
            self.previews[key].setAlignment(Qt.AlignLeft | Qt.AlignTop)
            grid.addWidget(self.previews[key], r + 1, c, 1, span)
        grid.setRowStretch(4, 1)  # spare height below the previews, not between them
        inner = QWidget()
        inner.setLayout(grid)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(inner)
        scroll.setFrameShape(QFrame.NoFrame)

        form = QFormLayout()
        form.addRow("video", self.video_label)
        form.addRow("table", row)
        form.addRow("session", self.session_box)
        form.addRow("HOG cell (px)", self.cell_box)
        form.addRow("write for", self.scope_box)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addLayout(what)
        layout.addWidget(self.roi_label)
        layout.addWidget(self.mask_label)
        layout.addWidget(self.status)
        layout.addWidget(scroll, 1)
        self.viewer.dims.events.current_step.connect(self._refresh)

    # ------------------------------------------------------------------ layers

    def _layer(self, key: str):
        name = LAYERS[key]
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401

    @property
    def roi_layer(self):
        """The Shapes layer holding the face ROI rectangle (made with the video)."""
        return self._shapes("roi", edge_color="yellow", face_color="transparent", edge_width=2)

    @property
    def mask_layer(self):
        """The Shapes layer holding the mask regions (made with the video)."""
        return self._shapes("mask", edge_color="red", face_color=[1, 0, 0, 0.35], edge_width=1)

    def _shapes(self, key: str, **style):
        layer = self._layer(key)
        if layer is None:
            if self.video is None:
                raise InputError("open a video first")
            layer = self.viewer.add_shapes(name=LAYERS[key], ndim=2, **style)
            layer.events.data.connect(self._refresh)
        return layer

    def open_video(self, path: str | Path, fps: float | None = None) -> LazyVideo:
        """Show a video, decoded on demand (nothing happens when it is already shown)."""
        path = Path(path)
        if self.video is not None and self.video.path.resolve() == path.resolve():
            return self.video
        video = LazyVideo(path, fps=fps)
        old, self.video = self.video, video
        # no previews while layers are inserted: napari's layer list breaks on nested inserts
        self._updating = True
        try:
            layer = self._layer("video")
            if layer is None:
                self.viewer.add_image(video, name=LAYERS["video"], contrast_limits=(0, 255),
                                      colormap="gray", metadata={"mouseface_video": str(path)})
            else:
                layer.data = video
                layer.metadata["mouseface_video"] = str(path)
            self.roi_layer, self.mask_layer  # noqa: B018  (made above the video)
            self.viewer.dims.set_current_step(0, 0)
        finally:
            self._updating = False
        if old is not None:
            old.close()
            self.hide_poses()  # the old video's keypoints
        self.video_label.setText(f"{path.name} ({video.shape[0]} frames, "
                                 f"{video.shape[2]}x{video.shape[1]} px)")
        self._refresh()
        return video

    def close_video(self) -> None:
        """Take the video, its ROI and mask layers and the previews away."""
        self._updating = True
        try:
            for key in ("poses", "mask", "roi", "video"):
                if self._layer(key) is not None:
                    self.viewer.layers.remove(LAYERS[key])
        finally:
            self._updating = False
        if self.video is not None:
            self.video.close()
        self.video = None
        self.video_label.setText("no video")
        self._clear_previews()

    def show_poses(self, ds, frames: np.ndarray | None = None, *,
                   min_likelihood: float | None = 0.6, text: bool = True):
        """Show keypoints over the video: a Points layer, one point per keypoint per frame,
        coloured by keypoint and labelled with its name; missing points and points below
        ``min_likelihood`` are hidden (:func:`mouseface.napari.convert.pose_points`).

        Parameters
        ----------
        ds : xarray.Dataset
            A ``movement`` poses dataset of the video on screen.
        frames
            The video frame of each pose row; default the poses are the video's, frame for
            frame (their length is checked against the video's).

        Returns
        -------
        napari.layers.Points
        """
        from mouseface.io.poses import check_length

        if self.video is None:
            raise InputError("open a video first: the keypoints are drawn over it")
        if frames is None:
            check_length(ds, self.video.shape[0], ds.attrs.get("source_file"), self.video.path)
        points = convert.pose_points(ds, frames, min_likelihood)
        self.hide_poses()
        style = {"size": max(3.0, 0.012 * max(self.video.shape[1:])), "border_width": 0,
                 "face_color": points.colours if len(points.data) else "white",
                 "out_of_slice_display": False, "blending": "translucent_no_depth"}
        if text:
            style["text"] = {"string": "{keypoint}", "size": 7, "color": "white",
                             "anchor": "upper_left", "translation": [0, 0, 4]}
        self._updating = True
        try:
            layer = self.viewer.add_points(
                points.data if len(points.data) else np.empty((0, 3)), ndim=3,
                features=points.features, name=LAYERS["poses"],
                metadata={"mouseface_poses": ds.attrs.get("source_file", ""),
                          "keypoints": points.keypoints, "hidden": points.hidden}, **style)
            # the ROI and mask above the keypoints, so that drawing still reaches them
            for key in ("roi", "mask"):
                if self._layer(key) is not None:
                    self.viewer.layers.move(self.viewer.layers.index(LAYERS[key]),
                                            len(self.viewer.layers))
        finally:
            self._updating = False
        self.viewer.layers.selection.active = self._layer("roi")
        return layer

    def hide_poses(self) -> None:
        """Take the keypoints layer away (nothing happens without one)."""
        if self._layer("poses") is not None:
            self.viewer.layers.remove(LAYERS["poses"])

    def zoom_to_roi(self, margin: float = 0.6) -> None:
        """Centre the canvas on the face ROI, with ``margin`` times its size around it."""
        x, y, w, h = self.current_roi()
        # napari 0.9 moved the camera to viewer.scene
        scene = getattr(self.viewer, "scene", None)
        camera = scene.camera if scene is not None else self.viewer.camera
        camera.center = (y + h / 2 - 0.5, x + w / 2 - 0.5)
        # the canvas size in screen pixels (height, width), which napari keeps on the model
        canvas = tuple(getattr(self.viewer, "_canvas_size", None) or (600, 800))
        camera.zoom = min(canvas[0] / (h * (1 + 2 * margin)), canvas[1] / (w * (1 + 2 * margin)))

    # ------------------------------------------------------------------ table

    def _browse_table(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Sessions table", "",
                                              "Tables (*.csv *.tsv *.tab *.parquet *.pq)")
        if path:
            self._try(self.open_table, path)

    def open_table(self, path: str | Path, session: str | None = None) -> None:
        """Read a sessions table; select ``session``, or a session of the shown video, or the
        first."""
        from mouseface.io.tables import read_sessions

        path = Path(path)
        sessions = read_sessions(path)
        self.table, self.sessions = path, sessions
        self.table_edit.setText(str(path))
        self.session_box.clear()
        self.session_box.addItems(list(sessions["session"]))
        if session is None and self.video is not None:
            here = sessions[[_same(v, self.video.path) for v in sessions["video"]]]
            session = here["session"].iloc[0] if len(here) else None
        self.select_session(session if session is not None else sessions["session"].iloc[0])

    def select_session(self, session: str) -> None:
        """Show a session of the table: its video, its ROI and its mask."""
        if self.sessions is None:
            raise InputError("open a sessions table first")
        rows = self.sessions[self.sessions["session"] == str(session)]
        if not len(rows):
            raise InputError(f"no session {session!r} in the table", self.table)
        r = rows.iloc[0]
        self.session = str(session)
        self.session_box.setCurrentText(self.session)
        fps = None if r["fps"] != r["fps"] else float(r["fps"])
        self.open_video(r["video"], fps=fps)
        mask = r["mask"] if "mask" in rows.columns and isinstance(r["mask"], str) else ""
        self.set_regions(r["roi"], mask)

    def set_regions(self, roi, mask: str = "") -> None:
        """Put an ROI ``(x, y, w, h)`` (None: none drawn) and mask text on the layers."""
        self._updating = True
        try:
            self.roi_layer.data = []
            if roi is not None:
                self.roi_layer.add_rectangles(convert.roi_to_rectangle(roi))
            data, kinds = convert.mask_to_shapes(mask, roi) if (roi is not None and mask) \
                else ([], [])
            self.mask_layer.data = []
            if data:
                self.mask_layer.add(data, shape_type=kinds)
        finally:
            self._updating = False
        self._refresh()

    def current_roi(self) -> tuple[int, int, int, int]:
        """The ROI of the last rectangle on the face ROI layer, clipped to the frame."""
        layer = self._layer("roi")
        rects = [] if layer is None else [
            d for d, k in zip(layer.data, layer.shape_type, strict=True) if k == "rectangle"]
        if not rects:
            raise InputError(f"draw the face ROI as a rectangle on the '{LAYERS['roi']}' layer")
        shape = None if self.video is None else self.video.shape[1:]
        try:
            return convert.rectangle_to_roi(rects[-1], shape)
        except ValueError as exc:
            raise InputError(str(exc)) from None

    def current_mask(self, roi=None) -> str:
        """The mask layer's regions as ``mask`` text, in crop pixels of ``roi``."""
        roi = self.current_roi() if roi is None else roi
        try:
            return convert.shapes_to_mask(self.mask_layer.data, self.mask_layer.shape_type, roi)
        except ValueError as exc:
            raise InputError(f"mask: {exc}") from None

    def write(self, scope: str = "session", *, roi: bool = True, mask: bool = True
              ) -> list[str]:
        """Write the drawn ROI and/or mask into the table for this session, all sessions of
        its animal, or all sessions of its video; returns the sessions written.

        A spout fixed to the camera: draw the mask once and write only the mask for the
        animal (``roi=False``); the ROI, per session.
        """
        if scope not in SCOPES:
            raise ValueError(f"scope must be one of {SCOPES}; got {scope!r}")
        if not (roi or mask):
            raise InputError("nothing to write: tick the ROI, the mask or both")
        if self.table is None or self.sessions is None:
            raise InputError("open a sessions table first (the table to write the ROI into)")
        if scope != "video" and self.session is None:
            raise InputError("choose the session (a row of the table) to write for")
        box = self.current_roi()
        text = self.current_mask(box)
        self._mask_cells(box, text)  # a mask over every HOG cell stops here, not in `run`
        where = {"session": self.session, "video": self.video.path if self.video else None,
                 "animal": None}
        if scope == "animal":
            where["animal"] = str(self.sessions.loc[self.sessions["session"] == self.session,
                                                    "animal"].iloc[0])
        done = write_regions(self.table, roi=box if roi else None, mask=text if mask else None,
                             **{scope: where[scope]})
        from mouseface.io.tables import read_sessions

        self.sessions = read_sessions(self.table)
        what = ([f"roi {roi_text(box)}"] if roi else []) + (
            [f"mask {text}" if text else "no mask"] if mask else [])
        self._say(f"wrote {' and '.join(what)} for {len(done)} "
                  f"session{'s' if len(done) != 1 else ''} into {self.table.name}")
        return done

    # ------------------------------------------------------------------ previews

    def _cell_changed(self, value: int) -> None:
        self.hog_params["pixels_per_cell"] = int(value)
        self._refresh()

    def set_hog(self, params: dict) -> None:
        """HOG parameters of the preview (a run's ``settings["hog"]``)."""
        self.hog_params = {**convert.DEFAULT_HOG, **params}
        self.cell_box.blockSignals(True)
        self.cell_box.setValue(int(np.ravel(self.hog_params["pixels_per_cell"])[0]))
        self.cell_box.blockSignals(False)
        self._refresh()

    def _mask_cells(self, roi, mask: str) -> np.ndarray | None:
        """The HOG cells the mask leaves out, as `run` sets up the session (FaceSetup)."""
        from mouseface.features.face_setup import FaceSetup
        from mouseface.features.masks import parse_regions

        if not mask:
            return None
        try:
            return FaceSetup(self.hog_params, regions=parse_regions(mask)).cells(
                (roi[3], roi[2]))[0]
        except ValueError as exc:
            raise InputError(f"mask: {exc}") from None

    def current_frame(self) -> int:
        return int(self.viewer.dims.current_step[0]) if self.viewer.dims.ndim >= 3 else 0

    def _refresh(self, *_) -> None:
        """Crop (mask in red), HOG glyphs and registered crop of the current frame."""
        if self._updating or self.video is None:
            return
        try:
            roi = self.current_roi()
        except InputError:
            self.roi_label.setText("roi: - (draw a rectangle on the 'face ROI' layer)")
            self._clear_previews()
            return
        self.roi_label.setText(f"roi: {roi_text(roi)}")
        try:
            mask = self.current_mask(roi)
            cells = self._mask_cells(roi, mask)
        except InputError as exc:
            self.mask_label.setText(str(exc))
            mask, cells = "", None
        else:
            self.mask_label.setText(f"mask: {mask or '-'}")
        k = min(self.current_frame(), self.video.shape[0] - 1)
        frame = self.video.frame(k)
        face = np.ascontiguousarray(convert.crop(frame, roi))
        self.preview = {"frame": k, "crop": face}
        self._put("crop", convert.tint(face, mask))
        ppc = int(np.ravel(self.hog_params["pixels_per_cell"])[0])
        if face.shape[0] >= ppc and face.shape[1] >= ppc:
            glyphs, _ = convert.hog_glyph_image(face, self.hog_params, cells)
            self.preview["hog"] = glyphs
            self._put("hog", convert.colour(glyphs))
        else:
            self.previews["hog"].setText(f"the crop holds no {ppc}-px HOG cell")
        if self.registration is not None:
            shift = None if self.shift_of is None else self.shift_of(k)
            reg = convert.registered_crop(frame, roi, self.registration["margin"],
                                          self.registration.get("matrix"), shift)
            self.preview["registered"] = reg
            self._put("registered", reg)
        else:
            self.previews["registered"].setText("open a results folder")

    def _clear_previews(self) -> None:
        self.preview = {}
        for label in self.previews.values():
            label.clear()

    def _put(self, key: str, image: np.ndarray) -> None:
        """Show a gray (h, w) or RGB (h, w, 3) uint8 image in a preview, scaled to fit."""
        from qtpy.QtGui import QImage, QPixmap

        image = np.ascontiguousarray(image)
        h, w = image.shape[:2]
        fmt = QImage.Format_RGB888 if image.ndim == 3 else QImage.Format_Grayscale8
        qimage = QImage(image.data, w, h, image.strides[0], fmt).copy()
        label = self.previews[key]
        size = _PREVIEW_PX[key]
        pixmap = QPixmap.fromImage(qimage).scaled(size, size,
                                                  Qt.KeepAspectRatio, Qt.FastTransformation)
        label.setPixmap(pixmap)

    # ------------------------------------------------------------------ messages

    def _say(self, message: str, error: bool = False) -> None:
        self.status.setText(("error: " if error else "") + message)
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")

    def _try(self, action, *args, **kwargs):
        """Run a button's action; bad input becomes one line in the widget, not a traceback."""
        try:
            return action(*args, **kwargs)
        except (InputError, ValueError) as exc:
            self._say(str(exc), error=True)
            _notify(str(exc), error=True)
            return None


#: where the action-unit rows of the results plot saturate, in spreads from neutral
AU_SPAN = 6.0


def _raster(ax, time: np.ndarray, rows: np.ndarray, cmap, vmin: float, vmax: float) -> None:
    """Rows of per-frame values as an image over ``time`` (a row per name, frame-wide)."""
    half = 0.5 * (time[-1] - time[0]) / max(len(time) - 1, 1)
    ax.imshow(rows, aspect="auto", interpolation="nearest", cmap=cmap, vmin=vmin, vmax=vmax,
              extent=(time[0] - half, time[-1] + half, len(rows) - 0.5, -0.5))


def _same(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


class ResultsWidget(QWidget):
    """A results folder beside its video: the ``sim_<prototype>`` traces of a session with its
    stimulus windows shaded, its action units (a run with poses), its quality flags and drift,
    a line at the current frame; jump to a trial or to the next flagged frame. A run with poses
    also shows the session's keypoints over its video.

    Parameters
    ----------
    napari_viewer
        The viewer.
    regions
        The :class:`RegionsWidget` that shows the session's video, ROI, mask and previews;
        one is made and docked when not given.
    """

    def __init__(self, napari_viewer, parent: QWidget | None = None,
                 regions: RegionsWidget | None = None):
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.viewer = napari_viewer
        if regions is None:
            regions = RegionsWidget(napari_viewer)
            napari_viewer.window.add_dock_widget(regions, name="mouseface: face ROI and masks",
                                                 area="right")
        self.regions = regions
        self.results: Path | None = None
        self.traces: convert.SessionTraces | None = None
        self._frame = 0  # the frame shown when the session's video is missing

        self.path_edit = QLineEdit()
        self.path_edit.setPlaceholderText("results folder")
        self.path_edit.returnPressed.connect(
            lambda: self._try(self.open_results, self.path_edit.text()))
        browse = QPushButton("Open…")
        browse.clicked.connect(self._browse)
        self.session_box = QComboBox()
        self.session_box.activated.connect(
            lambda _: self._try(self.select_session, self.session_box.currentText()))
        self.trial_list = QListWidget()
        self.trial_list.itemActivated.connect(
            lambda item: self._try(self.go_to_trial, self.trial_list.row(item)))
        self.trial_list.setMaximumWidth(260)
        prev_flag = QPushButton("◀ flagged")
        next_flag = QPushButton("flagged ▶")
        prev_flag.clicked.connect(lambda: self._try(self.next_flagged, -1))
        next_flag.clicked.connect(lambda: self._try(self.next_flagged, 1))
        self.status = QLabel("")
        self.status.setWordWrap(True)  # a frame's similarities and action units: long

        self.figure = Figure(figsize=(9, 3.2), facecolor="#262930")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Expanding)
        self.canvas.setMinimumHeight(260)
        self.canvas.mpl_connect("button_press_event", self._clicked)
        self._lines: list = []

        top = QHBoxLayout()
        top.addWidget(QLabel("results"))
        top.addWidget(self.path_edit, 2)
        top.addWidget(browse)
        top.addWidget(QLabel("session"))
        top.addWidget(self.session_box, 1)
        top.addWidget(prev_flag)
        top.addWidget(next_flag)
        side = QVBoxLayout()
        side.addWidget(QLabel("trials (double-click to go)"))
        side.addWidget(self.trial_list)
        body = QHBoxLayout()
        body.addWidget(self.canvas, 1)
        body.addLayout(side)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(body)
        layout.addWidget(self.status)
        self.viewer.dims.events.current_step.connect(self._moved)

    # ------------------------------------------------------------------ opening

    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Results folder")
        if path:
            self._try(self.open_results, path)

    def open_results(self, path: str | Path, session: str | None = None) -> None:
        """Open a results folder (what ``mouseface run`` wrote) at ``session`` (default the
        first)."""
        path = Path(path)
        sessions = convert.results_sessions(path)
        self.results = path
        self.path_edit.setText(str(path))
        self.session_box.clear()
        self.session_box.addItems(sessions)
        self._open_run_table()
        self.select_session(session or sessions[0])

    def _open_run_table(self) -> None:
        """The ROI dock's table: the sessions table the run read (``run.json``), when it is
        still there and no table is open; a write then goes where the run will read it."""
        from mouseface.io.results import Results

        if self.regions.table is not None:
            return
        table = Results(self.results).sessions_table
        if table is None or not table.is_file():
            return
        try:
            from mouseface.io.tables import read_sessions

            r = self.regions
            r.table, r.sessions = table, read_sessions(table)
            r.table_edit.setText(str(table))
            r.session_box.clear()
            r.session_box.addItems(list(r.sessions["session"]))
        except InputError as exc:  # the table changed since the run: say so, browse anyway
            self._say(str(exc), error=True)

    def select_session(self, session: str) -> None:
        """Show one session: its video, ROI, mask, registration and traces."""
        if self.results is None:
            raise InputError("open a results folder first")
        t = convert.session_traces(self.results, session)
        self.traces = t
        self.session_box.setCurrentText(t.session)
        r = self.regions
        r.registration = t.registration
        r.shift_of = None if t.shift is None else (lambda k: t.shift[t.row_of(k)])
        if t.hog_params:
            r.hog_params = {**convert.DEFAULT_HOG, **t.hog_params}
            r.cell_box.blockSignals(True)
            r.cell_box.setValue(int(np.ravel(r.hog_params["pixels_per_cell"])[0]))
            r.cell_box.blockSignals(False)
        self._frame = int(t.frame[0])
        self.trial_list.clear()
        for row in t.trials.itertuples(index=False):
            self.trial_list.addItem(f"{row.trial_type} #{int(getattr(row, 'trial', 0))}  "
                                    f"onset {row.onset:g} s")
        self._plot()
        if r.sessions is not None and t.session in set(r.sessions["session"]):
            r.session = t.session  # a write goes to the session on screen
            r.session_box.setCurrentText(t.session)
        else:
            r.session = None
            r.session_box.setCurrentIndex(-1)
        if t.video is None or not t.video.exists():
            # the traces still browse; only the frames are missing
            r.close_video()
            self._moved()
            message = (f"{self.results}: the video of session {t.session!r} is not where the "
                       f"run read it ({t.video}): traces only")
            self._say(message, error=True)
            _notify(message, error=True)
            return
        r.open_video(t.video, fps=t.fps)
        r.set_regions(t.roi, t.mask)
        if t.poses is not None:
            from mouseface.io.poses import read_session_poses

            ds = read_session_poses(t.poses)
            # the cleaned points the action units were measured on: gaps filled, none hidden
            r.show_poses(ds, ds["frame"].values if "frame" in ds.coords else None,
                         min_likelihood=None)
        else:
            r.hide_poses()
        # the first view: the session's face, at its first stimulus
        if t.roi is not None:
            r.zoom_to_roi()
        if len(t.trials):
            self.go_to_trial(0)
        self._moved()

    # ------------------------------------------------------------------ navigation

    def go_to_trial(self, i: int) -> int:
        """Move the frame slider to the onset of the session's ``i``-th trial; returns the
        frame."""
        t = self._need()
        if not 0 <= i < len(t.trials):
            raise InputError(f"session {t.session!r} has {len(t.trials)} trials; no trial {i}")
        frame = t.frame_at(float(t.trials["onset"].iloc[i]))
        self._go(frame)
        self.trial_list.setCurrentRow(i)
        return frame

    def next_flagged(self, direction: int = 1, flag: str = "flag") -> int | None:
        """Move to the next (``direction`` 1) or previous (-1) frame flagged ``flag``."""
        t = self._need()
        frames = t.flagged_frames(flag)
        here = self._here()
        ahead = frames[frames > here] if direction > 0 else frames[frames < here][::-1]
        if not len(ahead):
            self._say(f"no {'later' if direction > 0 else 'earlier'} frame flagged {flag}")
            return None
        self._go(int(ahead[0]))
        return int(ahead[0])

    def _go(self, frame: int) -> None:
        """Show video frame ``frame``: the slider moves; without the video, only the plot."""
        self._frame = int(frame)
        if self.regions.video is not None:
            self.viewer.dims.set_current_step(0, self._frame)
        else:
            self._moved()

    def _here(self) -> int:
        return self.regions.current_frame() if self.regions.video is not None else self._frame

    def _need(self) -> convert.SessionTraces:
        if self.traces is None:
            raise InputError("open a results folder first")
        return self.traces

    def _clicked(self, event) -> None:
        if self.traces is not None and event.xdata is not None and event.inaxes is not None:
            self._go(self.traces.frame_at(event.xdata))

    # ------------------------------------------------------------------ plot

    def _plot(self) -> None:
        from mouseface.report.analysis_figures import label_colours

        t = self._need()
        fig = self.figure
        fig.clear()
        fg, bg = "#d6d6d6", "#262930"
        # the flags that happen in this session; none: one row saying so
        happen = [n for n, f in t.flags.items() if f.any()]
        n_flags = max(len(happen), 1)
        rows = ([3] + ([0.3 + 0.3 * len(t.aus)] if t.aus else [])
                + ([0.35 + 0.3 * n_flags] if t.flags else [])
                + ([1] if t.shift is not None else []))
        axes = fig.subplots(len(rows), 1, sharex=True, gridspec_kw={"height_ratios": rows})
        axes = np.atleast_1d(axes)
        conditions = sorted(set(t.trials["trial_type"].astype(str)))
        colours = label_colours(list(t.names) + conditions)
        for ax in axes:
            ax.set_facecolor(bg)
            ax.tick_params(colors=fg, labelsize=8)
            for side in ax.spines.values():
                side.set_color("#555")
            for row in t.trials.itertuples(index=False):
                ax.axvspan(*stimulus_window(row.onset, row.duration), linewidth=0, alpha=0.25,
                           color=colours.get(str(row.trial_type), "0.6"))
        ax = axes[0]
        for j, name in enumerate(t.names):
            ax.plot(t.time, t.sim[:, j], color=colours.get(name, fg), linewidth=1.0,
                    label=f"sim_{name}")
        ax.set_ylabel("similarity (r)", color=fg, fontsize=8)
        ax.set_title(f"session {t.session} (animal {t.animal}); shaded: stimulus windows",
                     color=fg, fontsize=9, loc="left")
        # beside the traces, not over them
        leg = ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.005, 1.02),
                        frameon=False, handlelength=1.2, borderaxespad=0)
        for text in leg.get_texts():
            text.set_color(fg)
        k = 1
        if t.aus:
            # ratios, degrees and px in one picture: a row per action unit, each about its
            # neutral in units of its own spread (blue below, red above), saturating at
            # AU_SPAN spreads; the status line gives the values in their units
            from matplotlib import colormaps

            names = list(t.aus)
            raster = np.array([convert.au_scaled(t.aus[n], t.au_units.get(n, ""))
                               for n in names])
            cmap = colormaps["RdBu_r"].with_extremes(bad=bg)
            _raster(axes[k], t.time, raster, cmap, -AU_SPAN, AU_SPAN)
            axes[k].set_yticks(range(len(names)),
                               [f"{n} ({t.au_units.get(n, '')})" for n in names],
                               fontsize=6, color=fg)
            axes[k].set_ylabel(f"action units\n(±{AU_SPAN:g} spreads)", color=fg, fontsize=7)
            k += 1
        if t.flags:
            from matplotlib.colors import ListedColormap

            names = happen or ["flag"]
            raster = np.array([t.flags.get(n, np.zeros(len(t.time), bool)) for n in names],
                              float)
            _raster(axes[k], t.time, raster, ListedColormap([bg, "#ff5c5c"]), 0, 1)
            axes[k].set_yticks(range(len(names)), names if happen else ["none flagged"],
                               fontsize=6, color=fg)
            axes[k].set_ylabel("flags", color=fg, fontsize=8)
            k += 1
        if t.shift is not None:
            axes[k].plot(t.time, np.hypot(t.shift[:, 0], t.shift[:, 1]), color="#8fd3ff",
                         linewidth=1.0)
            axes[k].set_ylabel("drift (px)", color=fg, fontsize=8)
        axes[-1].set_xlabel("time from the video's first frame (s)", color=fg, fontsize=8)
        axes[-1].set_xlim(t.time[0], t.time[-1])
        self._lines = [a.axvline(t.time[0], color="#ffe66d", linewidth=1.2) for a in axes]
        fig.subplots_adjust(left=0.08, right=0.86, top=0.9, bottom=0.16, hspace=0.12)
        self.canvas.draw_idle()

    def _moved(self, *_) -> None:
        if self.traces is None or not self._lines:
            return
        t = self.traces
        i = t.row_of(self._here())
        for line in self._lines:
            line.set_xdata([t.time[i], t.time[i]])
        flags = [n for n, f in t.flags.items() if f[i] and n != "flag"]
        sims = ", ".join(f"{n} {t.sim[i, j]:+.2f}" for j, n in enumerate(t.names))
        aus = ", ".join(f"{n} {v[i]:.3g} {t.au_units.get(n, '')}".rstrip()
                        for n, v in t.aus.items())
        self._say(f"frame {int(t.frame[i])}, {t.time[i]:.2f} s: {sims}"
                  + (f"; action units: {aus}" if aus else "")
                  + (f"; flagged: {', '.join(flags)}" if flags else ""))
        self.canvas.draw_idle()

    def _say(self, message: str, error: bool = False) -> None:
        self.status.setText(("error: " if error else "") + message)
        self.status.setStyleSheet("color: #ff6b6b;" if error else "")

    def _try(self, action, *args):
        try:
            return action(*args)
        except (InputError, ValueError) as exc:
            self._say(str(exc), error=True)
            _notify(str(exc), error=True)
            return None
