"""Saved prototype models: ``model/model.json`` (names, parameters) + ``model/prototypes.npz``."""

from __future__ import annotations

import json
import zipfile
import zlib
from pathlib import Path

import numpy as np

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
