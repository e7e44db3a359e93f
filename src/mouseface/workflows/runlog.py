"""The run log: what ``run.json`` records (inputs, settings, versions, timings, warnings)."""

from __future__ import annotations

import contextlib
import json
import platform
import time as _time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mouseface import __version__
from mouseface._atomic import write_json
from mouseface._errors import InputError
from mouseface.io.layout import ResultsLayout
from mouseface.workflows.settings import Settings


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
        return {
            "mouseface": __version__,
            "command": self.command,
            "versions": _versions(),
            "settings": self.settings.model_dump(mode="json"),
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


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("numpy", "numba", "av", "scikit-image", "scikit-learn", "scipy", "pandas",
                "zarr", "dask", "pynwb"):
        with contextlib.suppress(md.PackageNotFoundError):
            out[pkg] = md.version(pkg)
    return out


def read_run(out: str | Path) -> dict:
    """The ``run.json`` of a results folder."""
    path = ResultsLayout(out).run_json
    if not path.is_file():
        raise InputError("not a mouseface results folder (no run.json)", Path(out))
    return json.loads(path.read_text())
