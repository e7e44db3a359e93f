"""Per-session feature store: HOG arrays in Zarr, with timestamps, parameters and a fingerprint.

Layout of ``features/<session>.zarr``::

    hog   (frames, cells_y, cells_x, orientations) float32, chunked along frames
    time  (frames,) float64, seconds from the first frame
    done  (n_chunks,) bool, one flag per frame chunk, written after that chunk's data
    shift (frames, 2) float32, only with drift correction: each frame's (dy, dx) displacement
          against the session's reference face, pixels
    measures (frames, M) float32, only with per-frame measures (quality, movement of regions):
          one column per name in the attribute ``measure_names``
    attrs: params (HOG parameters), fingerprint (of the input video and ROI), video, roi, fps,
           chunk_size, n_frames, complete, decoded_frames, truncated

A chunk counts as computed only once its ``done`` flag is set, and Zarr writes every chunk file
to a temporary name before renaming it, so an interrupted extraction leaves no half chunk that a
later run could mistake for a finished one: the rerun computes only the chunks not yet done. A
store whose parameters or fingerprint differ from the request is discarded and recomputed.

With ``cells_per_block`` other than (1, 1) the middle axes hold blocks x cells-per-block.

Parallel writers: chunks of ``hog`` and ``time`` hold ``chunk_size`` frames and ``done`` one flag
each, so processes that write disjoint frame chunks (a Dask cluster, one task per frame range)
never write the same file. Create the store (:meth:`FeatureStore.open`) before they start, let
each open it with ``FeatureStore(path, mode="r+")``, and :meth:`finalize` it once they are done
from a fresh handle (a writer may have grown it). Only a writer of the last chunk may grow it.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from mouseface._atomic import naming
from mouseface._errors import InputError

FORMAT_VERSION = 2


def _naming_store(method):
    """A disk that fills while a store is written: the error names the store."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with naming(self.path):
            return method(self, *args, **kwargs)

    return wrapper


def _create(group, name: str, **kwargs):
    # zarr 3 names it create_array; zarr 2 create_dataset.
    maker = getattr(group, "create_array", None) or group.create_dataset
    return maker(name, **kwargs)


