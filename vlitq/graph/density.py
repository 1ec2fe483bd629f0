"""Memory-bounded DBSCAN on cosine distance, an eps suggestion, and the Vendi score.

scikit-learn's ``DBSCAN`` keeps every point's neighbour list, which grows with N² on dense data
(scikit-learn #17650): 200k responses in tight clusters hold billions of pairs. Even a sparse
precomputed ε-graph (CSR) stores 12 bytes per pair and does not help there. DBSCAN does not need
the pairs, only

- which points are *core* (at least ``min_samples`` points, itself included, within ``eps``),
- the connected components of the ε-graph restricted to core points (block sizes of this pass
  come from pass-1 counts so that a block's neighbour pairs also fit the budget),
- for each non-core point, one core point within ``eps`` (else it is noise).

:func:`dbscan_cosine` gets exactly these by streaming the similarity matrix in row blocks of at
most ``max_chunk_bytes``, twice: pass 1 counts neighbours, pass 2 merges the components of the
core-core edges block by block (union by relabelling with ``scipy.sparse.csgraph``) and gives
each border point the cluster of its nearest core point. Memory: embeddings + one block + O(N)
labels, whatever the density. Core points and clusters are the same as scikit-learn's (a border
point within ``eps`` of two clusters may go to the other one: scikit-learn assigns it by scan
order, this by nearest core point); so are the number of clusters and the noise share.

:func:`eps_neighbourhood_graph` builds the sparse ε-graph in the same row blocks for users who
want scikit-learn's ``DBSCAN(metric="precomputed")`` (used in the tests as the reference).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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

    def count(self, q, r, thr: float) -> np.ndarray:
        s = q @ r.T
        if self.torch is None:
            return np.count_nonzero(s >= thr, axis=1)
        return (s >= thr).sum(dim=1).cpu().numpy()

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


def _blocks(row_bytes: np.ndarray, max_chunk_bytes: int):
    """Consecutive row ranges whose summed cost stays within ``max_chunk_bytes`` (at least
    one row each)."""
    cum = np.cumsum(row_bytes, dtype=np.float64)
    a, n = 0, len(row_bytes)
    while a < n:
        base = cum[a - 1] if a else 0.0
        b = int(np.searchsorted(cum, base + max_chunk_bytes, side="right"))
        b = max(b, a + 1)
        yield a, min(b, n)
        a = b


def _rows_per_block(n_cols: int, max_chunk_bytes: int) -> int:
    # a block holds the float32 similarities plus a boolean mask: 5 bytes per entry
    return max(1, int(max_chunk_bytes // max(1, 5 * n_cols)))


def dbscan_cosine(embeddings, eps: float = 0.2, min_samples: int = 3, *,
                  max_chunk_bytes: int = 256 * _MiB, device: str | None = None,
                  progress: bool = False) -> DBSCANResult:
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

    Examples
    --------
    >>> x = np.array([[1, 0], [0.99, 0.14], [0.98, 0.2], [0, 1], [0.1, 0.99], [-1, 0]])
    >>> r = dbscan_cosine(x, eps=0.05, min_samples=2)
    >>> r.labels.tolist(), r.n_clusters, round(r.noise_share, 3)
    ([0, 0, 0, 1, 1, -1], 2, 0.167)
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    from vlitq._utils import progress as _progress

    x = _as_unit(embeddings)
    n = x.shape[0]
    if n == 0:
        return DBSCANResult(np.zeros(0, np.int64), np.zeros(0, bool), 0, 0.0, eps, min_samples)
    thr = np.float32(1.0 - eps)
    be = _Backend(device)
    xd = be.put(x)

    # pass 1: neighbour counts (self included)
    deg = np.zeros(n, dtype=np.int64)
    step = _rows_per_block(n, max_chunk_bytes)
    for a in _progress(range(0, n, step), disable=not progress, desc="dbscan: counting"):
        deg[a:a + step] = be.count(xd[a:a + step], xd, thr)
    core = deg >= min_samples
    core_idx = np.flatnonzero(core)
    nc = len(core_idx)
    labels = np.full(n, -1, dtype=np.int64)
    if nc == 0:
        return DBSCANResult(labels, core, 0, 1.0, eps, min_samples)

    # pass 2a: components of the core-core ε-graph, merged block by block
    xc = be.put(x[core_idx]) if device is not None else x[core_idx]
    lab = np.arange(nc, dtype=np.int64)
    # block sizes from the pass-1 counts, so that the pairs of a block fit the budget too
    row_bytes = 5 * nc + _PAIR_BYTES * deg[core_idx]
    for a, b in _progress(list(_blocks(row_bytes, max_chunk_bytes)), disable=not progress,
                          desc="dbscan: linking"):
        rows, cols = be.pairs(xc[a:b], xc, thr)
        la, lb = lab[rows + a], lab[cols]
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
        best, j = be.nearest(be.put(x[idx]) if device is not None else x[idx], xc)
        ok = best >= thr
        labels[idx[ok]] = lab[j[ok]]
    noise = float(np.mean(labels < 0))
    return DBSCANResult(labels, core, n_clusters, noise, eps, min_samples)


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
                max_chunk_bytes: int = 256 * _MiB) -> np.ndarray:
    """Sorted cosine distances of (a seeded sample of ``max_points``) points to their k-th
    nearest other point — the k-distance curve of Ester et al. (1996)."""
    x = _as_unit(embeddings)
    n = x.shape[0]
    if n <= k:
        return np.zeros(0, np.float32)
    q = np.arange(n)
    if n > max_points:
        q = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
    out = np.empty(len(q), np.float32)
    step = _rows_per_block(n, max_chunk_bytes // 3)  # -s and the partitioned copy too
    for a in range(0, len(q), step):
        s = x[q[a:a + step]] @ x.T
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


def suggest_eps(embeddings, k: int = 2, *, max_points: int = 5000, seed: int = 0) -> float:
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
    d = k_distances(embeddings, k, max_points=max_points, seed=seed)
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
