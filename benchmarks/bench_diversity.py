"""Benchmarks of the diversity indicators' heavy parts.

1. Response clustering (``dbscan_cosine``): seconds and peak RSS for N responses of dimension
   384 (all-MiniLM-L6-v2's), two kinds of data:
   - ``random``: uniform random unit vectors — no structure, nearly no neighbours within eps, so
     it measures the pure similarity-streaming cost;
   - ``mixture``: N / 250 clusters of unit vectors around random centres (cosine ≈ 0.9 to the
     centre, ≈ 0.8 between members) plus 10 % scattered points — dense neighbourhoods (≈250 neighbours per point), the
     case where scikit-learn's neighbour lists blow up (#17650).
   Each size runs in its own subprocess so that peak RSS (``ru_maxrss``) is that run's.
   For comparison it prints what the sparse ε-graph would need (12 bytes per pair).
2. Ego-Splitting vs karateclub's ``EgoNetSplitter`` on the same edge list (local = connected
   components, global = Louvain: karateclub's only configuration), each in a subprocess.
   karateclub pins old networkx/numpy (numpy<1.23: Python ≤ 3.10), so it runs in its own venv,
   created on first use: ``<python3.10> -m venv /tmp/kc`` then ``pip install "setuptools<70"
   wheel`` and ``pip install --no-build-isolation karateclub``. Never a vlitq dependency.

Usage::

    python benchmarks/bench_diversity.py                      # everything, default sizes
    python benchmarks/bench_diversity.py --sizes 10000 50000 --skip-egosplit
    python benchmarks/bench_diversity.py --skip-dbscan --graph-nodes 5000 20000
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
KC_VENV = os.environ.get("VLITQ_KC_VENV", "/tmp/kc")


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


# ------------------------------------------------------------------------------ workers
def worker_dbscan(n: int, kind: str, dim: int, eps: float, min_samples: int, chunk_mb: int):
    import numpy as np

    from vlitq.graph.density import dbscan_cosine

    rng = np.random.default_rng(0)
    if kind == "random":
        x = rng.standard_normal((n, dim), dtype=np.float32)
    else:
        n_scatter = n // 10
        k = max(1, (n - n_scatter) // 250)
        centres = rng.standard_normal((k, dim), dtype=np.float32)
        centres /= np.linalg.norm(centres, axis=1, keepdims=True)
        lab = rng.integers(0, k, n - n_scatter)
        noise = rng.standard_normal((n - n_scatter, dim), dtype=np.float32)
        noise /= np.linalg.norm(noise, axis=1, keepdims=True)
        x = np.vstack([0.9 * centres[lab] + 0.436 * noise,
                       rng.standard_normal((n_scatter, dim), dtype=np.float32)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    base = _rss_mib()
    t0, c0 = time.perf_counter(), time.process_time()
    res = dbscan_cosine(x, eps, min_samples, max_chunk_bytes=chunk_mb << 20)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    core = int(res.core.sum())
    return {"n": n, "kind": kind, "seconds": wall, "cpu_seconds": cpu,
            "responses_per_s": n / wall, "peak_rss_mib": _rss_mib(),
            "rss_before_mib": base, "clusters": res.n_clusters, "noise": res.noise_share,
            "core": core}


def worker_ours(edge_file: str, local: str, global_: str):
    import networkx  # noqa: F401  (imports outside the timed part, as for karateclub)
    import scipy.sparse.csgraph  # noqa: F401

    from vlitq.graph.egosplit import ego_splitting

    with open(edge_file) as fh:
        edges = [tuple(map(int, line.split())) for line in fh]
    t0, c0 = time.perf_counter(), time.process_time()
    res = ego_splitting(edges, local=local, global_=global_, seed=42)
    return {"seconds": time.perf_counter() - t0, "cpu_seconds": time.process_time() - c0,
            "clusters": len(res.clusters), "personas": res.n_personas,
            "peak_rss_mib": _rss_mib()}


KC_SCRIPT = r"""
import json, resource, sys, time
import networkx as nx
from karateclub import EgoNetSplitter
edges = [tuple(map(int, l.split())) for l in open(sys.argv[1])]
g = nx.Graph(); g.add_nodes_from(range(1 + max(max(e) for e in edges))); g.add_edges_from(edges)
t0, c0 = time.perf_counter(), time.process_time()
m = EgoNetSplitter(seed=42)
if sys.argv[2] == "published":
    # karateclub's fit() adds a self-loop to every node (Estimator._ensure_integrity), so the
    # ego itself sits in its "ego-net minus ego", which is then always connected: no node is
    # ever split. Skipping that check runs the algorithm as published.
    m._check_graph = lambda graph: graph
