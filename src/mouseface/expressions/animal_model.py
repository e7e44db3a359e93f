"""A saved model applied to one animal: whose prototypes, and the animal's own neutral face.

The one place where ``score`` (:mod:`mouseface.workflows.scoring`) and ``mouseface live``
(:mod:`mouseface.live.readout`) make a saved model the animal's own::

    names, prototypes = prototypes_for(saved, animal, path)   # the model's set, or the animal's
    model = AnimalModel.from_saved(mode, names, prototypes, neutral, n_frames=10)
    model.transform(hog)                                       # (n, len(names)) similarities
    per_frame = model.prepared()                               # the same, for one frame at a
    per_frame(hog_row)                                         # time (live): numpy only

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
from mouseface.expressions.similarity import standardize_rows
from mouseface.expressions.transfer import (
    BaselineMoments,
    NeutralReference,
    TransferModel,
    reference_from_moments,
)

__all__ = ["AnimalModel", "PreparedModel", "prototypes_for"]


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

    def prepared(self) -> PreparedModel:
        """:meth:`transform` with everything that does not depend on the frame computed once
        (see :class:`PreparedModel`)."""
        return PreparedModel(self)


class PreparedModel:
    """:meth:`AnimalModel.transform` for a few frames at a time, numpy only: what the live loop
    calls on every frame.

    The standardised prototypes (and, for a transfer model, the animal's standardised neutral
    face, mean and scale) are computed once; a call standardises the frames and takes the
    same matrix products as :meth:`AnimalModel.transform`, in the same order, so it gives the
    same numbers, without scikit-learn's input checks on every frame.

    Parameters
    ----------
    own
        The animal's model.
    """

    def __init__(self, own: AnimalModel):
        protos = np.asarray(own.model.prototypes_, dtype=np.float64)
        self.n_features = protos.shape[1]
        self.transfer = own.reference is not None
        if self.transfer:
            ref = own.reference
            self.mean, self.scale = ref.mean[None], ref.scale[None]
            self.neutral = standardize_rows(self.mean)  # (1, D)
            self.conditions = standardize_rows(protos[1:])
            self.n_out = len(protos)
        else:
            self.prototypes = standardize_rows(protos)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        """Similarity of each frame's HOG ``X`` (n, D) (or one (D,) row) to each prototype,
        (n, len(names))."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        if X.shape[1] != self.n_features:
            raise ValueError(f"frames have {X.shape[1]} HOG entries; the model "
                             f"{self.n_features}")
        xs = standardize_rows(X)
        if not self.transfer:
            return xs @ self.prototypes.T
        out = np.empty((len(X), self.n_out))
        out[:, 0] = np.einsum("ij,ij->i", xs, np.broadcast_to(self.neutral, X.shape))
        if self.n_out > 1:
            out[:, 1:] = standardize_rows((X - self.mean) / self.scale) @ self.conditions.T
        return out
