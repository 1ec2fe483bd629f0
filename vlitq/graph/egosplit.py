"""Ego-Splitting overlapping clustering (Epasto, Lattanzi, Paes Leme, KDD 2017).

1. **Local step** — for every node ``u``, cluster the ego-net of ``u`` *minus u* (the subgraph
   induced by ``u``'s neighbours).
2. **Personas** — give ``u`` one persona per local cluster.
3. **Rewiring** — each original edge ``(u, v)`` becomes an edge between the persona of ``u``
   whose local cluster contains ``v`` and the persona of ``v`` whose local cluster contains ``u``
   (same weight).
4. **Global step** — cluster the persona graph (a partition of the personas).
5. **Map back** — a cluster of personas becomes the set of their original nodes, so a node with
   personas in several clusters belongs to several (overlapping) clusters.

Both clusterers are pluggable: ``"components"`` (connected components; the paper's analysed
choice and the only one karateclub's ``EgoNetSplitter`` offers locally, so a *connected* ego-net
never splits there — karateclub issue #164), ``"louvain"`` and ``"label_propagation"`` (networkx
``louvain_communities`` / ``asyn_lpa_communities``, seeded, weighted), or any callable
``f(graph: networkx.Graph, seed: int) -> iterable of node sets``.

Speed: the graph is held as one ``dict`` of neighbour weights per node; ego-nets are never
copied as networkx subgraphs. Components on an ego-net are a breadth-first search over set
intersections ``adj[x].keys() & unvisited`` (C speed); only components of three or more nodes
are handed to Louvain / label propagation (those never merge across components, so this is the
same result, cheaper). The global components step is ``scipy.sparse.csgraph``.
"""
from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Clusterer = str | Callable[[Any, int], Iterable[Iterable[Hashable]]]
CLUSTERERS = ("components", "louvain", "label_propagation")


@dataclass
class EgoSplitResult:
    """Output of :func:`ego_splitting`.

    Attributes
    ----------
    clusters : list of frozenset
        Overlapping clusters of the original nodes, largest first.
    memberships : dict
        ``{node: [cluster indices]}``; a node split into personas may be in several.
    n_personas : int
        Number of persona nodes (>= number of nodes with at least one edge).
    persona_owner : list
        Original node of each persona.
    persona_cluster : numpy.ndarray
        Cluster index of each persona.
    """

    clusters: list[frozenset]
    memberships: dict[Hashable, list[int]] = field(default_factory=dict)
    n_personas: int = 0
    persona_owner: list = field(default_factory=list)
    persona_cluster: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    def n_clusters(self, min_size: int = 1) -> int:
        """Number of clusters with at least ``min_size`` nodes."""
        return sum(1 for c in self.clusters if len(c) >= min_size)


# ----------------------------------------------------------------------------- graph input
def _as_adjacency(graph, weight: str | None) -> tuple[list, list[dict[int, float]]]:
    """Nodes and integer adjacency ``[{nbr: weight}]`` from a networkx graph, a dict of
    neighbours (dict of dicts, or dict of iterables) or an edge list ``[(u, v[, w])]``."""
    nodes: list = []
    index: dict = {}

    def idx(n):
        i = index.get(n)
        if i is None:
            i = index[n] = len(nodes)
            nodes.append(n)
            adj.append({})
        return i

    adj: list[dict[int, float]] = []

    def add(u, v, w):
        if u == v:
            return  # self-loops carry no ego-net information
        a, b = idx(u), idx(v)
        adj[a][b] = w
        adj[b][a] = w

    if hasattr(graph, "adj") and hasattr(graph, "nodes"):  # networkx (undirected view)
        for n in graph.nodes:
            idx(n)
        for u, nbrs in graph.adj.items():
            for v, attrs in nbrs.items():
                w = attrs.get(weight, 1.0) if (weight and isinstance(attrs, dict)) else 1.0
                add(u, v, float(w))
    elif isinstance(graph, dict):
        for u, nbrs in graph.items():
            idx(u)
            if isinstance(nbrs, dict):
                for v, w in nbrs.items():
                    if isinstance(w, dict):
                        w = w.get(weight, 1.0) if weight else 1.0
                    add(u, v, float(w))
            else:
                for v in nbrs:
                    add(u, v, 1.0)
    else:
        for e in graph:
            add(e[0], e[1], float(e[2]) if len(e) > 2 else 1.0)
    return nodes, adj


