"""napari's File > Open for face videos (decoded on demand) and mouseface results folders."""

from __future__ import annotations

from pathlib import Path

from mouseface.napari.view import VIDEO_SUFFIXES


def get_reader(path: str | list[str]):
    """The reader function for ``path`` when it is a video file or a results folder, else None
    (napari then asks other plugins)."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    p = Path(path)
    if p.is_dir():
        from mouseface.io.layout import ResultsLayout

        return _read_results if ResultsLayout(p).is_results() else None
    return _read_video if p.suffix.lower() in VIDEO_SUFFIXES else None


def _video_layer(path, fps=None, name: str | None = None) -> tuple:
    from mouseface.napari.lazy import LazyVideo

    video = LazyVideo(path, fps=fps)
    return (video, {"name": name or Path(path).stem, "contrast_limits": [0, 255],
                    "colormap": "gray", "metadata": {"mouseface_video": str(path)}}, "image")


def _read_video(path) -> list[tuple]:
    return [_video_layer(path[0] if isinstance(path, list) else path)]


def _read_results(path) -> list[tuple]:
    """The first session's video with its face ROI and mask (the results dock shows the rest:
    Plugins > mouseface > Results)."""
    from mouseface.napari import convert

    path = path[0] if isinstance(path, list) else path
    t = convert.session_traces(path)
    layers = [_video_layer(t.video, t.fps, name=f"{t.session} video")]
    if t.roi is not None:
        layers.append(([convert.roi_to_rectangle(t.roi)],
                       {"name": f"{t.session} face ROI", "shape_type": "rectangle",
                        "edge_color": "yellow", "face_color": "transparent", "edge_width": 2},
                       "shapes"))
        data, kinds = convert.mask_to_shapes(t.mask, t.roi)
        if data:
            layers.append((data, {"name": f"{t.session} mask", "shape_type": kinds,
                                  "edge_color": "red", "face_color": [1, 0, 0, 0.35]},
                           "shapes"))
    return layers
