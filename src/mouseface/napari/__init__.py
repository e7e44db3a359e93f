"""The napari plugin (the ``mouseface[napari]`` extra): draw the face ROI and masks on a
session's video and write them into a sessions table; browse a results folder beside its video.

Modules: :mod:`~mouseface.napari.convert` (mouseface data <-> napari layer data, no napari
import), :mod:`~mouseface.napari.lazy` (a video decoded on demand, as an array napari shows),
:mod:`~mouseface.napari.widgets` (the dock widgets), :mod:`~mouseface.napari.view` (open a
video, a sessions table or a results folder in a viewer: what ``mouseface view`` does),
:mod:`~mouseface.napari._reader` (napari's File > Open for videos and results folders).
``napari.yaml`` is the npe2 manifest. Nothing outside this room imports napari.
"""