# ----------------------------------------------------------------------------- clusterers
def louvain(nodes: Sequence[int], edges: Iterable[tuple[int, int, float]], *,
            resolution: float = 1.0, seed: int = 0, max_sweeps: int = 100) -> list[list[int]]:
    """Louvain communities (Blondel et al. 2008) of a weighted undirected graph.

    A lean implementation on dicts (no graph objects, no modularity recomputation): local
    moving in a seeded random order until no node moves (a move needs a strictly positive
    gain ``w_ic - γ Σ_tot(c) k_i / 2m`` over staying), then aggregation of communities into
    nodes (internal weight as self-loops), repeated until a level moves nothing. Several times
    faster than networkx's ``louvain_communities`` on the many small graphs of Ego-Splitting.

    >>> sorted(map(sorted, louvain(range(6), [(0, 1, 1), (1, 2, 1), (0, 2, 1), (3, 4, 1),
    ...                                       (4, 5, 1), (3, 5, 1), (2, 3, 0.1)])))
    [[0, 1, 2], [3, 4, 5]]
    """
    import random

    nodes = list(nodes)
    index = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    adj: list[dict[int, float]] = [{} for _ in range(n)]
    loops = [0.0] * n
    m = 0.0
    for a, b, w in edges:
        i, j = index[a], index[b]
        m += w
        if i == j:
            loops[i] += w
        else:
            adj[i][j] = adj[i].get(j, 0.0) + w
            adj[j][i] = adj[j].get(i, 0.0) + w
    if m <= 0:
        return [[v] for v in nodes]
    rng = random.Random(seed)
    member = list(range(n))  # original node -> current super-node
    two_m = 2.0 * m
    while True:
        k = [sum(adj[i].values()) + 2.0 * loops[i] for i in range(n)]
        comm = list(range(n))
        tot = k[:]
        order = list(range(n))
        rng.shuffle(order)
        improved = False
        for _ in range(max_sweeps):
            moved = False
            for i in order:
                ci, ki = comm[i], k[i]
                wc: dict[int, float] = {}
                for j, w in adj[i].items():
                    c = comm[j]
                    wc[c] = wc.get(c, 0.0) + w
                tot[ci] -= ki
                f = resolution * ki / two_m
                best, best_gain = ci, wc.get(ci, 0.0) - f * tot[ci]
                for c, w in wc.items():
                    gain = w - f * tot[c]
                    if gain > best_gain + 1e-12:
                        best, best_gain = c, gain
                tot[best] += ki
                if best != ci:
                    comm[i] = best
                    moved = improved = True
            if not moved:
                break
        if not improved:
            break
        relabel: dict[int, int] = {}
        for c in comm:
            relabel.setdefault(c, len(relabel))
        comm = [relabel[c] for c in comm]
        nn = len(relabel)
        nadj: list[dict[int, float]] = [{} for _ in range(nn)]
        nloops = [0.0] * nn
        for i in range(n):
            ci = comm[i]
            nloops[ci] += loops[i]
            for j, w in adj[i].items():
                cj = comm[j]
                if ci == cj:
                    nloops[ci] += w / 2.0  # each internal edge is seen from both ends
                else:
                    nadj[ci][cj] = nadj[ci].get(cj, 0.0) + w
        member = [comm[x] for x in member]
        adj, loops, n = nadj, nloops, nn
        if n == 1:
            break
    groups: dict[int, list[int]] = {}
    for v, c in zip(nodes, member):
        groups.setdefault(c, []).append(v)
    return list(groups.values())


