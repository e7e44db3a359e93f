"""The run log: what ``run.json`` records (inputs, settings, versions, timings, warnings)."""

from __future__ import annotations

import contextlib
import functools
import json
import platform
import threading
import time as _time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mouseface._atomic import write_json
from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout
from mouseface.settings import Settings


@dataclass
class RunLog:
    """What ``run.json`` records: inputs, parameters, timings and warnings."""

    command: str
    settings: Settings
    inputs: list[dict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = _time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
        self.timings[name] = round(self.timings.get(name, 0.0) + _time.perf_counter() - t0, 3)
        for w in caught:
            text = str(w.message)
            if text not in self.warnings:
                self.warnings.append(text)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    def add_input(self, path: str | Path, fingerprint: str | None = None, **extra) -> None:
        p = Path(path)
        size = p.stat().st_size if p.is_file() else None
        self.inputs.append({"path": str(p.resolve()), "size": size,
                            "fingerprint": fingerprint, **extra})

    def record(self, **extra: Any) -> dict:
        """What ``run.json`` holds now: versions, settings, inputs, timings, warnings, extra."""
        self.extra.update(extra)
        settings = self.settings.model_dump(mode="json")
        if self.command == "run":  # the settings say what was used: run fits per animal
            settings["prototypes"]["mode"] = "per-animal"
            settings["prototypes"].pop("control", None)
        return {
            "mouseface": _mouseface_version(),
            "command": self.command,
            "versions": _versions(),
            "settings": settings,
            "inputs": self.inputs,
            "timings_s": dict(self.timings),
            "warnings": list(self.warnings),
            **self.extra,
        }

    def write(self, out: Path, **extra: Any) -> dict:
        """Write ``run.json`` (atomically) and return what it holds."""
        record = self.record(**extra)
        write_json(ResultsLayout(out).run_json, record)
        return record


def _mouseface_version() -> str:
    # the installed distribution's version: the ground floor may not import the package root
    import importlib.metadata as md

    return md.version("mouseface")


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "numba", "av", "scikit-image", "scikit-learn", "scipy", "pandas",
                "zarr", "dask", "pynwb", "pylsl"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def append_warnings(out: str | Path, source: str, messages: list[str]) -> None:
    """Add the warnings of a later step (an analysis, the neural step) to ``run.json``, so that
    the report's Warnings section and the folder say what the terminal said."""
    path = ResultsLayout(out).run_json
    if not messages or not path.is_file():
        return
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    known = record.setdefault("warnings", [])
    new = [f"{source}: {m}" for m in messages if f"{source}: {m}" not in known]
    if new:
        known.extend(new)
        write_json(path, record)


_logging = threading.local()


def logs_warnings(source: str) -> Callable:
    """Decorate a workflow over a results folder (its first argument): the warnings it raises
    still reach the terminal, and go to the folder's ``run.json`` too (see
    :func:`append_warnings`)."""

    def decorate(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(results, *args, **kwargs):
            if getattr(_logging, "active", False):  # an outer workflow records them
                return func(results, *args, **kwargs)
            caught: list = []
            _logging.active = True
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    return func(results, *args, **kwargs)
            finally:
                _logging.active = False
                # outside the recording context: re-emitted warnings reach the caller
                texts = []
                for w in caught:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                    if str(w.message) not in texts:
                        texts.append(str(w.message))
                append_warnings(getattr(results, "path", results), source, texts)

        return wrapper

    return decorate


def read_run(out: str | Path) -> dict:
    """The ``run.json`` of a results folder."""
    path = ResultsLayout(out).run_json
    if not path.is_file():
        raise InputError("not a mouseface results folder (no run.json)", Path(out))
    return json.loads(path.read_text())
