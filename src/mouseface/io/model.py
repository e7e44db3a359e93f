"""Saved prototype models: ``model/model.json`` (names, parameters) + ``model/prototypes.npz``."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from mouseface._atomic import atomic_path, write_json
from mouseface._errors import InputError
from mouseface.io.layout import ModelFiles, ResultsLayout

MODEL_FORMAT = 1


def save_model(path: str | Path, models: dict, *, mode: str, settings,
               feature_shape: tuple[int, ...], arrays: dict[str, np.ndarray] | None = None,
               **extra) -> Path:
    """Write fitted prototype models (one per animal, or one ``"pooled"`` or ``"transfer"``)
    to folder ``path``.

    ``models`` maps a key (animal, ``"pooled"`` or ``"transfer"``) to anything with
    ``classes_`` and ``prototypes_`` (a fitted
    :class:`~mouseface.expressions.prototypes.PrototypeModel` or
    :class:`~mouseface.expressions.transfer.TransferModel`). ``arrays`` are saved beside them
    as ``<name>.npy`` (e.g. the registration template); read one back with
    :func:`load_array`.

    The folder is written under a temporary name and renamed into place.
    """
    path = Path(path)
    with atomic_path(path, directory=True) as tmp:
        tmp.mkdir(parents=True)
        files = ModelFiles(tmp)
        np.savez(files.prototypes, **{k: m.prototypes_ for k, m in models.items()})
        for name, arr in (arrays or {}).items():
            np.save(files.array(name), np.asarray(arr))
        write_json(files.meta, {
            "format": MODEL_FORMAT,
            "mode": mode,
            "names": {k: [str(c) for c in m.classes_] for k, m in models.items()},
            "feature_shape": list(feature_shape),
            "settings": settings.model_dump(mode="json"),
            **extra,
        })
    return path


def load_model(path: str | Path) -> tuple[dict[str, tuple[list[str], np.ndarray]], dict]:
    """Read a model folder written by :func:`save_model` (or a results folder holding one).

    Returns ``{key: (names, prototypes)}`` and the metadata of ``model.json``.
    """
    path = _model_folder(path)
    files = ModelFiles(path)
    if not files.meta.is_file():
        raise InputError(f"not a mouseface model folder (no {files.meta.name})", path)
    try:
        meta = json.loads(files.meta.read_text())
        names = dict(meta["names"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"cannot read the model: {_problem(exc)}", files.meta) from None
    npz = files.prototypes
    # every array read here, inside the try: a half-copied npz fails on its first read, and a
    # damaged member only when it is decompressed (a CRC or zlib error)
    try:
        with np.load(npz, allow_pickle=False) as arrays:
            models = {key: (list(n), np.asarray(arrays[key], dtype=np.float64))
                      for key, n in names.items()}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"the model's prototypes are damaged or incomplete ({_problem(exc)}): "
                         "copy the model folder again", npz) from None
    return models, meta


def _problem(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, KeyError):
        return f"{text} missing"
    return text.splitlines()[0] if text else type(exc).__name__


def load_array(path: str | Path, name: str) -> np.ndarray | None:
    """An array saved with a model (``save_model(arrays=...)``), or None when it has none."""
    path = _model_folder(path)
    f = ModelFiles(path).array(name)
    if not f.is_file():
        return None
    try:
        return np.load(f, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"damaged or incomplete ({_problem(exc)}): copy the model folder "
                         "again", f) from None


def _model_folder(path: str | Path) -> Path:
    """A model folder, or the ``model/`` of a results folder given instead."""
    path = Path(path)
    inner = ResultsLayout(path).model_files
    if inner.meta.is_file() and not ModelFiles(path).meta.is_file():
        return inner.folder
    return path


def has_model(results_dir: str | Path) -> bool:
    """Whether a results folder holds a saved model."""
    return ResultsLayout(results_dir).model_files.meta.is_file()


#: The columns of ``picked_frames.csv``.
PICKED_COLUMNS = ["model", "prototype", "session", "frame"]


def save_picked(folder: str | Path, picked: pd.DataFrame) -> Path:
    """Write the frames each prototype averaged (:data:`PICKED_COLUMNS`) into a model folder."""
    path = ModelFiles(folder).picked_frames
    with atomic_path(path) as tmp:
        picked[PICKED_COLUMNS].to_csv(tmp, index=False)
    return path


def load_picked(folder: str | Path) -> pd.DataFrame | None:
    """The frames each prototype averaged, or None when the model has no record of them
    (results written before the record existed, ``fit`` and ``score``)."""
    path = ModelFiles(_model_folder(folder)).picked_frames
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path, dtype={"model": str, "prototype": str, "session": str})
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read it ({_problem(exc)})", path) from None
    missing = [c for c in PICKED_COLUMNS if c not in df.columns]
    if missing:
        raise InputError(f"no column {', '.join(missing)}", path)
    return df


def save_mean_faces(folder: str | Path,
                    faces: dict[str, dict[str, tuple[np.ndarray | None, int]]]) -> Path:
    """Write mean faces (model -> prototype -> (face or None, frames averaged)) into a model
    folder."""
    path = ModelFiles(folder).mean_faces
    arrays, index = {}, []
    for model, per in faces.items():
        for name, (face, n) in per.items():
            key = f"face_{len(index)}"
            index.append([str(model), str(name), int(n), face is not None])
            if face is not None:
                arrays[key] = np.asarray(face, dtype=np.float32)
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, index=np.array(json.dumps(index)), **arrays)
    return path


def load_mean_faces(folder: str | Path
                    ) -> dict[str, dict[str, tuple[np.ndarray | None, int]]] | None:
    """Mean faces written by :func:`save_mean_faces`, or None when the model has none."""
    path = ModelFiles(_model_folder(folder)).mean_faces
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            out: dict[str, dict[str, tuple[np.ndarray | None, int]]] = {}
            for k, (model, name, n, has) in enumerate(json.loads(str(z["index"]))):
                out.setdefault(model, {})[name] = (z[f"face_{k}"] if has else None, int(n))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise InputError(f"damaged or incomplete ({_problem(exc)})", path) from None
    return out
