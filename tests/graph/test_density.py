import tracemalloc

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from vlitq.graph.density import (
    dbscan_cosine,
    eps_neighbourhood_graph,
    k_distances,
    knee,
    suggest_eps,
    vendi_score,
)


def _mixture(n_clusters=12, per=40, noise=60, d=24, spread=0.25, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(size=(n_clusters, d))
    x = np.repeat(c, per, axis=0) + spread * rng.normal(size=(n_clusters * per, d))
    return np.vstack([x, rng.normal(size=(noise, d))]).astype(np.float32)


@pytest.mark.parametrize("eps,min_samples", [(0.05, 4), (0.1, 5), (0.3, 3)])
def test_matches_sklearn_dbscan_on_the_precomputed_eps_graph(eps, min_samples):
    x = _mixture()
    ours = dbscan_cosine(x, eps, min_samples, max_chunk_bytes=20_000)  # many small blocks
    ref = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(
        eps_neighbourhood_graph(x, eps))
    ref_core = np.zeros(len(x), bool)
    ref_core[ref.core_sample_indices_] = True
    assert (ours.core == ref_core).all()
    assert ours.n_clusters == len(set(ref.labels_) - {-1})
    assert ours.noise_share == pytest.approx(np.mean(ref.labels_ == -1))
    assert adjusted_rand_score(ref.labels_[ref_core], ours.labels[ours.core]) == 1.0
    # the same with brute-force cosine DBSCAN (no graph at all)
    brute = DBSCAN(eps=eps, min_samples=min_samples, metric="cosine", algorithm="brute").fit(x)
    assert ours.n_clusters == len(set(brute.labels_) - {-1})


def test_memory_stays_bounded_on_dense_neighbourhoods():
    # every point is every other's neighbour: the eps-graph would hold n² pairs (12 bytes each,
    # ~75 MB here); streamed blocks of 1 MiB keep the peak far below that
    n = 2500
    rng = np.random.default_rng(0)
    x = np.ones((n, 16), np.float32) + 0.01 * rng.normal(size=(n, 16)).astype(np.float32)
    tracemalloc.start()
    res = dbscan_cosine(x, 0.1, 5, max_chunk_bytes=1 << 20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert res.n_clusters == 1 and res.noise_share == 0.0
    assert peak < 10 << 20, peak / 2**20


def test_torch_backend_agrees_with_numpy():
    pytest.importorskip("torch")
    x = _mixture(seed=3)
    a = dbscan_cosine(x, 0.1, 4)
    b = dbscan_cosine(x, 0.1, 4, device="cpu")
    assert a.n_clusters == b.n_clusters and (a.core == b.core).all()
    assert adjusted_rand_score(a.labels, b.labels) == 1.0


def test_edge_cases():
    assert dbscan_cosine(np.zeros((0, 4)), 0.1, 3).n_clusters == 0
    r = dbscan_cosine(np.eye(5), 0.1, 2)  # orthogonal: all noise
    assert r.n_clusters == 0 and r.noise_share == 1.0
    with pytest.raises(ValueError):
        dbscan_cosine(np.zeros(4), 0.1, 2)


def test_suggest_eps_lies_between_within_and_between_cluster_distances():
    x = _mixture(spread=0.1)
    eps = suggest_eps(x, k=3)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    within = 1 - float((xn[0] @ xn[1:40].T).min())
    between = 1 - float(np.max(xn[:40] @ xn[40:480].T))
    assert within * 0.5 < eps < between
    # with that eps the planted clusters come back
    assert dbscan_cosine(x, eps, 4).n_clusters == 12
    d = k_distances(x, 3)
    assert (np.diff(d) >= 0).all()
    assert knee(np.array([0.0, 0.01, 0.02, 0.9, 1.0])) == 2


def test_vendi_score_equals_the_n_by_n_definition():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 8))
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    lam = np.clip(np.linalg.eigvalsh(xn @ xn.T / len(x)), 0, None)
    lam = lam[lam > 1e-12]
    ref = np.exp(-(lam * np.log(lam)).sum())
    assert vendi_score(x, block_rows=7) == pytest.approx(ref, rel=1e-6)
    # duplicating the points does not change it; more spread-out clusters raise it
    assert vendi_score(np.vstack([x, x])) == pytest.approx(ref, rel=1e-6)
    assert vendi_score(_mixture(n_clusters=2)) < vendi_score(_mixture(n_clusters=10))
