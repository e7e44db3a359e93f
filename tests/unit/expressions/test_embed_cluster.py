import numpy as np
import pytest
from scipy.cluster.hierarchy import linkage
from threadpoolctl import threadpool_limits

from mouseface.expressions.cluster import cluster_frames, correlation_matrix, purity
from mouseface.expressions.embed import embed, subsample


@pytest.fixture(autouse=True)
def one_thread():
    """As mouseface.workflows.analysis does: BLAS/OpenMP threads only slow these small jobs down."""
    with threadpool_limits(limits=1):
        yield

def blobs(seed=0, n=60, d=40, k=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, d)) * 3
    labels = np.repeat([f"c{i}" for i in range(k)], n)
    return centres[np.repeat(np.arange(k), n)] + rng.normal(size=(k * n, d)), labels


def test_subsample_keeps_rare_labels_whole_and_caps_the_total():
    labels = np.array(["a"] * 1000 + ["b"] * 30 + ["c"] * 200)
    idx = subsample(labels, 300, random_state=1)
    kept = dict(zip(*np.unique(labels[idx], return_counts=True), strict=True))
    assert len(idx) <= 300 and kept["b"] == 30 and kept["a"] == kept["c"]
    assert np.all(np.diff(idx) > 0)
    assert np.array_equal(subsample(labels[:10], 50), np.arange(10))


def test_tsne_embedding_separates_blobs():
    X, labels = blobs()
    xy = embed(X, n_pca=10, perplexity=20, random_state=0)
    assert xy.shape == (len(X), 2)
    centroids = np.array([xy[labels == c].mean(axis=0) for c in np.unique(labels)])
    spread = np.mean([xy[labels == c].std(axis=0).mean() for c in np.unique(labels)])
    gaps = [np.linalg.norm(a - b) for i, a in enumerate(centroids) for b in centroids[i + 1:]]
    assert min(gaps) > 2 * spread


def test_embed_rejects_bad_input():
    with pytest.raises(ValueError, match="method must be one of"):
        embed(np.zeros((10, 3)), method="isomap")
    with pytest.raises(ValueError, match="at least 4 frames"):
        embed(np.zeros((3, 3)))


def test_umap_is_optional():
    X, _ = blobs(n=20)
    try:
        import umap  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install umap-learn"):
            embed(X, method="umap")
    else:
        assert embed(X, method="umap").shape == (len(X), 2)


def test_cluster_frames_recovers_blobs_and_orders_leaves():
    X, labels = blobs(n=40)
    c = cluster_frames(X, labels)
    assert c.purity == 1.0 and c.adjusted_rand == pytest.approx(1.0)
    assert sorted(c.order) == list(range(len(X)))
    # the leaf order puts each blob in one contiguous run
    runs = np.count_nonzero(labels[c.index][c.order][1:] != labels[c.index][c.order][:-1])
    assert runs == 2
    ref = linkage(X, method="complete", metric="correlation", optimal_ordering=True)
    np.testing.assert_allclose(c.linkage, ref)
    np.testing.assert_allclose(c.corr, np.corrcoef(X[c.order]), atol=1e-10)


def test_cluster_frames_subsamples_and_drops_constant_rows():
    X, labels = blobs(n=100)
    X[5] = 1.0
    c = cluster_frames(X, labels, max_frames=50, n_clusters=4)
    assert len(c.index) == 50 and 5 not in c.index
    assert len(np.unique(c.clusters)) <= 4
    with pytest.raises(ValueError, match="at least 3 frames"):
        cluster_frames(np.ones((10, 4)))


def test_purity_and_correlation_matrix():
    assert purity([1, 1, 2, 2], ["a", "b", "b", "b"]) == 0.75
    x = np.random.default_rng(0).normal(size=(5, 7))
    np.testing.assert_allclose(correlation_matrix(x), np.corrcoef(x), atol=1e-12)
