"""Expression strength as Pearson similarity between frame HOGs and prototypes."""

from __future__ import annotations

import numpy as np


def standardize_rows(x: np.ndarray) -> np.ndarray:
    """Centre each row and scale it to unit norm (float64), so that dot products are Pearson r.

    Rows with zero variance become NaN: they have no defined correlation.
    """
    x = np.asarray(x, dtype=np.float64)
    x = x - x.mean(axis=-1, keepdims=True)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, x / np.where(norm > 0, norm, 1.0), np.nan)


def similarity(features: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    """Pearson correlation of every frame with every prototype.

    Parameters
    ----------
    features : (n_frames, n_features) array
        One HOG vector per frame (a single 1-D vector is treated as one frame).
    prototypes : (n_prototypes, n_features) array
        One prototype HOG per row.

    Returns
    -------
    (n_frames, n_prototypes) float64 array
        ``r[t, p]`` = Pearson r between frame ``t`` and prototype ``p``, computed as one matrix
        product of row-standardised vectors (Dolensek et al. 2020, expression strength).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x, p = rng.random((5, 32)), rng.random((2, 32))
    >>> r = similarity(x, p)
    >>> bool(np.allclose(r[0, 1], np.corrcoef(x[0], p[1])[0, 1]))
    True
    """
    features = np.atleast_2d(features)
    prototypes = np.atleast_2d(prototypes)
    if features.shape[1] != prototypes.shape[1]:
        raise ValueError(
            f"features have {features.shape[1]} entries per frame but prototypes have "
            f"{prototypes.shape[1]}: were they made with the same HOG parameters and ROI size?")
    return standardize_rows(features) @ standardize_rows(prototypes).T
