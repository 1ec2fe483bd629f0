import tracemalloc

import numpy as np
import pytest
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from vlitq.graph.density import (
    dbscan_cosine,
    dbscan_from_knn,
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


# ------------------------------------------------------------------ the k-NN graph path
def _same_clustering(a, b):
    assert (a.core == b.core).all()
    assert a.n_clusters == b.n_clusters
    assert a.noise_share == pytest.approx(b.noise_share)
    assert adjusted_rand_score(a.labels[a.core], b.labels[b.core]) == 1.0


@pytest.mark.parametrize("index", ["numpy", "torch", "faiss"])
def test_knn_graph_with_enough_neighbours_is_exact_dbscan(index):
    if index != "numpy":
        pytest.importorskip(index)
    x = _mixture(seed=5)
    exact = dbscan_cosine(x, 0.1, 4, method="exact")
    # more neighbours than the largest eps-neighbourhood: the graph holds every eps-pair
    ours = dbscan_cosine(x, 0.1, 4, method="knn", index=index, n_neighbors=100,
                         device="cpu" if index == "torch" else None)
    assert ours.method == f"knn/{index}"
    _same_clustering(ours, exact)
    # border points: within eps of a core point of the same cluster, or noise iff exact says so
    assert ((ours.labels < 0) == (exact.labels < 0)).all()


def test_knn_graph_with_few_neighbours_agrees_closely():
    x = _mixture(n_clusters=20, per=60, noise=200, seed=2)
    exact = dbscan_cosine(x, 0.1, 4, method="exact")
    ours = dbscan_cosine(x, 0.1, 4, method="knn", index="numpy", n_neighbors=8)
    assert (ours.core == exact.core).mean() > 0.99
    assert adjusted_rand_score(exact.labels, ours.labels) > 0.98


def test_numpy_inverted_file_index_recall():
    from vlitq.graph.density import _knn_numpy

    x = _mixture(n_clusters=30, per=60, noise=200, seed=4)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    truth = np.argsort(-(xn @ xn.T), axis=1)[:, :10]
    nbr, sim = _knn_numpy(x, 10, nlist=40, nprobe=8)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(nbr, truth)])
    assert recall > 0.9
    got = np.take_along_axis(xn @ xn.T, nbr, axis=1)
    assert np.allclose(got, sim, atol=1e-5)
    exact_nbr, _ = _knn_numpy(x, 10, nlist=4, nprobe=8)   # every cell probed
    assert (np.sort(exact_nbr, 1) == np.sort(truth, 1)).mean() > 0.999


def test_auto_method_switches_at_the_threshold():
    x = _mixture(seed=1)
    assert dbscan_cosine(x, 0.1, 4).method == "exact"
    assert dbscan_cosine(x, 0.1, 4, exact_max_n=100, index="numpy").method == "knn/numpy"
    with pytest.raises(ValueError):
        dbscan_cosine(x, 0.1, 4, method="fast")
    with pytest.raises(ValueError):
        dbscan_cosine(x, 0.1, 4, method="knn", index="annoy")


def test_missing_faiss_falls_back_to_numpy_with_a_warning(monkeypatch, caplog):
    import importlib.util

    import vlitq.graph.density as density

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "faiss" else real(name, *a))
    monkeypatch.setattr(density, "_warned_numpy", False)
    with caplog.at_level("WARNING", logger="vlitq"):
        r = dbscan_cosine(_mixture(), 0.1, 4, method="knn")
    assert r.method == "knn/numpy"
    assert "vlitq[ann]" in caplog.text


def test_dbscan_from_knn_makes_edges_undirected():
    # point 3 lists nobody, but 0 lists 3: the edge counts for both ends
    nbr = np.array([[1, 3], [0, -1], [0, -1], [-1, -1]])
    sim = np.array([[0.99, 0.99], [0.99, 0], [0.99, 0], [0, 0]], np.float32)
    nbr[2, 0] = 0
    r = dbscan_from_knn(nbr, sim, eps=0.05, min_samples=3)
    # 0 has neighbours 1, 2 (2 lists 0) and 3: core; the others join it as border points
    assert r.core.tolist() == [True, False, False, False]
    assert r.labels.tolist() == [0, 0, 0, 0]


def _cells(x, nlist, nprobe, seed=0):
    faiss = pytest.importorskip("faiss")
    xn = np.ascontiguousarray(x / np.linalg.norm(x, axis=1, keepdims=True), dtype=np.float32)
    km = faiss.Kmeans(x.shape[1], nlist, niter=5, seed=seed, spherical=True)
    km.train(xn)
    q = faiss.IndexFlatIP(x.shape[1])
    q.add(km.centroids)
    return xn, q, q.search(xn, nprobe)[1]


