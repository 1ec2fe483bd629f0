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


def _dbscan_from_knn_reference(nbr, sim, eps, min_samples):
    """The first ``dbscan_from_knn`` (until #18: all edges as int64 pair keys, de-duplicated
    with ``np.unique``), kept here as the reference the bounded-memory version must equal."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = nbr.shape[0]
    thr = np.float32(1.0 - eps)
    ok = (nbr >= 0) & (sim >= thr)
    ok &= nbr != np.arange(n)[:, None]
    rows = np.repeat(np.arange(n, dtype=np.int32), ok.sum(axis=1))
    cols = nbr[ok].astype(np.int32)
    s = sim[ok]
    key = np.minimum(rows, cols).astype(np.int64) * n + np.maximum(rows, cols)
    key, first = np.unique(key, return_index=True)
    s = s[first]
    u, v = (key // n).astype(np.int32), (key % n).astype(np.int32)
    deg = 1 + np.bincount(u, minlength=n) + np.bincount(v, minlength=n)
    core = deg >= min_samples
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return labels, core, 0, 1.0
    cu, cv = core[u], core[v]
    both = cu & cv
    g = coo_matrix((np.ones(int(both.sum()), np.int8), (u[both], v[both])), shape=(n, n))
    _, comp = connected_components(g, directed=False)
    _, lab = np.unique(comp[core], return_inverse=True)
    labels[core] = lab
    one = cu ^ cv
    p = np.where(cu[one], v[one], u[one])
    q = np.where(cu[one], u[one], v[one])
    o = np.lexsort((-s[one], p))
    p, q = p[o], q[o]
    firsts = np.flatnonzero(np.r_[True, p[1:] != p[:-1]]) if len(p) else np.zeros(0, np.int64)
    labels[p[firsts]] = labels[q[firsts]]
    return labels, core, int(lab.max()) + 1, float(np.mean(labels < 0))


def _random_knn_graph(n, k, seed, *, pad=0.1, self_loops=0.05, dup=0.05, levels=6):
    """Neighbour lists with what real ones may hold: -1 padding (with any similarity),
    self-loops, a neighbour listed twice, pairs listed from one end only, and similarities
    on a coarse grid (ties) that differ by one float32 step between the two ends of a pair."""
    rng = np.random.default_rng(seed)
    # clustered: most neighbours from the point's own group (sizes 1 to ~40)
    sizes = np.minimum(rng.geometric(1 / 15, n), 40)
    group = rng.permutation(np.repeat(np.arange(n), sizes)[:n])
    group = np.unique(group, return_inverse=True)[1]
    order = np.argsort(group, kind="stable")
    start = np.searchsorted(group[order], np.arange(group.max() + 2))
    size = np.diff(start)[group]
    near = order[start[group][:, None] + (rng.random((n, k)) * size[:, None]).astype(np.int64)]
    is_far = rng.random((n, k)) < 0.15
    nbr = np.where(is_far, rng.integers(0, n, (n, k)), near)
    sim = (0.55 + 0.1 * rng.integers(0, levels, (n, k))).astype(np.float32)
    # far neighbours beyond eps, but for ~1 point in 20 (those join or touch groups)
    sim[is_far & (rng.random((n, k)) > 0.05 / max(1, k * 0.15))] = 0.3
    # the reverse listing of a pair gets the same similarity, or one float32 step off
    rev = rng.random((n, k)) < 0.5
    i, c = np.nonzero(rev)
    j = nbr[i, c]
    cj = rng.integers(0, k, len(i))
    nbr[j, cj] = i
    step = rng.choice([-1, 0, 0, 1], len(i)).astype(np.float32)
    sim[j, cj] = np.nextafter(sim[i, c], sim[i, c] + step)
    hit = rng.random((n, k)) < self_loops
    nbr[hit] = np.nonzero(hit)[0]
    d = rng.random((n, k)) < dup
    if k > 1:
        d[:, 0] = False
        src = rng.integers(0, k, (n, k))
        nbr[d] = nbr[np.nonzero(d)[0], src[d]]
        sim[d] = (0.55 + 0.1 * rng.integers(0, levels, int(d.sum()))).astype(np.float32)
    p = rng.random((n, k)) < pad
    nbr[p] = -1
    sim[p] = rng.choice([0.0, 0.99, -np.inf], int(p.sum())).astype(np.float32)
    return nbr, sim


def test_random_knn_graphs_hold_the_cases_they_are_for():
    nbr, sim = _random_knn_graph(1500, 25, 1)
    n, k = nbr.shape
    rows = np.arange(n)[:, None]
    assert (nbr == -1).any() and (nbr == rows).any()
    srt = np.sort(np.where(nbr >= 0, nbr, -1 - np.arange(k)), axis=1)
    assert (srt[:, 1:] == srt[:, :-1]).any()                 # a neighbour listed twice
    pairs = {}
    for i, c in zip(*np.nonzero(nbr >= 0)):
        pairs.setdefault((i, nbr[i, c]), sim[i, c])
    both = [(i, j) for (i, j) in pairs if i < j and (j, i) in pairs]
    assert len(both) > 100 and len(pairs) > 2 * len(both)  # pairs listed from one end
    assert any(pairs[i, j] != pairs[j, i] for i, j in both)  # ends one float32 step apart
    labels, core, n_clusters, _ = _dbscan_from_knn_reference(nbr, sim, 0.3, 6)
    assert n_clusters > 1 and ((labels >= 0) & ~core).sum() > 10   # clusters, border points


def _assert_same(r, ref):
    labels, core, n_clusters, noise = ref
    assert np.array_equal(r.core, core)
    assert np.array_equal(r.labels, labels)
    assert r.n_clusters == n_clusters
    assert r.noise_share == noise
    assert r.labels.dtype == np.int64


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eps,min_samples", [(0.2, 3), (0.3, 6), (0.4, 2), (0.25, 1), (0.25, 4)])
def test_dbscan_from_knn_equals_the_reference_on_random_graphs(seed, eps, min_samples):
    n, k = [(400, 8), (1500, 25), (60, 3), (300, 1), (900, 12), (2000, 6)][seed]
    nbr, sim = _random_knn_graph(n, k, seed)
    ref = _dbscan_from_knn_reference(nbr, sim, eps, min_samples)
    for budget in (1, 3_000, 64 << 20):   # one row per block, a few blocks, one block
        _assert_same(dbscan_from_knn(nbr, sim, eps, min_samples, max_chunk_bytes=budget), ref)
    # int64 lists (the torch path) and float64 similarities give the same
    r = dbscan_from_knn(nbr.astype(np.int64), sim.astype(np.float64), eps, min_samples,
                        max_chunk_bytes=5_000)
    _assert_same(r, _dbscan_from_knn_reference(nbr, sim.astype(np.float64), eps, min_samples))


def test_dbscan_from_knn_border_ties_and_one_sided_rounding():
    # border point 0 sees the core points 5 and 3 at the same similarity: the smaller index
    # wins. Border point 9 lists 7 one float32 step above 0.9, while 7 lists 9 at 0.9: the
    # pair keeps the value of the smaller point's row (7's: 0.9, as the reference does), so
    # 9 ties between 7 and 2 (0.9) and goes to 2
    thr = np.float32(0.8)
    nbr = -np.ones((12, 4), np.int64)
    sim = np.zeros((12, 4), np.float32)
    core_a, core_b = [1, 2, 3, 4], [5, 6, 7, 8]
    for grp in (core_a, core_b):
        for i in grp:
            nbr[i, :3] = [j for j in grp if j != i]
            sim[i, :3] = 0.95
    nbr[0, :2], sim[0, :2] = [5, 3], [0.9, 0.9]
    hi = np.nextafter(np.float32(0.9), np.float32(1))
    nbr[9, :2], sim[9, :2] = [7, 2], [hi, 0.9]
    nbr[7, 3], sim[7, 3] = 9, 0.9
    nbr[10, 0], sim[10, 0] = 10, 0.99               # a self-loop only: noise
    nbr[11, 0], sim[11, 0] = 4, thr - np.float32(1e-3)   # just beyond eps: noise
    ref = _dbscan_from_knn_reference(nbr, sim, 0.2, 4)
    r = dbscan_from_knn(nbr, sim, 0.2, 4, max_chunk_bytes=1)
    _assert_same(r, ref)
    # clusters: 0 = {1, 2, 3, 4} (smallest core point 1), 1 = {5, 6, 7, 8}
    assert r.labels[[0, 9, 10, 11]].tolist() == [0, 0, -1, -1]
    # with 9's higher value kept instead, 7 would have won: the rule matters
    nbr2, sim2 = nbr.copy(), sim.copy()
    sim2[7, 3] = hi
    assert dbscan_from_knn(nbr2, sim2, 0.2, 4).labels[9] == 1


def test_dbscan_from_knn_all_noise_all_core_and_empty():
    nbr, sim = _random_knn_graph(300, 5, 11)
    for ms in (10_000, 1):
        ref = _dbscan_from_knn_reference(nbr, sim, 0.3, ms)
        _assert_same(dbscan_from_knn(nbr, sim, 0.3, ms, max_chunk_bytes=2_000), ref)
    r = dbscan_from_knn(nbr, sim, 0.3, 10_000)
    assert r.n_clusters == 0 and r.noise_share == 1.0 and not r.core.any()
    for shape in ((0, 4), (5, 0)):
        e = np.zeros(shape, np.int64)
        ref = _dbscan_from_knn_reference(e, e.astype(np.float32), 0.3, 1)
        _assert_same(dbscan_from_knn(e, e.astype(np.float32), 0.3, 1), ref)


def test_dbscan_from_knn_peak_memory_is_a_fraction_of_the_edge_list():
    # the reference held ~40 bytes per edge (int64 keys, np.unique's sorted copy and
    # permutation); now one byte per list entry, O(n) arrays and one block
    nbr, sim = _random_knn_graph(40_000, 20, 3, pad=0.0, self_loops=0.0, dup=0.0, levels=3)
    budget = 1 << 20
    peaks = []
    for f in (lambda: _dbscan_from_knn_reference(nbr, sim, 0.4, 3),
              lambda: dbscan_from_knn(nbr, sim, 0.4, 3, max_chunk_bytes=budget)):
        tracemalloc.start()
        f()
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    old, new = peaks
    n, k = nbr.shape
    assert new < n * k + 40 * n + 4 * budget, (old, new)
    assert new < old / 4, (old, new)


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


def test_k_distances_take_query_rows_and_need_no_unit_copy():
    from vlitq.graph.density import k_distances

    rng = np.random.default_rng(3)
    x = (rng.normal(size=(300, 16)) * rng.uniform(0.5, 3.0, size=(300, 1))).astype(np.float32)
    d = k_distances(x, 2, max_points=50, seed=1)
    q = np.sort(np.random.default_rng(1).choice(300, 50, replace=False))
    perm = rng.permutation(300)
    pos = np.argsort(perm)  # row of x[i] in x[perm]
    # the same points, laid out otherwise, named as query rows: the same curve
    np.testing.assert_allclose(k_distances(x[perm], 2, query=pos[q]), d, atol=1e-6)
    # against a brute-force cosine k-distance on normalised rows (float64)
    u = x.astype(np.float64) / np.linalg.norm(x, axis=1, keepdims=True)
    s = u[q] @ u.T
    want = np.sort(1.0 - np.sort(s, axis=1)[:, -3])
    np.testing.assert_allclose(d, want, atol=1e-5)
    # float64 input and a non-contiguous view give the same figures
    np.testing.assert_allclose(k_distances(x.astype(np.float64), 2, max_points=50, seed=1), d,
                               atol=1e-6)
    np.testing.assert_allclose(k_distances(np.asfortranarray(x), 2, max_points=50, seed=1), d,
                               atol=1e-6)
