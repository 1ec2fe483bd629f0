"""DBSCAN on cosine distance that scales (exact below 20k points, a k-NN graph above), an eps
suggestion, and the Vendi score.

scikit-learn's ``DBSCAN`` keeps every point's neighbour list, which grows with N² on dense data
(scikit-learn #17650): 200k responses in tight clusters hold billions of pairs. Even a sparse
precomputed ε-graph (CSR) stores 12 bytes per pair and does not help there. DBSCAN does not need
the pairs, only

- which points are *core* (at least ``min_samples`` points, itself included, within ``eps``),
- the connected components of the ε-graph restricted to core points,
- for each non-core point, one core point within ``eps`` (else it is noise).

Exact path (``method="exact"``, the reference): the similarity matrix is streamed in square
tiles of at most ``max_chunk_bytes``, and only the tiles of its upper triangle are computed (it
is symmetric: a tile's row sums count for its rows, its column sums for its columns). Pass 1
counts neighbours; pass 2 merges the components of the core-core edges tile by tile (union by
relabelling with ``scipy.sparse.csgraph``; tile sizes from the pass-1 counts so that a tile's
pairs fit the budget too) and gives each border point the cluster of its nearest core point.
Memory: embeddings + one tile + O(N) labels, whatever the density; time still grows with N².
Core points and clusters are the same as scikit-learn's (a border point within ``eps`` of two
clusters may go to the other one: scikit-learn assigns it by scan order, this by nearest core
point).

Graph path (``method="knn"``, the default above :data:`EXACT_MAX_N` points): each point's
``n_neighbors`` nearest neighbours from an inverted file over the input itself — k-means cells
(2√n) trained by faiss (``pip install "vlitq[ann]"``) or, without faiss, by numpy (with a
warning); each point compared with the members of its 8 nearest cells in float32 matrix
products straight from the input (:func:`_ivf_scan`: the lists hold row numbers, not a second
copy of the vectors as faiss ``IndexIVFFlat`` does, and the similarities are exact) — or exact
top-k with torch on a ``device``; then :func:`dbscan_from_knn`: the edges within ``eps``,
made undirected; core = at least ``min_samples`` points in the neighbourhood; clusters =
connected components of the core-core edges; border points join their most similar core
neighbour. A link between two core points is missing from that graph only when neither is
among the other's ``n_neighbors`` nearest, i.e. both have ``n_neighbors`` neighbours within
``eps`` already: the link pass (:func:`_ivf_link`, :func:`_torch_link`) compares just those
points again, over the same cells, and merges the clusters any of their ε-pairs join. So the
result is exact DBSCAN up to the index's recall (pairs outside a point's probed cells).
Measured against the exact path on clustered MiniLM-like embeddings
(``benchmarks/bench_density.py``): 200k points, the same 1,303 clusters, ARI 1.0000, 20× less
CPU; 1M points in 257-315 CPU-s and 2.1 GiB, 3M in 1,100-1,400 CPU-s and 5.6 GiB (see
``benchmarks/README.md``).

:func:`eps_neighbourhood_graph` builds the sparse ε-graph in row blocks for users who want
scikit-learn's ``DBSCAN(metric="precomputed")`` (used in the tests as the reference).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger("vlitq")

_MiB = 1 << 20


@dataclass
class DBSCANResult:
    """Labels (``-1`` = noise), core mask, number of clusters and noise share of a DBSCAN run."""

    labels: np.ndarray
    core: np.ndarray
    n_clusters: int
    noise_share: float
    eps: float
    min_samples: int
    method: str = "exact"


def _as_unit(x) -> np.ndarray:
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


class _Backend:
    """Block similarity operations on numpy (default) or torch (``device="cuda"`` ...)."""

    def __init__(self, device: str | None):
        self.device = device
        self.torch = None
        if device is not None:
            from vlitq._dependencies import import_optional

            self.torch = import_optional("torch", purpose="DBSCAN on an accelerator")

    def put(self, x: np.ndarray):
        if self.torch is None:
            return x
        return self.torch.from_numpy(x).to(self.device)

    def count2(self, q, r, thr: float) -> tuple[np.ndarray, np.ndarray]:
        """Row and column counts of similarities ≥ ``thr`` in the tile ``q rᵀ``."""
        m = (q @ r.T) >= thr
        if self.torch is None:
            return np.count_nonzero(m, axis=1), np.count_nonzero(m, axis=0)
        return m.sum(dim=1).cpu().numpy(), m.sum(dim=0).cpu().numpy()

    def pairs(self, q, r, thr: float) -> tuple[np.ndarray, np.ndarray]:
        s = q @ r.T
        if self.torch is None:
            return np.nonzero(s >= thr)
        nz = (s >= thr).nonzero().cpu().numpy()
        return nz[:, 0], nz[:, 1]

    def nearest(self, q, r) -> tuple[np.ndarray, np.ndarray]:
        s = q @ r.T
        if self.torch is None:
            j = np.argmax(s, axis=1)
            return s[np.arange(len(j)), j], j
        v, j = s.max(dim=1)
        return v.cpu().numpy(), j.cpu().numpy()


# bytes per neighbour pair while linking: int64 row/col indices, their labels, the mask,
# the kept labels, the int64 keys and np.unique's sorted copy
_PAIR_BYTES = 72

#: Above this many points ``method="auto"`` builds a k-nearest-neighbour graph (approximate
#: index) instead of the exact blocked similarity matrix, whose cost grows with N² (200k
#: clustered 384-d points, one thread: exact 670 CPU-s, graph 34 CPU-s, the same clusters).
EXACT_MAX_N = 20_000
#: Neighbours kept per point in the graph path (at least ``min_samples``).
DEFAULT_NEIGHBOURS = 24


def _blocks(row_bytes: np.ndarray, max_chunk_bytes: int, max_rows: int | None = None):
    """Consecutive row ranges whose summed cost stays within ``max_chunk_bytes`` (at least
    one row each, at most ``max_rows``)."""
    cum = np.cumsum(row_bytes, dtype=np.float64)
    a, n = 0, len(row_bytes)
    while a < n:
        base = cum[a - 1] if a else 0.0
        b = int(np.searchsorted(cum, base + max_chunk_bytes, side="right"))
        b = max(b, a + 1)
        if max_rows is not None:
            b = min(b, a + max_rows)
        yield a, min(b, n)
        a = b


def _rows_per_block(n_cols: int, max_chunk_bytes: int) -> int:
    # a block holds the float32 similarities plus a boolean mask: 5 bytes per entry
    return max(1, int(max_chunk_bytes // max(1, 5 * n_cols)))


def _tile_rows(max_chunk_bytes: int) -> int:
    """Side of a square tile of the similarity matrix (float32 + mask) within the budget."""
    return max(1, int(np.sqrt(max_chunk_bytes / 5)))


def _upper_tiles(bounds):
    """Tiles (i, j) with j ≥ i of a symmetric matrix cut into the row ranges ``bounds``."""
    for i, ab in enumerate(bounds):
        for cd in bounds[i:]:
            yield ab, cd


def dbscan_cosine(embeddings, eps: float = 0.2, min_samples: int = 3, *,
                  max_chunk_bytes: int = 256 * _MiB, device: str | None = None,
                  progress: bool = False, method: str = "auto",
                  n_neighbors: int = DEFAULT_NEIGHBOURS, index: str = "auto",
                  exact_max_n: int = EXACT_MAX_N) -> DBSCANResult:
    """DBSCAN with cosine distance (1 − cosine similarity) in bounded memory.

    Parameters
    ----------
    embeddings : array of shape (n, d)
        Rows are L2-normalised here (cosine distance needs only directions).
    eps : float
        Neighbourhood radius in cosine distance (0.2 = cosine similarity ≥ 0.8).
    min_samples : int
        Points (the point itself included, as in scikit-learn) within ``eps`` for a core point.
    max_chunk_bytes : int
        Memory of one block of the similarity matrix (default 256 MiB).
    device : str, optional
        Run the block products with torch on this device (e.g. ``"cuda"``); default numpy.
        In the graph path this builds the exact k-nearest-neighbour graph with torch.
    method : {"auto", "exact", "knn"}
        ``"exact"``: the blocked similarity matrix (the reference; cost grows with N²).
        ``"knn"``: DBSCAN on the ε-graph of each point's ``n_neighbors`` nearest neighbours
        from an approximate index (cost ~ N log N). ``"auto"``: exact up to ``exact_max_n``
        points, the graph above.
    n_neighbors : int
        Neighbours per point in the graph path (raised to ``min_samples`` when smaller).
    index : {"auto", "faiss", "numpy", "torch"}
        Nearest-neighbour index of the graph path. ``"auto"``: torch when ``device`` is given,
        else the inverted file with faiss's k-means (``pip install "vlitq[ann]"``), else with
        numpy's (slower training; a warning says so). Both search the same way.
    exact_max_n : int
        Size threshold of ``method="auto"``.

    Examples
    --------
    >>> x = np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0, 1], [0.1, 0.99], [-1, 0]])
    >>> r = dbscan_cosine(x, eps=0.05, min_samples=2)
    >>> r.labels.tolist(), r.n_clusters, round(r.noise_share, 3)
    ([0, 0, 0, 1, 1, -1], 2, 0.167)
    >>> r2 = dbscan_cosine(x, eps=0.05, min_samples=2, method="knn", index="numpy")
    >>> r2.labels.tolist() == r.labels.tolist(), r2.method
    (True, 'knn/numpy')
    """
    if method not in ("auto", "exact", "knn"):
        raise ValueError(f"method must be 'auto', 'exact' or 'knn', got {method!r}")
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    n = x.shape[0]
    if n == 0:
        return DBSCANResult(np.zeros(0, np.int64), np.zeros(0, bool), 0, 0.0, eps, min_samples)
    if method == "knn" or (method == "auto" and n > exact_max_n):
        return _dbscan_knn(x, eps, min_samples, n_neighbors=n_neighbors, index=index,
                           device=device, max_chunk_bytes=max_chunk_bytes, progress=progress)
    return _dbscan_exact(_as_unit(x), eps, min_samples, max_chunk_bytes=max_chunk_bytes,
                         device=device, progress=progress)


def _dbscan_exact(x: np.ndarray, eps: float, min_samples: int, *, max_chunk_bytes: int,
                  device: str | None, progress: bool) -> DBSCANResult:
    """The exact blocked DBSCAN: each tile of the upper triangle of the similarity matrix is
    computed once for the counts and once more (core rows only) for the links."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from vlitq._utils import progress as _progress

    n = x.shape[0]
    thr = np.float32(1.0 - eps)
    be = _Backend(device)
    xd = be.put(x)
    side = _tile_rows(max_chunk_bytes)

    # pass 1: neighbour counts (self included) over the upper triangle: a tile's row sums
    # count for its rows, its column sums for its columns
    deg = np.zeros(n, dtype=np.int64)
    bounds = [(a, min(n, a + side)) for a in range(0, n, side)]
    tiles = list(_upper_tiles(bounds))
    for (a, b), (c, d) in _progress(tiles, disable=not progress, desc="dbscan: counting"):
        rs, cs = be.count2(xd[a:b], xd[c:d], thr)
        deg[a:b] += rs
        if c != a:
            deg[c:d] += cs
    core = deg >= min_samples
    core_idx = np.flatnonzero(core)
    nc = len(core_idx)
    labels = np.full(n, -1, dtype=np.int64)
    if nc == 0:
        return DBSCANResult(labels, core, 0, 1.0, eps, min_samples, "exact")

    # pass 2a: components of the core-core ε-graph, merged tile by tile (upper triangle);
    # block sizes from the pass-1 counts, so that the pairs of a tile fit the budget too
    xc = be.put(x[core_idx])
    lab = np.arange(nc, dtype=np.int64)
    cbounds = list(_blocks(_PAIR_BYTES * deg[core_idx], max_chunk_bytes, max_rows=side))
    for (a, b), (c, d) in _progress(list(_upper_tiles(cbounds)), disable=not progress,
                                    desc="dbscan: linking"):
        rows, cols = be.pairs(xc[a:b], xc[c:d], thr)
        la, lb = lab[rows + a], lab[cols + c]
        keep = la != lb
        if not keep.any():
            continue
        key = np.unique(la[keep] * nc + lb[keep])
        g = coo_matrix((np.ones(len(key), np.int8), (key // nc, key % nc)), shape=(nc, nc))
        _, comp = connected_components(g, directed=False)
        lab = comp[lab]
    _, lab = np.unique(lab, return_inverse=True)
    n_clusters = int(lab.max()) + 1
    labels[core_idx] = lab

    # pass 2b: border points join the cluster of their nearest core point within eps
    rest = np.flatnonzero(~core)
    step = _rows_per_block(nc, max_chunk_bytes)
    for a in range(0, len(rest), step):
        idx = rest[a:a + step]
        best, j = be.nearest(be.put(x[idx]), xc)
        ok = best >= thr
        labels[idx[ok]] = lab[j[ok]]
    noise = float(np.mean(labels < 0))
    return DBSCANResult(labels, core, n_clusters, noise, eps, min_samples, "exact")


# ---------------------------------------------------------------- the k-NN graph path
def _unit_chunks(x: np.ndarray, rows: int = 65536):
    """Consecutive float32 L2-normalised row chunks of ``x`` (no full normalised copy)."""
    for a in range(0, x.shape[0], rows):
        yield a, _as_unit(x[a:a + rows])


def _cells_faiss(x: np.ndarray, *, nlist: int | None = None, nprobe: int = 8, seed: int = 0,
                 progress: bool = False) -> tuple[np.ndarray, int]:
    """Each point's ``nprobe`` nearest k-means cells (nearest first), cells trained by faiss
    (``nlist``, 2√n by default, 24 training points per cell) and found with ``IndexFlatIP``."""
    from vlitq._dependencies import import_optional
    from vlitq._utils import progress as _progress

    faiss = import_optional("faiss")
    n, d = x.shape
    if nlist is None:
        nlist = 1 if n < 4096 else int(round(2 * np.sqrt(n)))
    nlist = max(1, min(nlist, n // 39 or 1))
    nprobe = min(nprobe, nlist)
    km = faiss.Kmeans(d, nlist, niter=10, seed=seed, spherical=True,
                      min_points_per_centroid=20, max_points_per_centroid=10**9)
    # the cells only need to be roughly balanced
    train = np.sort(np.random.default_rng(seed).choice(n, min(n, 24 * nlist), replace=False))
    km.train(_as_unit(x[train]))
    quantizer = faiss.IndexFlatIP(d)
    quantizer.add(km.centroids)
    probes = np.empty((n, nprobe), np.int32)
    chunks = list(range(0, n, 65536))
    for a, xa in _progress(_unit_chunks(x), total=len(chunks), disable=not progress,
                           desc="dbscan: cells"):
        probes[a:a + len(xa)] = quantizer.search(xa, nprobe)[1]
    return probes, nlist


def _knn_faiss(x: np.ndarray, k: int, *, nlist: int | None = None, nprobe: int = 8,
               seed: int = 0, max_chunk_bytes: int = 64 * _MiB, progress: bool = False):
    """k nearest neighbours (cosine) of every point with an inverted file whose lists hold
    row numbers into ``x``, not copies of the vectors: faiss's cells (:func:`_cells_faiss`),
    then :func:`_ivf_scan`. The index costs 4·nprobe bytes per point instead of faiss
    ``IndexIVFFlat``'s copy of the vectors (1.5 GiB at 1M × 384), and the similarities kept
    are exact float32, not those of a compressed copy."""
    probes, nlist = _cells_faiss(x, nlist=nlist, nprobe=nprobe, seed=seed, progress=progress)
    return _ivf_scan(x, k, probes, nlist, max_chunk_bytes=max_chunk_bytes, progress=progress)


def _inv_norms(x: np.ndarray) -> np.ndarray:
    inv = np.empty(x.shape[0], np.float32)
    for a in range(0, x.shape[0], 65536):
        xa = np.asarray(x[a:a + 65536], np.float32)
        inv[a:a + 65536] = 1.0 / np.maximum(np.sqrt(np.einsum("ij,ij->i", xa, xa)), 1e-12)
    return inv


def _cell_blocks(x: np.ndarray, probes: np.ndarray, nlist: int, *, max_chunk_bytes: int,
                 row_bytes: int, only: np.ndarray | None = None, progress: bool = False,
                 desc: str = "dbscan: searching"):
    """The blocks of an inverted file over ``x`` itself: point ``i`` lives in cell
    ``probes[i, 0]`` and probes the cells ``probes[i]``. Yields ``(q, m, s)``: for each cell,
    its members ``m`` and a row block ``q`` of the points probing it, ``s`` their cosine
    similarities (float32 matrix product of rows normalised as they are gathered; no copy of
    ``x``). ``only``: a mask of the points taking part (as queries and as members).
    ``row_bytes``: the caller's bytes per similarity (the block budget)."""
    from vlitq._utils import progress as _progress

    n = x.shape[0]
    inv = _inv_norms(x)
    idx = np.int32 if n < 2**31 else np.int64
    home = probes[:, 0]
    members = np.argsort(home, kind="stable").astype(idx)
    if only is not None:
        members = members[only[members]]
    mstart = np.searchsorted(home[members], np.arange(nlist + 1))
    flat = probes.ravel()
    who = np.argsort(flat, kind="stable")        # (point, probe) pairs sorted by cell
    if only is not None:
        who = who[only[who // probes.shape[1]]]
    qstart = np.searchsorted(flat[who], np.arange(nlist + 1))
    who = (who // probes.shape[1]).astype(idx)   # the probing points
    del flat
    for cell in _progress(range(nlist), disable=not progress, desc=desc):
        m = members[mstart[cell]:mstart[cell + 1]]
        qs = who[qstart[cell]:qstart[cell + 1]]
        if len(m) == 0 or len(qs) == 0:
            continue
        xm = np.asarray(x[m], np.float32) * inv[m, None]
        step = max(1, int(max_chunk_bytes // (row_bytes * len(m) + 8 * x.shape[1])))
        for a in range(0, len(qs), step):
            q = qs[a:a + step]
            yield q, m, (np.asarray(x[q], np.float32) * inv[q, None]) @ xm.T


def _ivf_scan(x: np.ndarray, k: int, probes: np.ndarray, nlist: int, *,
              max_chunk_bytes: int = 64 * _MiB, progress: bool = False):
    """k nearest neighbours in an inverted file over ``x`` itself (:func:`_cell_blocks`):
    each block's best ``k`` merged into the running best ``k`` of its rows. Memory: the (n, k)
    results, the probe lists sorted by cell, and one block; time: n · nprobe · (cell size) · d
    multiply-adds, as faiss IVF, in matrix products."""
    n = x.shape[0]
    k_eff = min(k, n)
    idx = np.int32 if n < 2**31 else np.int64
    nbr = np.full((n, k_eff), -1, idx)
    sim = np.full((n, k_eff), -np.inf, np.float32)
    # per similarity: itself + argpartition's int64 index
    for q, m, s in _cell_blocks(x, probes, nlist, max_chunk_bytes=max_chunk_bytes,
                                row_bytes=12, progress=progress):
        kk = min(k_eff, len(m))
        if kk < len(m):
            top = np.argpartition(s, len(m) - kk, axis=1)[:, len(m) - kk:]
            s = np.take_along_axis(s, top, axis=1)
            c = m[top]
        else:
            c = np.broadcast_to(m, s.shape)
        # merge with the best k so far (a point is in one cell: no duplicates)
        s = np.concatenate([sim[q], s], axis=1)
        c = np.concatenate([nbr[q], c], axis=1)
        top = np.argpartition(s, s.shape[1] - k_eff, axis=1)[:, s.shape[1] - k_eff:]
        sim[q] = np.take_along_axis(s, top, axis=1)
        nbr[q] = np.take_along_axis(c, top, axis=1)
    return nbr, sim


def _ivf_link(x: np.ndarray, probes: np.ndarray, nlist: int, labels: np.ndarray,
              active: np.ndarray, thr: float, *, max_chunk_bytes: int = 64 * _MiB,
              progress: bool = False) -> np.ndarray:
    """The link pass of the graph path: clusters of the k-NN graph that the ε-graph joins.

    ``labels``: cluster of each core point (the k-NN graph's components); ``active``: the core
    points whose k nearest neighbours all lie within eps — only between two of those can an
    ε-edge be missing from the graph (a point with a neighbour beyond eps holds its whole
    ε-neighbourhood among the probed cells). The same cell blocks as the search, restricted to
    them, find every ε-pair whose ends are in different clusters. Returns the merged cluster
    of each cluster id (renumbered 0..)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nc = int(labels.max()) + 1
    keys = []
    for q, m, s in _cell_blocks(x, probes, nlist, max_chunk_bytes=max_chunk_bytes,
                                row_bytes=6, only=active, progress=progress,
                                desc="dbscan: linking"):
        # the ε-pairs between two clusters only, found on the block's own two bool masks
        # (its 6 bytes per similarity): in a dense region nearly every pair is within eps and
        # in one cluster, and listing them all first (row, column and both labels: 32 bytes a
        # pair) took ≈ 2 GB above a 256 MiB budget at 667k responses
        hit = s >= thr
        del s
        lq, lm = labels[q], labels[m]
        hit &= lq[:, None] != lm[None, :]
        r, c = np.nonzero(hit)
        del hit
        if len(r):
            la, lb = lq[r], lm[c]
            keys.append(np.unique(np.minimum(la, lb).astype(np.int64) * nc
                                  + np.maximum(la, lb)))
    if not keys:
        return np.arange(nc)
    key = np.unique(np.concatenate(keys))
    g = coo_matrix((np.ones(len(key), np.int8), (key // nc, key % nc)), shape=(nc, nc))
    return connected_components(g, directed=False)[1]


def _torch_link(x: np.ndarray, labels: np.ndarray, active: np.ndarray, thr: float, *,
                device: str, max_chunk_bytes: int = 256 * _MiB) -> np.ndarray:
    """:func:`_ivf_link` for the exact top-k graph of ``device``: the ``active`` core points
    against each other in blocks (upper triangle), every ε-pair joining two clusters."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from vlitq._dependencies import import_optional

    torch = import_optional("torch", purpose="DBSCAN on an accelerator")
    nc = int(labels.max()) + 1
    idx = np.flatnonzero(active)
    dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    xa = torch.empty((len(idx), x.shape[1]), dtype=dtype, device=device)
    for a in range(0, len(idx), 65536):
        xa[a:a + 65536] = torch.from_numpy(_as_unit(x[idx[a:a + 65536]])).to(device, dtype)
    lab = torch.from_numpy(labels[idx]).to(device)
    side = _tile_rows(max_chunk_bytes)
    keys = []
    for a in range(0, len(idx), side):
        for c in range(a, len(idx), side):
            hit = (xa[a:a + side] @ xa[c:c + side].T >= thr)
            hit &= lab[a:a + side, None] != lab[None, c:c + side]
            r, q = hit.nonzero(as_tuple=True)
            if len(r):
                la, lb = lab[a + r], lab[c + q]
                keys.append(torch.unique(torch.minimum(la, lb) * nc
                                         + torch.maximum(la, lb)).cpu().numpy())
    if not keys:
        return np.arange(nc)
    key = np.unique(np.concatenate(keys))
    g = coo_matrix((np.ones(len(key), np.int8), (key // nc, key % nc)), shape=(nc, nc))
    return connected_components(g, directed=False)[1]


def _spherical_kmeans(x: np.ndarray, k: int, *, iters: int, seed: int,
                      max_chunk_bytes: int = 64 * _MiB) -> np.ndarray:
    """k unit centres of unit rows ``x`` (assignments in row blocks within the budget)."""
    from scipy.sparse import csr_matrix

    rng = np.random.default_rng(seed)
    c = x[rng.choice(len(x), k, replace=False)].copy()
    step = _rows_per_block(k, max_chunk_bytes)
    a = np.empty(len(x), np.int64)
    for _ in range(iters):
        for i in range(0, len(x), step):
            a[i:i + step] = np.argmax(x[i:i + step] @ c.T, axis=1)
        s = csr_matrix((np.ones(len(x), np.float32), (a, np.arange(len(x)))),
                       shape=(k, len(x))) @ x
        empty = np.bincount(a, minlength=k) == 0
        s[empty] = x[rng.choice(len(x), int(empty.sum()), replace=False)]
        c = _as_unit(s)
    return c


def _cells_numpy(x: np.ndarray, *, nlist: int | None = None, nprobe: int = 8, seed: int = 0,
                 max_chunk_bytes: int = 64 * _MiB, progress: bool = False):
    """:func:`_cells_faiss` in numpy: spherical k-means cells (on a sample of 64 points per
    cell), each point's ``nprobe`` nearest, nearest first."""
    from vlitq._utils import progress as _progress

    n = x.shape[0]
    if nlist is None:
        # below a few thousand points one cell, i.e. the exact k-NN, is as fast
        nlist = 1 if n < 4096 else int(round(2 * np.sqrt(n)))
    nlist = max(1, min(nlist, n))
    if nlist <= nprobe:  # every cell is probed: the exact k-NN
        nlist = 1
    nprobe = min(nprobe, nlist)
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(n, 64 * nlist, replace=False)) if n > 64 * nlist else None
    xs = _as_unit(x if sample is None else x[sample])
    cent = _spherical_kmeans(xs, nlist, iters=8, seed=seed) if nlist > 1 \
        else _as_unit(xs.sum(0, keepdims=True) + 1e-12)
    del xs
    probes = np.empty((n, nprobe), np.int32)
    # per similarity: itself, its negation and argpartition's int64 index
    step = max(1, min(65536, int(max_chunk_bytes // (16 * nlist))))
    for a in _progress(range(0, n, step), disable=not progress, desc="dbscan: cells"):
        s = _as_unit(x[a:a + step]) @ cent.T
        if nprobe < nlist:
            top = np.argpartition(-s, nprobe - 1, axis=1)[:, :nprobe]
            s = np.take_along_axis(s, top, axis=1)
        else:
            top = np.broadcast_to(np.arange(nlist), s.shape)
        probes[a:a + step] = np.take_along_axis(top, np.argsort(-s, axis=1), axis=1)
    return probes, nlist


def _knn_numpy(x: np.ndarray, k: int, *, max_chunk_bytes: int = 64 * _MiB,
               nlist: int | None = None, nprobe: int = 8, seed: int = 0,
               progress: bool = False):
    """k nearest neighbours with the pure-numpy cells (:func:`_cells_numpy`) and the same
    :func:`_ivf_scan` as the faiss path (lists of row numbers, no copy of the vectors)."""
    probes, nlist = _cells_numpy(x, nlist=nlist, nprobe=nprobe, seed=seed,
                                 max_chunk_bytes=max_chunk_bytes, progress=progress)
    return _ivf_scan(x, k, probes, nlist, max_chunk_bytes=max_chunk_bytes, progress=progress)


def _knn_torch(x: np.ndarray, k: int, *, device: str, max_chunk_bytes: int = 256 * _MiB,
               progress: bool = False):
    """Exact k nearest neighbours: blocked matrix products + top-k with torch (fp16 on CUDA)."""
    from vlitq._dependencies import import_optional
    from vlitq._utils import progress as _progress

    torch = import_optional("torch", purpose="DBSCAN on an accelerator")
    n = x.shape[0]
    k_eff = min(k, n)
    dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
    xd = torch.empty((n, x.shape[1]), dtype=dtype, device=device)
    for a, xa in _unit_chunks(x):
        xd[a:a + len(xa)] = torch.from_numpy(xa).to(device=device, dtype=dtype)
    nbr = np.empty((n, k_eff), np.int64)
    sim = np.empty((n, k_eff), np.float32)
    step = max(1, int(max_chunk_bytes // (6 * n)))
    for a in _progress(range(0, n, step), disable=not progress, desc="dbscan: k-NN"):
        s, i = torch.topk(xd[a:a + step] @ xd.T, k_eff, dim=1)
        sim[a:a + step] = s.float().cpu().numpy()
        nbr[a:a + step] = i.cpu().numpy()
    return nbr, sim


_warned_numpy = False


def _pick_index(index: str, device: str | None) -> str:
    global _warned_numpy
    if index not in ("auto", "faiss", "numpy", "torch"):
        raise ValueError(f"index must be 'auto', 'faiss', 'numpy' or 'torch', got {index!r}")
    if index != "auto":
        return index
    if device is not None:
        return "torch"
    import importlib.util

    if importlib.util.find_spec("faiss") is not None:
        return "faiss"
    if not _warned_numpy:
        logger.warning("faiss is not installed: DBSCAN trains the cells of its "
                       "nearest-neighbour index with numpy (slower than faiss's k-means); "
                       "pip install \"vlitq[ann]\" for faiss-cpu")
        _warned_numpy = True
    return "numpy"


def _find(parent: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Roots of the points ``x`` in the forest ``parent`` (``parent[r] == r`` at a root);
    the points found are hung straight under their root (path compression)."""
    r = parent[x]
    while True:
        up = parent[r]
        if np.array_equal(up, r):
            break
        r = up
    parent[x] = r
    return r


def _union(parent: np.ndarray, u: np.ndarray, v: np.ndarray) -> None:
    """Merge the sets of the pairs ``(u[e], v[e])`` in the forest ``parent``; a set's root
    stays its smallest member (so the roots order the clusters as a scan from point 0)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    ru, rv = _find(parent, u), _find(parent, v)
    cross = ru != rv
    if not cross.any():
        return
    ru, rv = ru[cross], rv[cross]
    e = len(ru)
    ids, inv = np.unique(np.concatenate([ru, rv]), return_inverse=True)
    g = coo_matrix((np.ones(e, np.float32), (inv[:e], inv[e:])), shape=(len(ids),) * 2)
    _, comp = connected_components(g, directed=False)
    # ids ascend: the first id of each component is its smallest root
    _, first = np.unique(comp, return_index=True)
    parent[ids] = ids[first][comp]


def dbscan_from_knn(nbr: np.ndarray, sim: np.ndarray, eps: float, min_samples: int, *,
                    max_chunk_bytes: int = 64 * _MiB) -> DBSCANResult:
    """DBSCAN on a k-nearest-neighbour graph: ``nbr[i]`` are neighbours of point ``i``
    (``-1`` = none), ``sim[i]`` their cosine similarities.

    The ε-graph is the graph's edges with similarity ≥ 1 − eps, made undirected (an edge found
    from either end counts for both). Core points have at least ``min_samples`` points, the
    point itself included, in their ε-neighbourhood; clusters are the connected components of
    the core-core edges; a non-core point joins the cluster of its most similar core
    neighbour (else it is noise; ties go to the core point with the smaller index). With
    ``k ≥`` the largest ε-neighbourhood this is exact DBSCAN; with fewer neighbours a point's
    count stops at ``k + 1`` (enough to decide core when ``k ≥ min_samples``) and links are
    only those among k nearest neighbours.

    Memory: besides the two (n, k) inputs, one byte per list entry and O(n) arrays; the edges
    are never gathered. The lists are read in row blocks of at most ``max_chunk_bytes``:
    pass 1 marks each edge within eps that is the first of its pair in its row, and whether
    the reverse edge is listed too (by comparing row ``j`` of ``nbr`` with ``i``), which gives
    the ε-degrees with each pair counted once; pass 2 merges the clusters of the core-core
    edges (union-find, roots = smallest member) and keeps each border point's best core
    neighbour. A pair listed from both ends takes the similarity of its first occurrence in
    row-major order (the row of its smaller point), whichever end is read: the two values
    may differ in the last bit (separate matrix products).

    >>> nbr = np.array([[1, 2], [0, 2], [1, 0], [2, 1]])
    >>> sim = np.array([[.99, .98], [.99, .97], [.97, .98], [.5, .4]], np.float32)
    >>> dbscan_from_knn(nbr, sim, eps=0.05, min_samples=3).labels.tolist()
    [0, 0, 0, -1]
    """
    n, k = nbr.shape
    thr = np.float32(1.0 - eps)
    # int32 indices: this runs at millions of points, next to the embeddings
    idx = np.int32 if n < 2**31 else np.int64
    width = nbr.dtype.itemsize

    # flags: 1 = an ε-edge, the first listing of its neighbour in the row (duplicates count
    # once); 2 = the reverse edge is an ε-edge too (the pair is then counted from one end)
    flags = np.zeros((n, k), np.uint8)
    # rows listing a neighbour twice (none in the lists of this module's searches)
    rowdup = np.zeros(n, bool)
    # pass 1a: the ε-edges, each neighbour once per row; per row: the sorted row, the mask
    step = max(1, int(max_chunk_bytes // max(1, k * (2 * width + 4))))
    for a in range(0, n, step):
        b = min(n, a + step)
        nb = nbr[a:b]
        ok = (nb >= 0) & (sim[a:b] >= thr) & (nb != np.arange(a, b, dtype=idx)[:, None])
        if k > 1:
            srt = np.sort(nb, axis=1)
            d = ((srt[:, 1:] == srt[:, :-1]) & (srt[:, 1:] >= 0)).any(axis=1)
            del srt
            rowdup[a:b] = d
            if d.any():
                w = np.flatnonzero(d)
                okw = ok[w]
                key = np.where(okw, nb[w], -1)
                o = np.argsort(key, axis=1, kind="stable")
                ks = np.take_along_axis(key, o, axis=1)
                dup = np.zeros_like(okw)
                np.put_along_axis(dup, o[:, 1:], ks[:, 1:] == ks[:, :-1], axis=1)
                ok[w] = okw & ~dup
        flags[a:b] = ok.view(np.uint8)
    # pass 1b: is i listed by j? Row j of nbr against i (its first match, and all of them
    # where row j lists a neighbour twice); per row: k gathered rows of k entries and their
    # comparison, ~64 bytes per edge
    deg = np.ones(n, idx)
    gain, held = [], 0
    step = max(1, int(max_chunk_bytes // max(1, k * (k * (width + 1) + 64))))
    for a in range(0, n, step):
        b = min(n, a + step)
        ok = flags[a:b] != 0
        cnt = np.count_nonzero(ok, axis=1)
        i = np.repeat(np.arange(a, b, dtype=idx), cnt)
        j = nbr[a:b][ok].astype(idx)
        if not len(j):
            continue
        hit = np.take(nbr, j, axis=0) == i[:, None]
        col = hit.argmax(axis=1)
        e = np.arange(len(j))
        mutual = hit[e, col] & (sim[j, col] >= thr)
        del e, col
        again = np.flatnonzero(rowdup[j] & ~mutual)
        if len(again):
            mutual[again] = (hit[again] & (np.take(sim, j[again], axis=0) >= thr)).any(axis=1)
        del hit
        m = np.zeros(ok.shape, bool)
        m[ok] = mutual
        flags[a:b] |= m.view(np.uint8) << 1
        deg[a:b] += cnt.astype(idx)
        # j gains i where j does not list i itself (counted once ~n/4 of them are held)
        gain.append(j[~mutual])
        held += len(gain[-1])
        if held >= n // 4 or b == n:
            deg += np.bincount(np.concatenate(gain), minlength=n).astype(idx)
            gain, held = [], 0
        del ok, cnt, i, j, mutual, m
    if gain:
        deg += np.bincount(np.concatenate(gain), minlength=n).astype(idx)
    del rowdup, gain
    core = deg >= min_samples
    del deg
    labels = np.full(n, -1, dtype=np.int64)
    if not core.any():
        return DBSCANResult(labels, core, 0, 1.0, eps, min_samples, "knn")

    # pass 2: each pair once, read from the row of its first listing (the smaller point's row
    # when it lists the other, else the other's); core-core pairs merge clusters, core-border
    # pairs offer the border point a cluster
    parent = np.arange(n, dtype=idx)
    best_s = np.full(n, -np.inf, sim.dtype)
    best_q = np.full(n, n, idx)
    step = max(1, int(max_chunk_bytes // max(1, k * 160)))
    for a in range(0, n, step):
        b = min(n, a + step)
        f = flags[a:b]
        nb = nbr[a:b]
        rows = np.arange(a, b, dtype=idx)[:, None]
        first = ((f & 1) != 0) & ((nb > rows) | ((f & 2) == 0))
        i = np.repeat(np.arange(a, b, dtype=idx), np.count_nonzero(first, axis=1))
        j = nb[first].astype(idx)
        s = sim[a:b][first]
        del first
        ci, cj = core[i], core[j]
        both = ci & cj
        if both.any():
            _union(parent, i[both], j[both])
        one = ci != cj
        if one.any():
            p = np.where(ci[one], j[one], i[one])   # the border end
            q = np.where(ci[one], i[one], j[one])   # the core end
            sp = s[one]
            # per border point the most similar core point, ties the smaller index
            o = np.lexsort((q, -sp, p))
            p, q, sp = p[o], q[o], sp[o]
            head = np.r_[True, p[1:] != p[:-1]]
            p, q, sp = p[head], q[head], sp[head]
            bs, bq = best_s[p], best_q[p]
            win = (sp > bs) | ((sp == bs) & (q < bq))
            best_s[p[win]] = sp[win]
            best_q[p[win]] = q[win]
        del i, j, s, ci, cj, both, one
    del flags, best_s
    parent = _find(parent, np.arange(n, dtype=idx))  # every point's root
    _, lab = np.unique(parent[core], return_inverse=True)
    labels[core] = lab
    border = best_q < n
    labels[border] = labels[best_q[border]]
    noise = float(np.mean(labels < 0))
    return DBSCANResult(labels, core, int(lab.max()) + 1, noise, eps, min_samples, "knn")


def _dbscan_knn(x: np.ndarray, eps: float, min_samples: int, *, n_neighbors: int, index: str,
                device: str | None, max_chunk_bytes: int, progress: bool,
                link: bool = True) -> DBSCANResult:
    which = _pick_index(index, device)
    # the point itself comes back as its own first neighbour: ask for one more
    k = max(int(n_neighbors), int(min_samples)) + 1
    probes = None
    if which == "torch":
        nbr, sim = _knn_torch(x, k, device=device or "cpu", max_chunk_bytes=max_chunk_bytes,
                              progress=progress)
    else:
        cells = _cells_faiss if which == "faiss" else _cells_numpy
        kw = {} if which == "faiss" else {"max_chunk_bytes": max_chunk_bytes}
        probes, nlist = cells(x, progress=progress, **kw)
        nbr, sim = _ivf_scan(x, k, probes, nlist, max_chunk_bytes=max_chunk_bytes,
                             progress=progress)
    thr = np.float32(1.0 - eps)
    # points whose k nearest all lie within eps may have more ε-neighbours than listed
    full = sim.min(axis=1) >= thr
    res = dbscan_from_knn(nbr, sim, eps, min_samples, max_chunk_bytes=max_chunk_bytes)
    del nbr, sim
    res.method = f"knn/{which}"
    active = res.core & full
    if link and res.n_clusters > 1 and active.any():
        if probes is None:
            merged = _torch_link(x, res.labels, active, thr, device=device or "cpu",
                                 max_chunk_bytes=max_chunk_bytes)
        else:
            merged = _ivf_link(x, probes, nlist, res.labels, active, thr,
                               max_chunk_bytes=max_chunk_bytes, progress=progress)
        _, merged = np.unique(merged, return_inverse=True)
        lab = res.labels >= 0
        res.labels[lab] = merged[res.labels[lab]]
        res.n_clusters = int(merged.max()) + 1
    return res


def eps_neighbourhood_graph(embeddings, eps: float, *, max_chunk_bytes: int = 256 * _MiB):
    """Sparse CSR matrix of cosine distances between points within ``eps`` (self included,
    stored as an explicit tiny distance so that it counts), built in bounded row blocks.

    Feed it to ``sklearn.cluster.DBSCAN(metric="precomputed")``. It holds 12 bytes per pair,
    so it only suits data whose neighbourhoods stay small; :func:`dbscan_cosine` does not need
    it.

    >>> g = eps_neighbourhood_graph(np.eye(3), 0.1)
    >>> g.shape, g.nnz
    ((3, 3), 3)
    """
    from scipy.sparse import csr_matrix

    x = _as_unit(embeddings)
    n = x.shape[0]
    thr = np.float32(1.0 - eps)
    indptr = [np.zeros(1, np.int64)]
    indices, data = [], []
    total = 0
    for a in range(0, n, _rows_per_block(n, max_chunk_bytes)):
        b = min(n, a + _rows_per_block(n, max_chunk_bytes))
        s = x[a:b] @ x.T
        r, c = np.nonzero(s >= thr)
        d = np.maximum(1.0 - s[r, c], 1e-12)  # explicit zeros would be dropped by CSR
        counts = np.bincount(r, minlength=b - a)
        indptr.append(total + np.cumsum(counts))
        total += len(c)
        indices.append(c.astype(np.int32))
        data.append(d.astype(np.float32))
    return csr_matrix((np.concatenate(data) if data else np.zeros(0, np.float32),
                       np.concatenate(indices) if indices else np.zeros(0, np.int32),
                       np.concatenate(indptr)), shape=(n, n))


def k_distances(embeddings, k: int, *, max_points: int = 5000, seed: int = 0,
                max_chunk_bytes: int = 256 * _MiB, query=None) -> np.ndarray:
    """Sorted cosine distances of (a seeded sample of ``max_points``) points to their k-th
    nearest other point — the k-distance curve of Ester et al. (1996).

    ``query``: the row numbers of the points whose k-distance is taken (default: the seeded
    sample). The rows are not copied: a float32 C-contiguous input is used as it is and each
    block of similarities is divided by the row norms (a normalised copy of 800k × 384 would be
    1.2 GB at the peak of ``response_diversity``)."""
    x = np.asarray(embeddings)
    if x.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array, got shape {x.shape}")
    if x.dtype != np.float32 or not x.flags.c_contiguous:
        x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[0]
    if n <= k:
        return np.zeros(0, np.float32)
    if query is not None:
        q = np.sort(np.asarray(query, dtype=np.int64))
    elif n > max_points:
        q = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    else:
        q = np.arange(n)
    inv = np.empty(n, np.float32)
    for a in range(0, n, 65536):  # row norms without an (n, d) temporary
        xa = x[a:a + 65536]
        inv[a:a + 65536] = 1.0 / np.maximum(np.sqrt(np.einsum("ij,ij->i", xa, xa)), 1e-12)
    out = np.empty(len(q), np.float32)
    step = _rows_per_block(n, max_chunk_bytes // 3)  # -s and the partitioned copy too
    for a in range(0, len(q), step):
        qa = q[a:a + step]
        s = (x[qa] * inv[qa, None]) @ x.T
        s *= inv
        # the (k+1)-th largest similarity: the point itself comes first
        part = -np.partition(-s, k, axis=1)[:, k]
        out[a:a + step] = 1.0 - part
    return np.sort(np.clip(out, 0.0, 2.0))


def knee(y: np.ndarray) -> int:
    """Index of the knee of an increasing curve: the point farthest from the chord joining
    its ends (Kneedle's difference curve on normalised axes).

    >>> knee(np.array([0.1, 0.11, 0.12, 0.13, 0.14, 0.5, 0.9, 1.0]))
    4
    """
    y = np.asarray(y, dtype=np.float64)
    if len(y) < 3 or y[-1] == y[0]:
        return len(y) // 2
    xs = np.linspace(0.0, 1.0, len(y))
    yn = (y - y[0]) / (y[-1] - y[0])
    return int(np.argmax(xs - yn))


def suggest_eps(embeddings, k: int = 2, *, max_points: int = 5000, seed: int = 0,
                query=None) -> float:
    """Suggested DBSCAN ``eps``: the knee of the k-distance curve.

    Use ``k = min_samples - 1`` (distance to the k-th nearest *other* point, so that a point at
    the knee has ``min_samples`` points, itself included, within ``eps``). Points left of the
    knee sit in dense regions; the knee is where distances start to climb into sparse ones.

    >>> rng = np.random.default_rng(0)
    >>> centres = rng.normal(size=(5, 16))
    >>> x = np.repeat(centres, 40, axis=0) + 0.05 * rng.normal(size=(200, 16))
    >>> x = np.vstack([x, rng.normal(size=(20, 16))])   # 20 scattered points
    >>> 0.0 < suggest_eps(x, k=2) < 0.2
    True
    """
    d = k_distances(embeddings, k, max_points=max_points, seed=seed, query=query)
    if len(d) == 0:
        return 0.0
    return float(d[knee(d)])


def vendi_score(embeddings, *, block_rows: int = 65536) -> float:
    """Vendi score (Friedman & Dieng 2023) with the cosine kernel: ``exp(H)`` where ``H`` is
    the Shannon entropy of the eigenvalues of ``K / n``, ``K_ij = cos(x_i, x_j)``.

    ``K / n = X Xᵀ / n`` has the same nonzero eigenvalues as the d×d matrix ``Xᵀ X / n``, which
    is what is computed (accumulated in row blocks): no n×n matrix. Ranges from 1 (all
    identical) to min(n, d) (orthogonal).

    >>> round(vendi_score(np.eye(4)), 6), round(vendi_score(np.ones((5, 3))), 6)
    (4.0, 1.0)
    """
    x = _as_unit(embeddings)
    n, d = x.shape
    if n == 0:
        return 0.0
    cov = np.zeros((d, d), dtype=np.float64)
    for a in range(0, n, block_rows):
        blk = x[a:a + block_rows].astype(np.float64)
        cov += blk.T @ blk
    lam = np.clip(np.linalg.eigvalsh(cov / n), 0.0, None)
    lam = lam / lam.sum() if lam.sum() > 0 else lam
    lam = lam[lam > 1e-15]
    return float(np.exp(-(lam * np.log(lam)).sum()))