m.fit(g)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"seconds": wall, "cpu_seconds": cpu,
                  "clusters": len(set(c for v in m.get_memberships().values() for c in v)),
                  "personas": m.persona_graph.number_of_nodes(),
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


# ------------------------------------------------------------------------------ driver
def _run_worker(args: list[str], timeout: float) -> dict | None:
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", *args], check=False,
                             capture_output=True,
                             text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        print(out.stderr[-2000:], file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def _python310() -> str | None:
    for cand in ("python3.10", "python3.9"):
        p = shutil.which(cand)
        if p:
            return p
    for root in (os.path.expanduser("~/.pyenv/versions"), "/root/.pyenv/versions"):
        if os.path.isdir(root):
            for v in sorted(os.listdir(root), reverse=True):
                if v.startswith(("3.10", "3.9")):
                    return os.path.join(root, v, "bin", "python")
    return None


def ensure_karateclub() -> str | None:
    py = os.path.join(KC_VENV, "bin", "python")
    if os.path.exists(py) and subprocess.run([py, "-c", "import karateclub"],
                                             check=False, capture_output=True).returncode == 0:
        return py
    base = _python310()
    if base is None:
        print("karateclub needs Python <= 3.10 (numpy<1.23); none found", file=sys.stderr)
        return None
    print(f"creating karateclub venv in {KC_VENV} with {base} ...", flush=True)
    subprocess.run([base, "-m", "venv", KC_VENV], check=True)
    pip = os.path.join(KC_VENV, "bin", "pip")
    subprocess.run([pip, "install", "-q", "setuptools<70", "wheel"], check=True)
    subprocess.run([pip, "install", "-q", "--no-build-isolation", "karateclub"], check=True)
    return py


def make_graphs(nodes: list[int], folder: str) -> list[tuple[str, str]]:
    """Edge lists: power-law cluster graphs (Holme-Kim, m=5, p=0.3) and a word co-occurrence
    graph of synthetic instructions (what instruction_diversity builds)."""
    import random

    import networkx as nx

    from vlitq.indicators.instruction_diversity import cooccurrence_graph

    os.makedirs(folder, exist_ok=True)
    out = []
    for n in nodes:
        g = nx.powerlaw_cluster_graph(n, 5, 0.3, seed=0)
        path = os.path.join(folder, f"powerlaw_{n}.txt")
        with open(path, "w") as fh:
            fh.write("\n".join(f"{u} {v}" for u, v in g.edges()))
        out.append((f"powerlaw-cluster n={n} m={g.number_of_edges()}", path))
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(3000)]
    topics = [rng.sample(vocab, 40) for _ in range(150)]
    lists = [rng.sample(rng.choice(topics), rng.randint(3, 8)) for _ in range(20000)]
    adj, _ = cooccurrence_graph(lists)
    ids = {w: i for i, w in enumerate(adj)}
    path = os.path.join(folder, "cooccurrence.txt")
    edges = {(ids[a], ids[b]) for a in adj for b in adj[a] if ids[a] < ids[b]}
    with open(path, "w") as fh:
        fh.write("\n".join(f"{u} {v}" for u, v in sorted(edges)))
    out.append((f"word co-occurrence (20k instructions) n={len(ids)} m={len(edges)}", path))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    ap.add_argument("--kinds", nargs="+", default=["random", "mixture"])
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--eps", type=float, default=0.3)
    ap.add_argument("--min-samples", type=int, default=3)
    ap.add_argument("--chunk-mb", type=int, default=256)
    ap.add_argument("--graph-nodes", type=int, nargs="+", default=[5000, 20000])
    ap.add_argument("--skip-dbscan", action="store_true")
    ap.add_argument("--skip-egosplit", action="store_true")
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        w = a.worker
        if w[0] == "dbscan":
            r = worker_dbscan(int(w[1]), w[2], int(w[3]), float(w[4]), int(w[5]), int(w[6]))
        else:
            r = worker_ours(w[1], w[2], w[3])
        print(json.dumps(r))
        return

    print(f"machine: {os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f}")
    if not a.skip_dbscan:
        print(f"\nDBSCAN (cosine, eps={a.eps}, min_samples={a.min_samples}, dim={a.dim}, "
              f"blocks of {a.chunk_mb} MiB)")
        print(f"{'kind':>8} {'N':>8} {'seconds':>9} {'cpu s':>8} {'resp/s':>9} "
              f"{'peak RSS MiB':>13} {'clusters':>9} {'noise':>6}")
        for kind in a.kinds:
            for n in a.sizes:
                r = _run_worker(["dbscan", str(n), kind, str(a.dim), str(a.eps),
                                 str(a.min_samples), str(a.chunk_mb)], a.timeout)
                if r is None:
                    print(f"{kind:>8} {n:>8} did not finish within {a.timeout:.0f} s")
                    continue
                print(f"{kind:>8} {n:>8} {r['seconds']:>9.1f} {r['cpu_seconds']:>8.1f} "
                      f"{r['responses_per_s']:>9.0f} {r['peak_rss_mib']:>13.0f} "
                      f"{r['clusters']:>9} {r['noise']:>6.3f}", flush=True)
                if kind == "mixture":
                    pairs = r["core"] * 250  # ~neighbours per core point in this mixture
                    print(f"{'':>8} {'':>8} (a sparse eps-graph would hold ~{pairs:.2e} pairs "
                          f"= {pairs * 12 / 2**30:.1f} GiB)")
    if not a.skip_egosplit:
        import tempfile

        kc = ensure_karateclub()
        print("\nEgo-Splitting (local = connected components, global = Louvain) vs karateclub")
        for label, path in make_graphs(a.graph_nodes, tempfile.mkdtemp(prefix="egosplit-")):
            ours = _run_worker(["egosplit", path, "components", "louvain"], a.timeout)
            ours_cc = _run_worker(["egosplit", path, "components", "components"], a.timeout)
            refs = {}
            for mode in ("shipped", "published"):
                if not kc:
                    break
                p = subprocess.run([kc, "-c", KC_SCRIPT, path, mode], check=False, capture_output=True,
                                   text=True, timeout=a.timeout)
                refs[mode] = (json.loads(p.stdout.strip().splitlines()[-1])
                              if p.returncode == 0 else None)
                if refs[mode] is None:
                    print(p.stderr[-1500:], file=sys.stderr)
            ref = refs.get("published")
            print(f"  {label}")
            for name, r in (("vlitq components+louvain", ours),
                            ("vlitq components+components", ours_cc),
                            ("karateclub as shipped", refs.get("shipped")),
                            ("karateclub, no self-loops", ref)):
                if r:
                    print(f"    {name:<28} {r['seconds']:8.2f} s  cpu {r['cpu_seconds']:8.2f} s  "
                          f"clusters {r['clusters']:>6}  personas {r['personas']:>7}  "
                          f"peak RSS {r['peak_rss_mib']:6.0f} MiB")
            if ours and ref:
                print(f"    speed-up vs karateclub without self-loops (same persona graph, both "
                      f"Louvain): {ref['seconds'] / ours['seconds']:.1f}x wall, "
                      f"{ref['cpu_seconds'] / ours['cpu_seconds']:.1f}x CPU", flush=True)
            sh = refs.get("shipped")
            if ours and sh:
                print(f"    speed-up vs karateclub as shipped (which splits nothing): "
                      f"{sh['seconds'] / ours['seconds']:.1f}x wall, "
                      f"{sh['cpu_seconds'] / ours['cpu_seconds']:.1f}x CPU", flush=True)


if __name__ == "__main__":
    main()
