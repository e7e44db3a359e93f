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

    [registration]
    align = "auto"            # sessions onto a template: "auto", "none", "translation",
                              # "similarity" (auto: none in run, translation in fit/score)
    drift = true              # per-frame drift against the session's reference face
    template = ""             # a session as the template of all (a reference animal)
    margin = 12               # pixels read around the ROI for the warp
    shift_threshold = 2.0     # drift (px) above which a frame is flagged large_shift
    drift_every = 8           # drift measured on every 8th frame and half-way, interpolated

    [masks]
    regions = "60,40,20,24"   # ROI pixels whose HOG cells are dropped (x,y,w,h; polygons)

    [compute]
    chunk_size = 256
    workers = 1

    [poses]
    min_likelihood = 0.6      # pose points below it are dropped (DeepLabCut's pcutoff)
    max_gap = 5               # frames of a pose gap filled by interpolation
    [poses.roles]             # your keypoint names for the action units' roles
    ear_tip = "L_ear"
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

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
    mode: Literal["pooled", "transfer"] = Field(
        "transfer", description="`fit` only: 'transfer' builds difference prototypes "
        "relative to each animal's own neutral face (they carry over to new animals); "
        "'pooled' averages the paper's raw-HOG prototypes over animals")
    control: str | None = Field(None, description="transfer mode: a condition (e.g. a 0 uA "
                                "sham) whose difference prototype is subtracted from the others")


class QualitySettings(_Strict):
    """Frame quality flags (motion, blur, exposure, duplicates, drops, occlusion)."""

    enabled: bool = Field(True, description="measure quality; flagged frames never enter "
                          "prototypes")
    exclude_flagged: bool = Field(True, description="keep flagged frames out of prototypes; "
                                  "false where the response itself is a startle that the "
                                  "occlusion test flags (e.g. tail shocks)")
    min_area: float = Field(0.025, ge=0, le=1, description="occluded: novel area, ROI fraction")
    min_z: float = Field(3.0, ge=0, description="occluded: robust z of HOG distance to neutral")
    occlusion_gate: float = Field(1.5, ge=0, description="the occlusion region test runs on "
                                  "frames whose HOG distance to neutral exceeds this robust z "
                                  "(at most min_z: below it no frame is occluded)")


class RegistrationSettings(_Strict):
    """Faces that line up: sessions onto a template, frames onto their session's face."""

    align: Literal["auto", "none", "translation", "similarity"] = Field(
        "auto", description="transform from each session's reference face (mean of its "
        "baseline frames) to the template: the animal's first session in `run`, the mean face "
        "of the training sessions in `fit`, the model's template in `score`. 'auto': none in "
        "`run` (one animal, one camera placement: the paper's way), translation in `fit` and "
        "`score` (faces of different animals)")
    drift: bool = Field(True, description="measure each frame's shift against its session's "
                        "reference face by phase correlation and undo it before HOG")
    template: str = Field("", description="a session whose reference face is the template of "
                          "every session in `run` and `fit` (a reference animal); empty: each "
                          "animal's first session in `run`, the mean face in `fit`")
    margin: int = Field(12, ge=0, le=256, description="pixels read around the ROI so that a "
                        "moved crop still finds image content")
    shift_threshold: float = Field(2.0, gt=0, description="frames whose drift exceeds this many "
                                   "pixels are flagged large_shift")
    drift_every: int = Field(8, ge=1, le=64, description="drift is measured on every n-th frame "
                             "and half-way between, and interpolated in between (heads drift "
                             "slowly); a stretch whose half-way frame leaves the line is measured "
                             "frame by frame; 1: every frame")

    def resolved(self, scope: str) -> str:
        """The alignment used for ``scope`` ('animal' in `run`, 'all'/'model' in fit/score)."""
        if self.align != "auto":
            return self.align
        return "none" if scope == "animal" else "translation"


