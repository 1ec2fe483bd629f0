import itertools

import networkx as nx
import pytest

from vlitq.graph.egosplit import CLUSTERERS, ego_splitting, persona_counts


def _clique(g, nodes):
    g.add_edges_from(itertools.combinations(nodes, 2))


def _two_cliques(bridge=False, size=6):
    g = nx.Graph()
    a = [f"a{i}" for i in range(size)]
    b = [f"b{i}" for i in range(size)]
    _clique(g, a + ["c"])
    _clique(g, b + ["c"])
    if bridge:
        g.add_edge("a0", "b0")
    return g, set(a), set(b)


@pytest.mark.parametrize("local", CLUSTERERS)
@pytest.mark.parametrize("global_", CLUSTERERS)
def test_two_cliques_sharing_a_node_give_two_overlapping_clusters(local, global_):
    # the paper's guarantee: planted overlapping communities come back, the shared node in both
    g, a, b = _two_cliques()
    res = ego_splitting(g, local=local, global_=global_, seed=1)
    assert sorted(map(sorted, res.clusters)) == sorted([sorted(a | {"c"}), sorted(b | {"c"})])
    assert len(res.memberships["c"]) == 2
    assert all(len(res.memberships[x]) == 1 for x in a | b)
    assert persona_counts(res)["c"] == 2


def test_connected_ego_net_splits_with_a_non_trivial_local_clusterer():
    # karateclub issue #164: an edge a0-b0 makes c's ego-net connected, so splitting by
    # connected components (karateclub's only option) keeps c whole
    g, a, b = _two_cliques(bridge=True)
    comp = ego_splitting(g, local="components", global_="louvain")
    assert len(comp.memberships["c"]) == 1
    assert persona_counts(comp)["c"] == 1
    for local in ("label_propagation", "louvain"):
        res = ego_splitting(g, local=local, global_="louvain", seed=0)
        assert persona_counts(res)["c"] == 2, local
        holding_c = [res.clusters[i] for i in res.memberships["c"]]
        assert len(holding_c) == 2
        assert any(a <= cl for cl in holding_c) and any(b <= cl for cl in holding_c)


def test_ring_of_cliques_each_link_node_in_two_clusters():
    g = nx.Graph()
    k, size = 5, 5
    links = [f"x{i}" for i in range(k)]
    for i in range(k):
        own = [f"q{i}_{j}" for j in range(size)]
        _clique(g, own + [links[i], links[(i + 1) % k]])
    res = ego_splitting(g, local="label_propagation", global_="louvain")
    assert len(res.clusters) == k
    assert all(len(res.memberships[x]) == 2 for x in links)


def test_input_forms_agree_and_isolated_nodes_are_singletons():
    g, _, _ = _two_cliques()
    g.add_node("lonely")
    as_dict = {u: dict(g[u]) for u in g}
    edges = list(g.edges())
    r1 = ego_splitting(g, global_="components")
    r2 = ego_splitting(as_dict, global_="components")
    r3 = ego_splitting(edges + [], global_="components")
    assert set(r1.clusters) == set(r2.clusters)
    assert set(r1.clusters) - {frozenset({"lonely"})} == set(r3.clusters)
    assert frozenset({"lonely"}) in r1.clusters
    assert r1.n_clusters(min_size=2) == 2 and r1.n_clusters() == 3


def test_weights_steer_louvain():
    # K8 whose edges between two halves are light: weighted Louvain separates the halves,
    # unweighted (weight=None) sees one clique
    left, right = list("abcd"), list("efgh")
    g = nx.Graph()
    for u, v in itertools.combinations(left + right, 2):
        same = (u in left) == (v in left)
        g.add_edge(u, v, weight=10.0 if same else 0.1)
    weighted = ego_splitting(g, local="components", global_="louvain")
    assert sorted(map(sorted, weighted.clusters)) == [left, right]
    plain = ego_splitting(g, local="components", global_="louvain", weight=None)
    assert len(plain.clusters) == 1


def test_per_component_louvain_matches_whole_graph_louvain():
    # two disconnected copies of "two cliques joined by an edge": networkx Louvain on the whole
    # persona graph and the per-component version find the same communities
    g = nx.Graph()
    for copy in range(2):
        _clique(g, [f"{copy}l{i}" for i in range(6)])
        _clique(g, [f"{copy}r{i}" for i in range(6)])
        g.add_edge(f"{copy}l0", f"{copy}r0")
    ours = ego_splitting(g, local="components", global_="louvain")

    def whole(graph, seed):
        return nx.community.louvain_communities(graph, weight="weight", seed=seed)

    ref = ego_splitting(g, local="components", global_=whole)
    assert set(ours.clusters) == set(ref.clusters)


def test_callable_and_unknown_clusterers():
    g, _, _ = _two_cliques()

    def one_cluster(graph, seed):
        return [set(graph.nodes)]

    res = ego_splitting(g, local=one_cluster, global_=one_cluster)
    assert len(res.clusters) == 1
    with pytest.raises(ValueError, match="unknown clusterer"):
        ego_splitting(g, local="kmeans")


def test_seeded_runs_are_deterministic():
    g = nx.powerlaw_cluster_graph(300, 3, 0.4, seed=3)
    r1 = ego_splitting(g, local="label_propagation", global_="louvain", seed=7)
    r2 = ego_splitting(g, local="label_propagation", global_="louvain", seed=7)
    assert r1.clusters == r2.clusters
