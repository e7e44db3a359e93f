"""A saved model applied to one animal: whose prototypes, and the animal's own neutral face.

The one place where ``score`` (:mod:`mouseface.workflows.scoring`) and ``mouseface live``
(:mod:`mouseface.live.readout`) make a saved model the animal's own::

    names, prototypes = prototypes_for(saved, animal, path)   # the model's set, or the animal's
    model = AnimalModel.from_saved(mode, names, prototypes, neutral, n_frames=10)
    model.transform(hog)                                       # (n, len(names)) similarities

- **Which prototypes**: a model fitted by ``fit`` holds one set (``"pooled"`` or
  ``"transfer"``), a ``run`` results folder one set per animal.
- **The own neutral face**: pooled and per-animal prototypes replace their neutral prototype
  by the mean HOG of the animal's own baseline frames (``score``: its baseline windows;
  ``live``: its calibration frames); a transfer model takes every frame relative to the
  animal's neutral reference (mean and spread of those frames). Without baseline frames a
  pooled model keeps its saved neutral prototype; a transfer model cannot score.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mouseface._errors import InputError
from mouseface.expressions.prototypes import PrototypeModel
from mouseface.expressions.transfer import (
    BaselineMoments,
    NeutralReference,
    TransferModel,
    reference_from_moments,
)

__all__ = ["AnimalModel", "prototypes_for"]


def prototypes_for(saved: dict, animal: str | None, path: str | Path | None = None
                   ) -> tuple[list[str], np.ndarray]:
    """The saved prototypes that score ``animal``: the model's one set, or the animal's own.

    Parameters
    ----------
    saved : dict
        ``{key: (names, prototypes)}`` as :func:`mouseface.io.model.load_model` reads them.
    animal : str or None
        Whose prototypes, for a model with one set per animal.
    path
        The model folder (named in the error).

    Raises
    ------
    InputError
        A per-animal model without the animal (or without ``animal`` given).
    """
    if len(saved) == 1 and next(iter(saved)) in ("pooled", "transfer"):
        names, protos = next(iter(saved.values()))
    elif animal is not None and animal in saved:
        names, protos = saved[animal]
    elif animal is None:
        raise InputError(f"the model has per-animal prototypes ({', '.join(sorted(saved))}): "
                         "say whose with --animal, or fit a model with `mouseface fit`", path)
    else:
        raise InputError(f"the model has per-animal prototypes for {sorted(saved)} but not for "
                         f"animal {animal}: fit a model with `mouseface fit`", path)
    return [str(n) for n in names], protos


@dataclass
class AnimalModel:
    """A saved model made one animal's own (see the module notes).

    Attributes
    ----------
    mode
        ``"transfer"``, or ``"pooled"``/``"per-animal"`` (prototypes).
    model
        The :class:`PrototypeModel` (its neutral prototype the animal's own) or the
        :class:`TransferModel`.
    reference
        The animal's :class:`NeutralReference` (transfer); None otherwise.
    """

    mode: str
    model: PrototypeModel | TransferModel
    reference: NeutralReference | None = None

    @classmethod
    def from_saved(cls, mode: str, names, prototypes: np.ndarray,
                   neutral: BaselineMoments | NeutralReference | np.ndarray | None, *,
                   n_frames: int = 10) -> AnimalModel:
        """The saved ``prototypes`` (masked entries already dropped) with the animal's own
        ``neutral``: the moments of its baseline frames, a neutral reference (transfer) or a
        neutral prototype (pooled) read back from a live reference file, or None.

        Raises
        ------
        ValueError
            A transfer model without baseline frames.
        """
        if isinstance(neutral, BaselineMoments) and neutral.n == 0:
            neutral = None
        if mode == "transfer":
            model = TransferModel.from_prototypes(names, prototypes)
            if neutral is None:
                raise ValueError("a transfer model needs the animal's own neutral face")
            if isinstance(neutral, BaselineMoments):
                neutral = reference_from_moments(neutral.mean, neutral.sd, neutral.n,
                                                 standardize=model.standardize,
                                                 scale_floor=model.scale_floor)
            return cls(mode, model, neutral)
        own = np.array(prototypes, np.float64)  # a copy: the saved set serves other animals
        if neutral is not None:  # the animal's own neutral face
            own[0] = neutral.mean if isinstance(neutral, BaselineMoments) else neutral
        return cls(mode, PrototypeModel.from_prototypes(names, own, n_frames=n_frames), None)

    @property
    def names(self) -> np.ndarray:
        """The prototypes, neutral first."""
        return self.model.classes_

    @property
    def neutral(self) -> np.ndarray:
        """The neutral prototype in use (pooled: the animal's own where it had baseline)."""
        return self.model.prototypes_[0]

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Similarity of each frame's HOG to each prototype, (n, len(names))."""
        if self.reference is not None:
            return self.model.transform(X, baseline=self.reference)
        return self.model.transform(X)
