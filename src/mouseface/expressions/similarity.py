"""Expression strength as Pearson similarity between frame HOGs and prototypes."""

from __future__ import annotations

import numpy as np


def float_rows(X, n_features: int | None = None) -> np.ndarray:
    """``X`` as a float64 ``(n, d)`` array, checked as scikit-learn's ``validate_data`` checks
    an estimator's input: 2-D, at least one row, ``n_features`` columns, every entry finite
    (else ``ValueError``). The estimators' ``transform_array`` use it in place of that
    validation, which costs more than the arithmetic on the blocks a pass over the stores reads.

    Examples
    --------
    >>> float_rows(np.ones((2, 3), np.float32), 3).dtype
    dtype('float64')
    """
    x = np.asarray(X, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"expected a 2-D array (n_frames, n_features); got shape {x.shape}")
    if not len(x):
        raise ValueError(f"found an array with 0 rows (shape {x.shape}); at least 1 is needed")
    if n_features is not None and x.shape[1] != n_features:
        raise ValueError(f"X has {x.shape[1]} features, but the model expects {n_features}")
    if not np.isfinite(x.sum()) and not np.isfinite(x).all():
        raise ValueError("Input X contains NaN or infinity.")
    return x


def require_fitted(estimator, attribute: str) -> None:
    """scikit-learn's ``check_is_fitted`` for one attribute, at the cost of a ``hasattr``."""
    if not hasattr(estimator, attribute):
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(f"This {type(estimator).__name__} instance is not fitted yet. "
                             "Call 'fit' with appropriate arguments before using this "
                             "estimator.")


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
