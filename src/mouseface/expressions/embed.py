"""Two-dimensional embeddings of frames: PCA, then t-SNE (or UMAP when installed).

As in Dolensek et al. 2020 (Fig. 2), frames are first reduced to (at most) 100 principal
components, then embedded in 2-D. t-SNE is scikit-learn's; UMAP needs the optional extra
``pip install umap-learn``. Long recordings are subsampled first (t-SNE grows as n log n
in time and n in memory; the picture does not need every frame).
"""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from threadpoolctl import threadpool_limits

from mouseface._errors import install_hint

METHODS = ("tsne", "umap")


def subsample(labels: np.ndarray, max_n: int, *, random_state: int = 0) -> np.ndarray:
    """Sorted indices of at most ``max_n`` samples, shared as evenly as possible among labels.

    Each label keeps ``min(its count, quota)`` samples with the quota chosen so the total is
    at most ``max_n``; rare labels are therefore kept whole, frequent ones thinned.
    """
    labels = np.asarray(labels)
    if len(labels) <= max_n:
        return np.arange(len(labels))
    rng = np.random.default_rng(random_state)
    names, counts = np.unique(labels, return_counts=True)
    quota = _quota(counts, max_n)
    keep = [rng.choice(np.flatnonzero(labels == n), size=min(c, quota), replace=False)
            for n, c in zip(names, counts, strict=True)]
    return np.sort(np.concatenate(keep))


def _quota(counts: np.ndarray, max_n: int) -> int:
    lo, hi = 0, int(counts.max())
    while lo < hi:  # largest q with sum(min(counts, q)) <= max_n
        q = (lo + hi + 1) // 2
        if np.minimum(counts, q).sum() <= max_n:
            lo = q
        else:
            hi = q - 1
    return max(lo, 1)


def embed(
    X: np.ndarray, *, method: str = "tsne", n_pca: int = 100, perplexity: float = 30.0,
    n_neighbors: int = 15, n_threads: int | None = 1, random_state: int = 0,
) -> np.ndarray:
    """Embed frames in two dimensions.

    Parameters
    ----------
    X : ndarray, shape (n_frames, n_features)
        HOG or similarity vectors.
    method : {"tsne", "umap"}, default="tsne"
    n_pca : int, default=100
        Principal components kept before the embedding (fewer when ``X`` has fewer samples
        or features; 0 skips PCA).
    perplexity : float, default=30
        t-SNE perplexity, lowered to ``(n_frames - 1) / 3`` for small inputs.
    n_neighbors : int, default=15
        UMAP neighbourhood size.
    n_threads : int or None, default=1
        OpenMP threads of scikit-learn's Barnes-Hut t-SNE (None: its default, all cores).
        One thread is the default: on a busy machine the threads' synchronisation at every
        gradient step made a 60-point embedding 20 times slower than one thread.
    random_state : int, default=0

    Returns
    -------
    ndarray, shape (n_frames, 2)

    Raises
    ------
    ImportError
        ``method="umap"`` without umap-learn installed.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    X = np.asarray(X, dtype=np.float64)
    if len(X) < 4:
        raise ValueError(f"need at least 4 frames to embed, got {len(X)}")
    X = X[:, np.isfinite(X).all(axis=0)] if not np.isfinite(X).all() else X
    if n_pca and X.shape[1] > 2:
        X = PCA(n_components=min(n_pca, *X.shape), random_state=random_state).fit_transform(X)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise ImportError(f"UMAP needs umap-learn: {install_hint('umap')}") from None
        return umap.UMAP(n_neighbors=min(n_neighbors, len(X) - 1),
                         random_state=random_state).fit_transform(X)
    perplexity = min(perplexity, (len(X) - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=random_state)
    if n_threads is None:
        return tsne.fit_transform(X)
    with threadpool_limits(limits=n_threads, user_api="openmp"):
        return tsne.fit_transform(X)


__all__ = ["METHODS", "embed", "subsample"]