def label_propagation(nodes: Sequence[int], edges: Iterable[tuple[int, int, float]], *,
                      seed: int = 0, max_sweeps: int = 100) -> list[list[int]]:
    """Asynchronous weighted label propagation (Raghavan et al. 2007), seeded.

    Each sweep visits the nodes in a seeded random order; a node takes the label of largest
    total edge weight among its neighbours (ties broken at random, keeping its own label when
    it is among the best); stops when every node holds a best label. The same rule as
    networkx's ``asyn_lpa_communities``, on plain dicts.

    >>> sorted(map(sorted, label_propagation(range(6), [(0, 1, 1), (1, 2, 1), (0, 2, 1),
    ...        (3, 4, 1), (4, 5, 1), (3, 5, 1), (2, 3, 0.1)])))
    [[0, 1, 2], [3, 4, 5]]
    """
    import random

    nodes = list(nodes)
    index = {v: i for i, v in enumerate(nodes)}
    n = len(nodes)
    adj: list[dict[int, float]] = [{} for _ in range(n)]
    for a, b, w in edges:
        i, j = index[a], index[b]
        if i != j:
            adj[i][j] = adj[i].get(j, 0.0) + w
            adj[j][i] = adj[j].get(i, 0.0) + w
    rng = random.Random(seed)
    label = list(range(n))
    order = list(range(n))
    for _ in range(max_sweeps):
        rng.shuffle(order)
        stable = True
        for i in order:
            if not adj[i]:
                continue
            tally: dict[int, float] = {}
            for j, w in adj[i].items():
                tally[label[j]] = tally.get(label[j], 0.0) + w
            top = max(tally.values())
            best = [c for c, w in tally.items() if w >= top - 1e-12]
            if label[i] in best:
                continue
            label[i] = best[0] if len(best) == 1 else rng.choice(best)
            stable = False
        if stable:
            break
    groups: dict[int, list[int]] = {}
    for v, c in zip(nodes, label):
        groups.setdefault(c, []).append(v)
    return list(groups.values())


def _nx_cluster(method: Clusterer, g, seed: int, resolution: float) -> list[list]:
    if callable(method):
        return [list(c) for c in method(g, seed)]
    if method == "louvain":
        return louvain(list(g.nodes), ((a, b, d.get("weight", 1.0))
                                      for a, b, d in g.edges(data=True)),
                       resolution=resolution, seed=seed)
    if method == "label_propagation":
        return label_propagation(list(g.nodes), ((a, b, d.get("weight", 1.0))
                                                for a, b, d in g.edges(data=True)), seed=seed)
    raise ValueError(f"unknown clusterer {method!r}; use one of {CLUSTERERS} or a callable")


def _check(method: Clusterer) -> None:
    if not callable(method) and method not in CLUSTERERS:
        raise ValueError(f"unknown clusterer {method!r}; use one of {CLUSTERERS} or a callable")


def _local_clusters(u: int, adj: list[dict[int, float]], method: Clusterer, seed: int,
                    resolution: float) -> list[list[int]]:
    """Clusters of the ego-net of ``u`` minus ``u`` (lists of neighbour ids)."""
    nbrs = adj[u]
    if len(nbrs) <= 1:
        return [list(nbrs)]
    unvisited = set(nbrs)
    comps: list[list[int]] = []
    for start in nbrs:  # dict order: deterministic
        if start not in unvisited:
            continue
        unvisited.discard(start)
        comp = [start]
        k = 0
        while k < len(comp):
            found = adj[comp[k]].keys() & unvisited
            if found:
                unvisited -= found
                comp.extend(found)
            k += 1
        comps.append(comp)
    if method == "components":
        return comps
    return _cluster_components(comps, lambda c: _induced_edges(c, adj), method, seed,
                               resolution)


def _induced_edges(comp: list[int], adj: list[dict[int, float]]) -> list[tuple[int, int, float]]:
    members = set(comp)
    return [(a, b, adj[a][b]) for a in comp for b in adj[a].keys() & members if a < b]


