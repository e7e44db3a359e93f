"""Frame x frame correlation and hierarchical clustering (Dolensek et al. 2020, Fig. 1).

The similarity of two frames is the Pearson correlation of their HOG vectors. Frames are
clustered with complete linkage on correlation distance (1 - r) and displayed in the optimal
leaf order, so frames of one expression form blocks along the diagonal. Purity tells how well
the clusters match the conditions.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from sklearn.metrics import adjusted_rand_score

from mouseface.expressions.similarity import standardize_rows


def correlation_matrix(X: np.ndarray) -> np.ndarray:
    """Pearson r between every pair of rows of ``X``, shape (n, n)."""
    z = standardize_rows(X)
    return z @ z.T


def purity(clusters: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose label is the most frequent label of their cluster."""
    clusters, labels = np.asarray(clusters), np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    total = 0
    for c in np.unique(clusters):
        _, counts = np.unique(labels[clusters == c], return_counts=True)
        total += counts.max()
    return total / len(labels)


@dataclass
class Clustering:
    """Result of :func:`cluster_frames`.

    Attributes
    ----------
    index : ndarray, shape (n,)
        Rows of the input that were clustered (subsample, finite rows only), input order.
    order : ndarray, shape (n,)
        Optimal leaf order: positions into ``index``.
    linkage : ndarray, shape (n - 1, 4)
        SciPy linkage matrix.
    clusters : ndarray of int, shape (n,)
        Cluster of each clustered row (1..n_clusters), aligned with ``index``.
    corr : ndarray, shape (n, n)
        Frame x frame Pearson r, rows and columns in ``order``.
    purity : float
        :func:`purity` of ``clusters`` against the labels (NaN without labels).
    adjusted_rand : float
        Adjusted Rand index of ``clusters`` against the labels (NaN without labels).
    """

    index: np.ndarray
    order: np.ndarray
    linkage: np.ndarray
    clusters: np.ndarray
    corr: np.ndarray
    purity: float
    adjusted_rand: float


def cluster_frames(
    X: np.ndarray, labels: np.ndarray | None = None, *, n_clusters: int | None = None,
    max_frames: int = 1000,
) -> Clustering:
    """Complete-linkage clustering of frames on correlation distance, optimally ordered.

    Parameters
    ----------
    X : ndarray, shape (n_frames, n_features)
        HOG (or any) vectors per frame.
    labels : ndarray of str, shape (n_frames,), optional
        Condition of each frame, for purity and the adjusted Rand index.
    n_clusters : int, optional
        Where to cut the tree; default the number of distinct labels (or 2).
    max_frames : int, default=1000
        Frames kept, evenly spaced in time, when there are more (memory grows as n², optimal
        leaf ordering as about n³).

    Returns
    -------
    Clustering
    """
    X = np.asarray(X, dtype=np.float64)
    finite = np.isfinite(X).all(axis=1) & (np.nanstd(X, axis=1) > 0)
    index = np.flatnonzero(finite)
    if len(index) > max_frames:
        index = index[np.round(np.linspace(0, len(index) - 1, max_frames)).astype(int)]
    if len(index) < 3:
        raise ValueError(f"need at least 3 frames with finite, non-constant features, "
                         f"got {len(index)}")
    x = X[index]
    lab = None if labels is None else np.asarray(labels).astype(str)[index]
    if n_clusters is None:
        n_clusters = max(2, len(np.unique(lab))) if lab is not None else 2
    z = linkage(x, method="complete", metric="correlation", optimal_ordering=True)
    order = leaves_list(z)
    clusters = fcluster(z, t=n_clusters, criterion="maxclust")
    corr = correlation_matrix(x[order])
    if lab is None:
        pur = ari = float("nan")
    else:
        pur, ari = purity(clusters, lab), float(adjusted_rand_score(lab, clusters))
    return Clustering(index, order, z, clusters, corr, float(pur), ari)


__all__ = ["Clustering", "cluster_frames", "correlation_matrix", "purity"]