class FeatureStore:
    """One session's features on disk.

    Use :meth:`open` to get a store matching the request (reused, resumed or new), then
    :meth:`write_chunk` for each pending chunk and :meth:`finalize` at the end.
    """

    #: What the last extraction into this store did in this process (frames decoded, chunks
    #: written...), set by :mod:`mouseface.features.extract`; None when nothing ran.
    extraction: dict[str, Any] | None = None
    #: Crops the last pass kept for the report's mean faces
    #: (:class:`mouseface.features.extract.KeptFaces`); None when nothing ran or was kept.
    kept: Any = None

    def __init__(self, path: str | Path, mode: str = "r"):
        self.path = Path(path)
        try:
            self._group = zarr.open_group(str(self.path), mode=mode)
            self._hog = self._group["hog"]
            self._writing: dict[str, Any] | None = None  # see _chunk_arrays
        except (FileNotFoundError, KeyError, ValueError) as exc:
            raise InputError(f"not a mouseface feature store ({exc})", self.path) from None

    # ------------------------------------------------------------------ creation and reuse
    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        n_frames: int,
        feature_shape: tuple[int, ...],
        chunk_size: int,
        params: dict[str, Any],
        fingerprint: str,
        meta: dict[str, Any] | None = None,
        shifts: bool = False,
        measures: list[str] | tuple[str, ...] = (),
    ) -> FeatureStore:
        """Open the store at ``path`` if it was made from the same input and parameters.

        Otherwise (absent, different parameters, different input, unreadable) it is created
        anew. ``meta`` is stored as attributes (video path, ROI, fps...). ``shifts`` adds the
        per-frame drift array, ``measures`` a per-frame array with these named columns.
        """
        path = Path(path)
        params = _jsonable(params)
        with naming(path):
            if path.exists():
                try:
                    old = cls(path, mode="r+")
                    if (old.matches(params, fingerprint)
                            and old.attrs.get("chunk_size") == chunk_size
                            and old.measure_names == list(measures)
                            and old.has_shifts == shifts):
                        return old
                except InputError:
                    pass
                shutil.rmtree(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            n_frames = max(int(n_frames), 1)
            group = zarr.open_group(str(path), mode="w")
            _create(group, "hog", shape=(n_frames, *feature_shape),
                    chunks=(chunk_size, *feature_shape), dtype="float32", fill_value=np.nan)
            _create(group, "time", shape=(n_frames,), chunks=(chunk_size,), dtype="float64",
                    fill_value=np.nan)
            if shifts:
                _create(group, "shift", shape=(n_frames, 2), chunks=(chunk_size, 2),
                        dtype="float32", fill_value=np.nan)
            if measures:
                _create(group, "measures", shape=(n_frames, len(measures)),
                        chunks=(chunk_size, len(measures)), dtype="float32",
                        fill_value=np.nan)
            n_chunks = -(-n_frames // chunk_size)
            _create(group, "done", shape=(n_chunks,), chunks=(1,), dtype="bool",
                    fill_value=False)
            _update_attrs(group, {
                "format_version": FORMAT_VERSION,
                "params": params,
                "fingerprint": fingerprint,
                "chunk_size": int(chunk_size),
                "n_frames": n_frames,
                "complete": False,
                "measure_names": list(measures),
                **_jsonable(meta or {}),
            })
        return cls(path, mode="r+")

    def matches(self, params: dict[str, Any], fingerprint: str) -> bool:
        """True when this store was made from ``fingerprint`` with ``params``."""
        a = self.attrs
        return (a.get("format_version") == FORMAT_VERSION
                and a.get("params") == _jsonable(params)
                and a.get("fingerprint") == fingerprint)

    # ------------------------------------------------------------------ properties
    @property
    def attrs(self) -> dict[str, Any]:
        return dict(self._group.attrs)

    @property
    def complete(self) -> bool:
        return bool(self._group.attrs.get("complete", False))

    @property
    def chunk_size(self) -> int:
        return int(self._group.attrs["chunk_size"])

    @property
    def n_frames(self) -> int:
        return int(self._group.attrs["n_frames"])

    @property
    def n_chunks(self) -> int:
        return int(self._group["done"].shape[0])

    @property
    def feature_shape(self) -> tuple[int, ...]:
        return tuple(self._hog.shape[1:])

    @property
    def n_features(self) -> int:
        return int(np.prod(self.feature_shape))

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._group.attrs["params"])

    def chunk_range(self, i: int) -> tuple[int, int]:
        """Frame range [start, stop) of chunk ``i``."""
        start = i * self.chunk_size
        return start, min(start + self.chunk_size, self._hog.shape[0])

    def done_mask(self) -> np.ndarray:
        """One bool per frame chunk: True once the chunk's data has been written."""
        return np.asarray(self._group["done"][:], dtype=bool)

    def pending_chunks(self) -> list[int]:
        """Chunks whose data has not been written yet."""
        return [int(i) for i in np.flatnonzero(~self.done_mask())]

    # ------------------------------------------------------------------ writing
    @_naming_store
    def write_chunk(self, i: int, hog: np.ndarray, time: np.ndarray,
                    shift: np.ndarray | None = None,
                    measures: np.ndarray | None = None) -> None:
        """Write the features, times (drift, measures) of chunk ``i``, then mark it done."""
        start = i * self.chunk_size
        n = len(hog)
        if n > self.chunk_size:
            raise ValueError(f"chunk {i} holds {self.chunk_size} frames, got {n}")
        if start + n > self._hog.shape[0]:
            # The container under-reported its frame count: grow to fit.
            self._grow(start + n)
        self._hog[start:start + n] = np.asarray(hog, dtype=np.float32).reshape(
            n, *self.feature_shape)
        arrays = self._chunk_arrays()
        arrays["time"][start:start + n] = time
        if shift is not None:
            arrays["shift"][start:start + n] = np.asarray(shift, dtype=np.float32)
        if measures is not None:
            arrays["measures"][start:start + n] = np.asarray(measures, dtype=np.float32)
        arrays["done"][i] = True

    def _chunk_arrays(self) -> dict[str, Any]:
        """The arrays a chunk's write fills besides ``hog``, opened once while the store's
        shape stays (each Zarr open reads the array's metadata from disk: four a chunk)."""
        if self._writing is None:
            self._writing = {name: self._group[name] for name in ("time", "shift", "measures",
                                                                  "done") if name in self._group}
        return self._writing

    def _grow(self, n_frames: int) -> None:
        self._writing = None  # resized below: opened afresh at the next write
        self._hog.resize((n_frames, *self.feature_shape))
        self._group["time"].resize((n_frames,))
        self._resize_extras(n_frames)
        n_chunks = -(-n_frames // self.chunk_size)
        if n_chunks > self.n_chunks:
            self._group["done"].resize((n_chunks,))
        self._group.attrs["n_frames"] = n_frames

    @_naming_store
    def finalize(self, n_frames: int | None = None, **meta: Any) -> None:
        """Mark the store complete; shrink it to ``n_frames`` if the video ended early."""
        self._writing = None
        if n_frames is not None and n_frames != self._hog.shape[0]:
            n_frames = max(int(n_frames), 0)
            self._hog.resize((n_frames, *self.feature_shape))
            self._group["time"].resize((n_frames,))
            self._resize_extras(n_frames)
            self._group.attrs["n_frames"] = n_frames
            self._group["done"].resize((max(-(-n_frames // self.chunk_size), 1),))
        _update_attrs(self._group, {**_jsonable(meta), "complete": True})

    def _resize_extras(self, n_frames: int) -> None:
        if self.has_shifts:
            self._group["shift"].resize((n_frames, 2))
        if self.measure_names:
            self._group["measures"].resize((n_frames, len(self.measure_names)))

    # ------------------------------------------------------------------ reading
    @property
    def time(self) -> np.ndarray:
        return np.asarray(self._group["time"][:], dtype=np.float64)

    @property
    def has_shifts(self) -> bool:
        """True when the store holds a drift trace (extraction with drift correction)."""
        return "shift" in self._group

    @property
    def shifts(self) -> np.ndarray | None:
        """Each frame's drift ``(dy, dx)`` in pixels, (n_frames, 2); None without one."""
        if not self.has_shifts:
            return None
        return np.asarray(self._group["shift"][:], dtype=np.float64)

    @property
    def measure_names(self) -> list[str]:
        """Names of the per-frame measures (empty when the store has none)."""
        return list(self._group.attrs.get("measure_names", []))

    def measures(self) -> dict[str, np.ndarray]:
        """Every per-frame measure by name, (n_frames,) float32 each."""
        names = self.measure_names
        if not names:
            return {}
        m = np.asarray(self._group["measures"][:], dtype=np.float32)
        return {name: m[:, j] for j, name in enumerate(names)}

    def read(self, index: np.ndarray | slice | None = None, *, flat: bool = True) -> np.ndarray:
        """HOG of the selected frames, (n, D) when ``flat`` else (n, cells_y, cells_x, o)."""
        if index is None:
            index = slice(None)
        if isinstance(index, slice):
            x = self._hog[index]
        else:
            index = np.asarray(index)
            if index.dtype == bool:
                index = np.flatnonzero(index)
            x = self._hog.get_orthogonal_selection((index,)) if len(index) else np.empty(
                (0, *self.feature_shape), np.float32)
        x = np.asarray(x, dtype=np.float32)
        return x.reshape(len(x), self.n_features) if flat else x

    def iter_blocks(self, block: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, hog)`` blocks of frames, flat, for bounded-memory passes."""
        block = block or max(self.chunk_size, 1024)
        for start in range(0, self._hog.shape[0], block):
            yield start, self.read(slice(start, start + block))


def _update_attrs(group, attrs: dict[str, Any]) -> None:
    # zarr 3's attrs.update rewrites the group's metadata once per key; update_attributes once.
    update = getattr(group, "update_attributes", None)
    if update is not None:
        update(attrs)
    else:
        group.attrs.update(attrs)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    return obj
