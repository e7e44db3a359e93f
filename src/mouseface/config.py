"""Run settings: a TOML file validated into typed settings.

An unknown key or a bad value is an error that names the key, e.g.
``config.toml: hog.orientations: Input should be greater than 0``.

Example ``mouseface.toml``::

    [hog]
    orientations = 8
    pixels_per_cell = 32
    transform_sqrt = true
    block_norm = "L2-Hys"

    [prototypes]
    n_frames = 10
    baseline = 2.0
    exclude_first_trial = false

    [compute]
    chunk_size = 256
    workers = 1
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mouseface._errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HogSettings(_Strict):
    """HOG parameters (Dolensek et al. 2020: 8 orientations, 32-px cells, 1x1 blocks)."""

    orientations: int = Field(8, gt=0, le=64)
    pixels_per_cell: tuple[int, int] = (32, 32)
    cells_per_block: tuple[int, int] = (1, 1)
    transform_sqrt: bool = True
    block_norm: Literal["L1", "L1-sqrt", "L2", "L2-Hys"] = "L2-Hys"

    @field_validator("pixels_per_cell", "cells_per_block", mode="before")
    @classmethod
    def _pair(cls, v):
        if isinstance(v, int):
            v = (v, v)
        v = tuple(v)
        if len(v) != 2 or any(int(x) <= 0 for x in v):
            raise ValueError("must be a positive integer or a pair of positive integers")
        return v


class PrototypeSettings(_Strict):
    """How prototypes and trial scores are built."""

    n_frames: int = Field(10, gt=0, description="stimulus frames least like neutral per prototype")
    baseline: float = Field(2.0, gt=0, description="seconds before each onset used as baseline")
    exclude_first_trial: bool = False


class QualitySettings(_Strict):
    """Frame quality flags (motion, blur, exposure, duplicates, drops, occlusion)."""

    enabled: bool = Field(True, description="measure quality; flagged frames never enter "
                          "prototypes")
    exclude_flagged: bool = Field(True, description="keep flagged frames out of prototypes; "
                                  "false where the response itself is a startle that the "
                                  "occlusion test flags (e.g. tail shocks)")
    min_area: float = Field(0.025, ge=0, le=1, description="occluded: novel area, ROI fraction")
    min_z: float = Field(3.0, ge=0, description="occluded: robust z of HOG distance to neutral")


class ComputeSettings(_Strict):
    """Where and how extraction runs."""

    chunk_size: int = Field(256, gt=0, le=8192)
    workers: int = Field(1, ge=1)
    scheduler: str | None = None


class Settings(_Strict):
    """All settings of a run."""

    hog: HogSettings = HogSettings()
    prototypes: PrototypeSettings = PrototypeSettings()
    quality: QualitySettings = QualitySettings()
    compute: ComputeSettings = ComputeSettings()

    def hog_params(self) -> dict:
        """Keyword arguments for :func:`mouseface.hog`."""
        return self.hog.model_dump()


def load_settings(path: str | Path | None = None, **overrides) -> Settings:
    """Read and validate a TOML config file; ``None`` gives the defaults.

    ``overrides`` are section dicts (``hog={"pixels_per_cell": 8}``) merged over the file.
    """
    data: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise InputError("config file not found", path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid TOML: {exc}", path) from None
    for section, values in overrides.items():
        if values:
            data.setdefault(section, {}).update(values)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        raise InputError(f"{key}: {msg}", path or "settings") from None