def _cluster_components(comps: list[list[int]], edges_of, method: Clusterer, seed: int,
                        resolution: float, total_weight: float | None = None) -> list[list[int]]:
    """Cluster a graph given as its connected components.

    Louvain and label propagation never put nodes of different components in one community,
    so each component is clustered alone: exactly the same decisions for label propagation, and
    for Louvain when the resolution is scaled by ``m_c / m`` (a move's modularity gain is
    ``k_in - γ Σ_tot k_i / 2m``; within a component of weight ``m_c`` the same gain needs
    ``γ_c = γ m_c / m``). Components of one or two nodes are one community each. This avoids
    Louvain's per-node overhead on the many tiny components of persona graphs.
    """
    nx = __import__("networkx")
    big = [(c, edges_of(c)) for c in comps if len(c) > 2]
    if not big:
        return comps
    m_c = [sum(w for _, _, w in e) for _, e in big]
    if total_weight is None:  # add the weight of the small (two-node) components
        total_weight = sum(m_c) + sum(sum(w for _, _, w in edges_of(c))
                                      for c in comps if len(c) == 2)
    m = total_weight
    out = [c for c in comps if len(c) <= 2]
    for (comp, edges), mc in zip(big, m_c):
        if mc <= 0:
            out.extend([v] for v in comp)
            continue
        if method == "louvain":
            out.extend(louvain(sorted(comp), edges, resolution=resolution * mc / m, seed=seed))
            continue
        if method == "label_propagation":
            out.extend(label_propagation(sorted(comp), edges, seed=seed))
            continue
        g = nx.Graph()
        g.add_nodes_from(sorted(comp))
        g.add_weighted_edges_from(edges)
        out.extend(_nx_cluster(method, g, seed, resolution))
    return out