class MaskSettings(_Strict):
    """Regions of the face crop whose HOG cells are dropped (a lick spout, a screw)."""

    regions: str = Field("", description="'x,y,w,h' rectangles and 'x1,y1,x2,y2,x3,y3,...' "
                         "polygons in ROI pixels, separated by ';' (also a `mask` column in the "
                         "sessions table)")

    @field_validator("regions")
    @classmethod
    def _regions(cls, v):
        from mouseface.io.tables import parse_regions

        parse_regions(v)
        return v


class ComputeSettings(_Strict):
    """Where and how extraction runs."""

    chunk_size: int = Field(256, gt=0, le=8192)
    workers: int = Field(1, ge=1)
    scheduler: str | None = None
    threads: int | None = Field(None, ge=1, description="decoders run at once on this machine "
                                "(ranges of a video, or videos); default: one per core")


class PoseSettings(_Strict):
    """Keypoints (``mouseface au``; docs/poses.md): the user's keypoint names for
    the action units' roles, the likelihood threshold, the longest gap filled, the scale."""

    roles: dict[str, str] = Field(default_factory=dict, description="role -> keypoint name, "
                                  "e.g. ear_tip = \"L_ear\"; roles not named are matched by "
                                  "name")
    min_likelihood: float | None = Field(0.6, ge=0.0, le=1.0)
    max_gap: int = Field(5, ge=0)
    mm_per_px: float | None = Field(None, gt=0.0)


class Settings(_Strict):
    """All settings of a run."""

    hog: HogSettings = HogSettings()
    prototypes: PrototypeSettings = PrototypeSettings()
    quality: QualitySettings = QualitySettings()
    registration: RegistrationSettings = RegistrationSettings()
    masks: MaskSettings = MaskSettings()
    compute: ComputeSettings = ComputeSettings()
    poses: PoseSettings = PoseSettings()

    @model_validator(mode="after")
    def _drift_step_fits_chunks(self):
        if self.compute.chunk_size % self.registration.drift_every:
            raise ValueError(f"registration.drift_every ({self.registration.drift_every}) must "
                             f"divide compute.chunk_size ({self.compute.chunk_size})")
        if self.quality.occlusion_gate > self.quality.min_z:
            raise ValueError(f"quality.occlusion_gate ({self.quality.occlusion_gate}) must not "
                             f"exceed quality.min_z ({self.quality.min_z})")
        return self

    def hog_params(self) -> dict:
        """Keyword arguments for :func:`mouseface.hog`."""
        return self.hog.model_dump()


def load_settings(config: str | Path | Mapping | Settings | None = None,
                  **overrides) -> Settings:
    """Read and validate settings: a TOML file, or a dict of the same shape.

    Parameters
    ----------
    config
        A TOML file's path; a dict shaped like the file (``{"hog": {"pixels_per_cell": 16}}``);
        a :class:`Settings` (used as it is, then ``overrides``); None: the defaults.
    **overrides
        Section dicts (``compute={"workers": 2}``) merged over ``config``; empty ones ignored.

    Raises
    ------
    InputError
        A missing or unreadable file, an unknown key or a bad value, naming the key
        (``config.toml: hog.orientations: Input should be greater than 0``; a dict is named
        ``config``).
    """
    data: dict = {}
    path: Path | str | None = None
    if isinstance(config, Settings):
        data = config.model_dump()
    elif isinstance(config, Mapping):
        path = "config"
        # one level deep copy: the overrides below must not change the caller's dict
        data = {k: dict(v) if isinstance(v, Mapping) else v for k, v in config.items()}
    elif config is not None:
        path = Path(config)
        if not path.is_file():
            raise InputError("config file not found", path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid TOML: {exc}", path) from None
    for section, values in overrides.items():
        if values:
            if not isinstance(data.get(section, {}), Mapping):
                raise InputError(f"{section}: must be a table of settings", path or "settings")
            data[section] = {**data.get(section, {}), **values}
    return settings_from_dict(data, path or "settings")


def settings_from_dict(data: dict, source: str | Path = "settings") -> Settings:
    """Validate settings of the config's shape (a model's ``model.json`` keeps them so);
    a bad key or value is an :class:`~mouseface._errors.InputError` naming ``source``."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        msg = msg.removeprefix("Value error, ")
        raise InputError(f"{key}: {msg}" if key else msg, source) from None