def test_ivf_scan_over_the_input_equals_faiss_ivfflat_on_the_same_cells():
    # the graph path's index keeps row numbers, not vectors: its neighbours must be those of
    # faiss IndexIVFFlat (which stores a copy of every vector) searched with the same cells
    faiss = pytest.importorskip("faiss")
    from faiss.contrib.ivf_tools import add_preassigned, search_preassigned

    from vlitq.graph.density import _ivf_scan

    x = _mixture(n_clusters=40, per=100, noise=1000, d=32, seed=6)
    xn, quantizer, probes = _cells(x, 50, 6)
    ix = faiss.IndexIVFFlat(quantizer, x.shape[1], 50, faiss.METRIC_INNER_PRODUCT)
    ix.nprobe = 6
    add_preassigned(ix, xn, np.ascontiguousarray(probes[:, 0]))
    ref_sim, ref_nbr = search_preassigned(ix, xn, 12, probes)
    nbr, sim = _ivf_scan(3.0 * x, 12, probes.astype(np.int32), 50,   # unnormalised input
                         max_chunk_bytes=50_000)                     # many row blocks
    order = np.argsort(-sim, axis=1)
    nbr, sim = np.take_along_axis(nbr, order, 1), np.take_along_axis(sim, order, 1)
    assert np.allclose(sim, ref_sim, atol=1e-5)
    assert (nbr == ref_nbr).mean() > 0.999   # up to ties
    # the similarities are exact float32 cosines against the input
    assert np.allclose(sim, np.take_along_axis(xn @ xn.T, nbr.astype(np.int64), 1), atol=1e-5)
    # probing every cell is the exact k-NN
    _, _, every = _cells(x, 8, 8)
    nbr, _ = _ivf_scan(x, 12, every.astype(np.int32), 8)
    truth = np.argsort(-(xn @ xn.T), axis=1)[:, :12]
    assert (np.sort(nbr, 1) == np.sort(truth, 1)).mean() > 0.999


def test_ivf_scan_holds_no_copy_of_the_vectors():
    from vlitq.graph.density import _ivf_scan

    n, d, k = 20000, 128, 10
    x = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)   # 10 MB
    probes = np.random.default_rng(1).integers(0, 100, (n, 8)).astype(np.int32)
    probes[:, 1:] = (probes[:, :1] + np.arange(1, 8)) % 100   # 8 distinct cells each
    tracemalloc.start()
    nbr, sim = _ivf_scan(x, k, probes, 100, max_chunk_bytes=1 << 20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    out = nbr.nbytes + sim.nbytes                                          # 1.6 MB
    # results + probe lists sorted by cell (~2 MB) + blocks, far below a copy of x
    assert peak - out < 0.5 * x.nbytes, (peak - out) / x.nbytes
    assert nbr.dtype == np.int32 and (nbr >= 0).all()


def test_faiss_graph_path_agrees_with_exact_above_one_cell():
    pytest.importorskip("faiss")
    # 6,000 points: 155 cells, so the inverted file is really used (below 4,096: one cell)
    x = _mixture(n_clusters=100, per=50, noise=1000, d=32, spread=0.3, seed=7)
    exact = dbscan_cosine(x, 0.15, 4, method="exact")
    ours = dbscan_cosine(x, 0.15, 4, method="knn", index="faiss")
    assert ours.method == "knn/faiss" and exact.n_clusters > 50
    assert (ours.core == exact.core).mean() > 0.999
    assert adjusted_rand_score(exact.labels, ours.labels) > 0.99


@pytest.mark.parametrize("index", ["faiss", "numpy", "torch"])
def test_link_pass_joins_what_the_knn_graph_splits(index):
    if index != "numpy":
        pytest.importorskip(index)
    from vlitq.graph.density import _dbscan_knn

    # two tight blobs of 60 points whose centres are 0.1 apart in cosine distance: every
    # point's 5 nearest neighbours are in its own blob, yet all cross pairs lie within eps
    rng = np.random.default_rng(8)
    a = np.zeros(16)
    a[0] = 1.0
    b = np.zeros(16)
    b[0], b[1] = 0.9, np.sqrt(1 - 0.81)
    x = np.vstack([a + 0.01 * rng.normal(size=(60, 16)), b + 0.01 * rng.normal(size=(60, 16)),
                   rng.normal(size=(30, 16))]).astype(np.float32)
    exact = dbscan_cosine(x, 0.2, 3, method="exact")
    assert exact.n_clusters == 1
    dev = "cpu" if index == "torch" else None
    kw = {"n_neighbors": 5, "index": index, "device": dev, "max_chunk_bytes": 1 << 20,
          "progress": False}
    assert _dbscan_knn(x, 0.2, 3, link=False, **kw).n_clusters == 2   # the graph alone splits
    ours = dbscan_cosine(x, 0.2, 3, method="knn", index=index, n_neighbors=5, device=dev,
                         max_chunk_bytes=20_000)                      # several link tiles
    assert ours.method == f"knn/{index}"
    _same_clustering(ours, exact)
    assert ((ours.labels < 0) == (exact.labels < 0)).all()