# ----------------------------------------------------------------------------- main
def ego_splitting(graph, *, local: Clusterer = "components", global_: Clusterer = "louvain",
                  weight: str | None = "weight", seed: int = 0, resolution: float = 1.0,
                  local_resolution: float | None = None) -> EgoSplitResult:
    """Overlapping clusters of ``graph`` by Ego-Splitting.

    Parameters
    ----------
    graph : networkx.Graph, dict or iterable of edges
        Undirected graph: a networkx graph, ``{node: {nbr: weight}}`` / ``{node: [nbrs]}``, or
        edges ``(u, v)`` / ``(u, v, weight)``. Self-loops are ignored; isolated nodes become
        singleton clusters.
    local, global_ : {"components", "louvain", "label_propagation"} or callable
        Clusterer of the ego-nets and of the persona graph. A callable receives a weighted
        ``networkx.Graph`` (attribute ``weight``) and ``seed``, and returns node sets.
    weight : str or None
        Edge attribute holding weights (networkx / dict-of-dict input); None: unweighted.
    seed : int
        Seed of Louvain / label propagation (the same seed is used for every ego-net).
    resolution : float
        Louvain resolution of the global step (higher → more, smaller clusters).
    local_resolution : float, optional
        Louvain resolution of the local step (default: ``resolution``).

    Returns
    -------
    EgoSplitResult

    Examples
    --------
    Two triangles sharing node ``"c"``: ``c``'s ego-net falls apart into the two triangles'
    other nodes, so ``c`` gets two personas and belongs to both clusters.

    >>> edges = [("a1", "a2"), ("a1", "c"), ("a2", "c"), ("b1", "b2"), ("b1", "c"), ("b2", "c")]
    >>> res = ego_splitting(edges, local="components", global_="components")
    >>> sorted(sorted(c) for c in res.clusters)
    [['a1', 'a2', 'c'], ['b1', 'b2', 'c']]
    >>> res.memberships["c"]
    [0, 1]
    """
    _check(local)
    _check(global_)
    nodes, adj = _as_adjacency(graph, weight)
    n = len(nodes)
    lres = resolution if local_resolution is None else local_resolution

    # local step + personas: persona_of[u][v] = persona of u whose local cluster holds v
    persona_owner: list[int] = []
    persona_of: list[dict[int, int]] = [None] * n  # type: ignore[list-item]
    for u in range(n):
        if not adj[u]:
            persona_of[u] = {}
            persona_owner.append(u)  # isolated node: one persona, no edges
            continue
        mapping: dict[int, int] = {}
        for cluster in _local_clusters(u, adj, local, seed, lres):
            p = len(persona_owner)
            persona_owner.append(u)
            for v in cluster:
                mapping[v] = p
        persona_of[u] = mapping

    # rewiring: one persona edge per original edge
    pa, pb, pw = [], [], []
    for u in range(n):
        pu = persona_of[u]
        for v, w in adj[u].items():
            if u < v:
                pa.append(pu[v])
                pb.append(persona_of[v][u])
                pw.append(w)
    n_pers = len(persona_owner)

    # global step
    if global_ == "components":
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        m = coo_matrix((np.ones(len(pa)), (np.asarray(pa, dtype=np.int64),
                                          np.asarray(pb, dtype=np.int64))), shape=(n_pers, n_pers))
        _, labels = connected_components(m, directed=False)
        # renumber by first persona so that cluster order is deterministic
        _, first, inv = np.unique(labels, return_index=True, return_inverse=True)
        order = np.argsort(np.argsort(first))
        persona_cluster = order[inv].astype(np.int64)
    elif callable(global_):
        nx = __import__("networkx")
        g = nx.Graph()
        g.add_nodes_from(range(n_pers))
        g.add_weighted_edges_from(zip(pa, pb, pw))
        persona_cluster = _number(_nx_cluster(global_, g, seed, resolution), n_pers)
    else:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        a_ = np.asarray(pa, dtype=np.int64)
        b_ = np.asarray(pb, dtype=np.int64)
        w_ = np.asarray(pw, dtype=np.float64)
        m = coo_matrix((np.ones(len(a_)), (a_, b_)), shape=(n_pers, n_pers))
        _, comp = connected_components(m, directed=False)
        order = np.argsort(comp, kind="stable")
        bounds = np.flatnonzero(np.diff(comp[order])) + 1
        comps = [c.tolist() for c in np.split(order, bounds)]
        # edges grouped by the component of their first end
        eorder = np.argsort(comp[a_], kind="stable")
        ecomp = comp[a_][eorder]
        ebounds = np.searchsorted(ecomp, np.arange(comp.max() + 2))
        first = {c[0]: int(comp[c[0]]) for c in comps}

        def edges_of(c):
            k = first[c[0]]
            sel = eorder[ebounds[k]:ebounds[k + 1]]
            return list(zip(a_[sel].tolist(), b_[sel].tolist(), w_[sel].tolist()))

        persona_cluster = _number(_cluster_components(comps, edges_of, global_, seed, resolution,
                                                      total_weight=float(w_.sum())), n_pers)

    n_cl = int(persona_cluster.max()) + 1 if n_pers else 0
    members: list[set[int]] = [set() for _ in range(n_cl)]
    for p, c in enumerate(persona_cluster.tolist()):
        members[c].add(persona_owner[p])
    order = sorted(range(n_cl), key=lambda c: (-len(members[c]), c))
    clusters = [frozenset(nodes[i] for i in members[c]) for c in order]
    rank = {c: r for r, c in enumerate(order)}
    memberships: dict[Hashable, list[int]] = {nd: [] for nd in nodes}
    for r, c in enumerate(order):
        for i in members[c]:
            memberships[nodes[i]].append(r)
    for v in memberships.values():
        v.sort()
    return EgoSplitResult(
        clusters=clusters,
        memberships=memberships,
        n_personas=n_pers,
        persona_owner=[nodes[i] for i in persona_owner],
        persona_cluster=np.asarray([rank[c] for c in persona_cluster.tolist()], dtype=np.int64),
    )


def _number(communities, n: int) -> np.ndarray:
    """Cluster index per node, clusters numbered by their smallest node (deterministic)."""
    comms = sorted((sorted(c) for c in communities), key=lambda c: c[0])
    out = np.empty(n, dtype=np.int64)
    for ci, c in enumerate(comms):
        out[np.asarray(c, dtype=np.int64)] = ci
    return out


def persona_counts(result: EgoSplitResult) -> dict[Hashable, int]:
    """Number of personas per original node (how often Ego-Splitting split it)."""
    out: dict[Hashable, int] = {}
    for o in result.persona_owner:
        out[o] = out.get(o, 0) + 1
    return out


__all__: Sequence[str] = (
    "CLUSTERERS",
    "EgoSplitResult",
    "ego_splitting",
    "label_propagation",
    "louvain",
    "persona_counts",
)
