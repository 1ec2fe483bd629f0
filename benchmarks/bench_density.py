"""DBSCAN at scale (#18.1): the exact blocked path against the k-NN graph path, on realistic
clustered sentence embeddings.

Data (``make_data``): real all-MiniLM-L6-v2 embeddings (384-d, the packaged model) of a few
thousand sentences are the cluster centres — the sentences of the alpaca outputs of the real
corpus (``$VLITQ_REAL_DATA`` or ``/work/realdata``, ``llamafactory_mllm_demo/alpaca_en_demo.json``)
when it exists, else the synthetic LLaVA phrases of ``_common``. Around each centre a cluster of
paraphrase-like points: ``unit(c + t·g)``, ``g`` Gaussian of norm ≈ 1, ``t`` drawn per cluster in
[0.35, 0.75] (cosine to the centre 0.8-0.94, between members 0.64-0.89, so with the default
``eps=0.3`` clusters hold core, border and some noise points); cluster sizes lognormal (a few
thousands, most tens); 12 % scattered points (a real centre blurred with ``t=1.4``: cosine ≈ 0.6
to it). Centres beyond the number of sentences mix two sentences. Generated in chunks, float32.

Modes (each measured case runs in its own subprocess, so peak RSS is that run's; the load
average of the machine is printed beside each figure):

- ``ann --n 50000``: recall@k and seconds of the candidate nearest-neighbour indexes (faiss
  IVF / HNSW, hnswlib, pynndescent, the numpy inverted file, exact torch top-k on CPU).
  hnswlib and pynndescent are not vlitq dependencies: put them on ``--extra-path``.
- ``agree --n 50000``: exact vs graph: ARI (all points; core points), core agreement, noise
  agreement, clusters, seconds, peak RSS.
- ``scale --n 1000000``: the graph path alone: seconds and peak RSS (the input array itself,
  1.5 GB at 1M × 384 float32, is inside the peak).
- ``kgraph --n 200000 --k-max 64 --nprobe 8``: the k-NN graph without the link pass, DBSCAN
  on its best k neighbours for k = 16 ... k-max, against the exact labels ``agree`` saved.
- ``graph --n 1000000``: build and cache the 25-NN lists of ``make_data(n)`` with the graph
  path's own search (faiss cells + ``_ivf_scan``).
- ``fromknn --n 1000000 3000000 --rev new cb84cb1``: ``dbscan_from_knn`` alone on those lists
  (a size without cached lists: copies of the 1M lists, ids shuffled, ``tiled_graph``), this
  worktree against a git revision: CPU seconds, extra peak RSS over the lists, tracemalloc
  peak, and whether the results are identical (``BENCH_CHUNK_MIB=256``: the new code with
  the block budget that ``dbscan_cosine`` passes it; default 64 MiB).

Usage::

    nice python benchmarks/bench_density.py ann --n 50000 --extra-path /tmp/scale-ann
    nice python benchmarks/bench_density.py agree --n 50000 200000
    nice python benchmarks/bench_density.py scale --n 1000000 --index faiss
    nice python benchmarks/bench_density.py kgraph --n 200000 --k-max 64
    nice python benchmarks/bench_density.py graph --n 1000000
    nice python benchmarks/bench_density.py fromknn --n 1000000 3000000 --rev new cb84cb1
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
CACHE = os.environ.get("VLITQ_BENCH_DIR", "/tmp/vlitq-bench")
EPS, MIN_SAMPLES = 0.3, 3


def _peak_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _reset_peak() -> bool:
    """Reset this process's peak RSS (Linux ``clear_refs``), so that the peak measured after
    it is the algorithm's (input included), not the data generator's."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _hwm_mib() -> float:
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return _peak_mib()


def _load() -> str:
    return "/".join(f"{v:.1f}" for v in os.getloadavg())


# ------------------------------------------------------------------------------ data
def _sentences() -> tuple[list[str], str]:
    root = os.environ.get("VLITQ_REAL_DATA") or "/work/realdata"
    f = os.path.join(root, "llamafactory_mllm_demo", "alpaca_en_demo.json")
    if os.path.exists(f):
        recs = json.load(open(f, encoding="utf-8"))
        out = []
        for r in recs:
            for part in (r.get("instruction", ""), r.get("output", "")):
                out += [s.strip() for s in re.split(r"(?<=[.!?])\s+|\n+", part)
                        if len(s.strip()) > 15]
        return sorted(set(out)), f
    from _common import PLACES, QUESTIONS, SUBJECTS

    out = sorted({q.format(s=s, p=p) + " " + f"{s} is {p}."
                  for q in QUESTIONS for s in SUBJECTS for p in PLACES})
    return out, "benchmarks/_common.py phrases"


def base_embeddings():
    """Real MiniLM embeddings of the sentences (cached in ``$VLITQ_BENCH_DIR``)."""
    import numpy as np

    path = os.path.join(CACHE, "density_base_minilm.npy")
    if os.path.exists(path):
        return np.load(path)
    os.makedirs(CACHE, exist_ok=True)
    from vlitq.models.text import SentenceEncoder

    sents, src = _sentences()
    sents = sents[:4000]
    t = time.time()
    emb = np.asarray(SentenceEncoder(device="cpu", batch_size=128).encode(sents), np.float32)
    print(f"# encoded {len(sents)} sentences of {src} with all-MiniLM-L6-v2 in "
          f"{time.time() - t:.0f} s", file=sys.stderr)
    np.save(path, emb)
    return emb


def make_data(n: int, seed: int = 0, dim_check: bool = True):
    """``n`` clustered 384-d unit vectors around real sentence embeddings (see module doc)."""
    import numpy as np

    base = base_embeddings()
    m, d = base.shape
    rng = np.random.default_rng(seed)
    n_noise = int(0.12 * n)
    n_cl = max(1, n // 120)
    sizes = rng.lognormal(0.0, 1.2, n_cl)
    sizes = np.maximum(1, np.round(sizes / sizes.sum() * (n - n_noise))).astype(np.int64)
    sizes[-1] += (n - n_noise) - sizes.sum()
    while sizes[-1] < 1:  # rounding drift
        j = int(np.argmax(sizes))
        sizes[j] -= 1
        sizes[-1] += 1
    a = rng.integers(0, m, n_cl)
    b = rng.integers(0, m, n_cl)
    w = np.where(np.arange(n_cl) < m, 0.0, rng.uniform(0.3, 0.7, n_cl)).astype(np.float32)
    centres = base[a] * (1 - w[:, None]) + base[b] * w[:, None]
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    spread = rng.uniform(0.35, 0.75, n_cl).astype(np.float32)
    # point i: cluster owner[i] >= 0, or noise around sentence -1 - owner[i]
    owner = np.concatenate([np.repeat(np.arange(n_cl), sizes),
                            -1 - rng.integers(0, m, n_noise)])
    owner = owner[rng.permutation(n)]
    x = np.empty((n, d), np.float32)
    step = 65536
    for i in range(0, n, step):
        o = owner[i:i + step]
        cl = o >= 0
        src = np.where(cl[:, None], centres[np.maximum(o, 0)], base[np.maximum(-1 - o, 0)])
        t = np.where(cl, spread[np.maximum(o, 0)], np.float32(1.4)).astype(np.float32)
        g = rng.standard_normal((len(o), d), dtype=np.float32) / np.float32(np.sqrt(d))
        blk = src + t[:, None] * g
        x[i:i + len(o)] = blk / np.linalg.norm(blk, axis=1, keepdims=True)
    return x


def knn_graph(n: int, k: int = 25):
    """The graph path's k-NN lists of ``make_data(n)`` (faiss cells + ``_ivf_scan``, the
    same call as ``dbscan_cosine(method="knn")`` with 24 neighbours + the point itself),
    cached in ``$VLITQ_BENCH_DIR`` as int32 / float32 arrays."""
    import numpy as np

    path = os.path.join(CACHE, f"density_knn_{n}_k{k}.npz")
    if os.path.exists(path):
        z = np.load(path)
        return z["nbr"], z["sim"]
    from vlitq.graph import density as dn

    x = make_data(n)
    t, c0 = time.time(), sum(os.times()[:2])
    nbr, sim = dn._knn_faiss(x, k)
    print(f"# {k}-NN graph of {n} points: {time.time() - t:.0f} s, "
          f"{sum(os.times()[:2]) - c0:.0f} CPU s, load {_load()}", file=sys.stderr)
    del x
    os.makedirs(CACHE, exist_ok=True)
    np.savez(path, nbr=nbr, sim=sim)
    return nbr, sim


# ------------------------------------------------------------------------------ workers
def _run_worker(args: list[str], extra_path: str | None = None) -> dict:
    env = dict(os.environ, PYTHONPATH=ROOT + (os.pathsep + extra_path if extra_path else ""))
    out = subprocess.run([sys.executable, __file__, "_worker", *args], env=env,
                         capture_output=True, text=True)
    if out.returncode != 0:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "?"}
    return json.loads(out.stdout.strip().splitlines()[-1])


def tiled_graph(n: int, base: int = 1_000_000, seed: int = 0):
    """A k-NN graph of ``n`` points made of ``n // base`` disjoint copies of the measured
    ``base``-point graph (:func:`knn_graph`), point ids shuffled over the whole range (so a row
    block's neighbours are spread as in a real graph): the lists of a real search, at a size
    whose search (~1,400 CPU-s at 3M) this benchmark does not pay for."""
    import numpy as np

    if n % base:
        raise SystemExit(f"--n {n}: a multiple of {base} for the tiled graph")
    nbr1, sim1 = knn_graph(base)
    perm = np.random.default_rng(seed).permutation(n).astype(np.int32)
    nbr = np.empty((n, nbr1.shape[1]), np.int32)
    sim = np.empty((n, nbr1.shape[1]), np.float32)
    for c in range(n // base):
        ids = perm[c * base:(c + 1) * base]
        nbr[ids] = np.where(nbr1 >= 0, ids[np.maximum(nbr1, 0)], -1)
        sim[ids] = sim1
    return nbr, sim


def _density_module(rev: str):
    """``vlitq/graph/density.py`` as it is in the worktree (``rev="new"``) or at the git
    revision ``rev`` (the old implementation, for the comparison), imported under its own
    name."""
    if rev == "new":
        from vlitq.graph import density

        return density
    import importlib.util
    import tempfile

    src = subprocess.run(["git", "-C", ROOT, "show", f"{rev}:vlitq/graph/density.py"],
                         check=True, capture_output=True, text=True).stdout
    path = os.path.join(tempfile.mkdtemp(), f"density_{rev}.py")
    with open(path, "w") as fh:
        fh.write(src)
    spec = importlib.util.spec_from_file_location(f"density_{rev}", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod   # its dataclass looks itself up there
    spec.loader.exec_module(mod)
    return mod


def _rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def worker_fromknn(n: int, rev: str):
    """``dbscan_from_knn`` alone on the k-NN lists of ``n`` points: extra peak RSS over the
    lists, tracemalloc peak (numpy's allocations), CPU seconds."""
    import tracemalloc

    import numpy as np

    t0 = time.time()
    nbr, sim = knn_graph(n) if os.path.exists(
        os.path.join(CACHE, f"density_knn_{n}_k25.npz")) else tiled_graph(n)
    dn = _density_module(rev)
    res: dict = {"n": n, "rev": rev, "gen_s": round(time.time() - t0, 1),
                 "lists_mib": round((nbr.nbytes + sim.nbytes) / 2**20), "load0": _load()}
    rss0 = _rss_mib()
    reset = _reset_peak()
    trace = os.environ.get("BENCH_TRACEMALLOC", "1") == "1"
    if trace:
        tracemalloc.start()
    t, cpu0 = time.time(), sum(os.times()[:2])
    kw = {}
    if os.environ.get("BENCH_CHUNK_MIB"):   # the budget dbscan_cosine passes (256 MiB)
        kw["max_chunk_bytes"] = int(os.environ["BENCH_CHUNK_MIB"]) << 20
        res["chunk_mib"] = int(os.environ["BENCH_CHUNK_MIB"])
    r = dn.dbscan_from_knn(nbr, sim, EPS, MIN_SAMPLES, **kw)
    res["cpu_s"] = round(sum(os.times()[:2]) - cpu0, 1)
    res["seconds"] = round(time.time() - t, 1)
    if trace:
        res["traced_peak_mib"] = round(tracemalloc.get_traced_memory()[1] / 2**20)
        tracemalloc.stop()
    res["extra_rss_mib"] = round((_hwm_mib() if reset else _peak_mib()) - rss0)
    path = os.path.join(CACHE, f"fromknn_{n}_{rev}.npz")
    np.savez(path, labels=r.labels, core=r.core)
    res.update(labels=path, clusters=r.n_clusters, noise=round(r.noise_share, 4),
               core_share=round(float(r.core.mean()), 4), load=_load())
    print(json.dumps(res))


def worker(kind: str, n: int, opt: str):
    import numpy as np

    if kind == "fromknn":
        return worker_fromknn(n, opt)
    t0 = time.time()
    x = make_data(n)
    gen_s = time.time() - t0
    rss_data = _peak_mib()
    reset = _reset_peak()
    res: dict = {"n": n, "kind": kind, "opt": opt, "gen_s": round(gen_s, 1),
                 "load0": _load()}
    t = time.time()
    cpu0 = sum(os.times()[:2])
    if kind == "dbscan":
        from vlitq.graph.density import dbscan_cosine

        method, _, index = opt.partition("/")
        r = dbscan_cosine(x, EPS, MIN_SAMPLES, method=method, index=index or "auto")
        res["seconds"] = round(time.time() - t, 1)
        path = os.path.join(CACHE, f"density_{n}_{opt.replace('/', '-')}.npz")
        np.savez(path, labels=r.labels, core=r.core)
        res.update(labels=path, clusters=r.n_clusters, noise=round(r.noise_share, 4),
                   core_share=round(float(r.core.mean()), 4))
    else:  # an index for the recall comparison
        from vlitq.graph import density as dn

        k = 16
        if kind == "faiss_ivf":
            nbr, _ = dn._knn_faiss(x, k, nprobe=int(opt or 8))
        elif kind == "numpy_ivf":
            nbr, _ = dn._knn_numpy(x, k, nprobe=int(opt or 8))
        elif kind == "torch_exact":
            nbr, _ = dn._knn_torch(x, k, device="cpu")
        elif kind == "faiss_hnsw":
            import faiss

            m, efs = (int(v) for v in (opt or "32,48").split(","))
            ix = faiss.IndexHNSWFlat(x.shape[1], m, faiss.METRIC_INNER_PRODUCT)
            ix.hnsw.efConstruction = 2 * m
            ix.add(x)
            ix.hnsw.efSearch = efs
            nbr = ix.search(x, k)[1]
        elif kind == "hnswlib":
            import hnswlib

            m, efs = (int(v) for v in (opt or "32,48").split(","))
            p = hnswlib.Index(space="ip", dim=x.shape[1])
            p.init_index(max_elements=n, M=m, ef_construction=2 * m)
            p.add_items(x)
            p.set_ef(efs)
            nbr = p.knn_query(x, k=k)[0]
        elif kind == "pynndescent":
            import pynndescent

            nbr = pynndescent.NNDescent(x, metric="dot", n_neighbors=k, random_state=0,
                                        low_memory=True).neighbor_graph[0]
        else:
            raise SystemExit(f"unknown index {kind}")
        res["seconds"] = round(time.time() - t, 1)
        q = np.random.default_rng(1).choice(n, 2000, replace=False)
        s = x[q] @ x.T
        truth = np.argpartition(-s, k, axis=1)[:, :k]
        res["recall"] = round(float(np.mean([len(set(a) & set(b)) / k
                                             for a, b in zip(np.asarray(nbr)[q], truth)])), 4)
    res["cpu_s"] = round(sum(os.times()[:2]) - cpu0, 1)
    res["peak_mib"] = round(_hwm_mib() if reset else _peak_mib())
    res["data_mib"] = round(rss_data)
    res["load"] = _load()
    print(json.dumps(res))


# ------------------------------------------------------------------------------ modes
def mode_ann(sizes, extra_path):
    cases = [("faiss_ivf", "8"), ("faiss_ivf", "16"), ("faiss_hnsw", "32,48"),
             ("hnswlib", "32,48"), ("pynndescent", ""), ("numpy_ivf", "8"),
             ("numpy_ivf", "16"), ("torch_exact", "")]
    print("| n | index | options | recall@16 | seconds | peak MiB | load avg (1/5/15 min) |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        for kind, opt in cases:
            r = _run_worker([kind, str(n), opt], extra_path)
            print(f"| {n} | {kind} | {opt} | {r.get('recall', r.get('error'))} | "
                  f"{r.get('seconds')} | {r.get('peak_mib')} | {r.get('load')} |", flush=True)


def mode_agree(sizes, index, reuse_exact=False):
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    print("| n | method | clusters | noise | seconds | CPU s | peak MiB | ARI all | ARI core | "
          "core agree | noise agree | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        saved = os.path.join(CACHE, f"density_{n}_exact.json")
        if reuse_exact and os.path.exists(saved):
            ex = json.load(open(saved))
        else:
            ex = _run_worker(["dbscan", str(n), "exact"])
            if "labels" in ex:
                json.dump(ex, open(saved, "w"))
        rows = [("exact", ex)]
        for idx in index:
            rows.append((f"knn/{idx}", _run_worker(["dbscan", str(n), f"knn/{idx}"])))
        e = np.load(ex["labels"]) if "labels" in ex else None
        for name, r in rows:
            agree = ["", "", "", ""]
            if e is not None and "labels" in r and name != "exact":
                o = np.load(r["labels"])
                both = e["core"] & o["core"]
                agree = [f"{adjusted_rand_score(e['labels'], o['labels']):.4f}",
                         f"{adjusted_rand_score(e['labels'][both], o['labels'][both]):.4f}",
                         f"{np.mean(e['core'] == o['core']):.4f}",
                         f"{np.mean((e['labels'] < 0) == (o['labels'] < 0)):.4f}"]
            print(f"| {n} | {name} | {r.get('clusters', r.get('error'))} | {r.get('noise')} | "
                  f"{r.get('seconds')} | {r.get('cpu_s')} | {r.get('peak_mib')} | "
                  + " | ".join(agree)
                  + f" | {r.get('load0')} → {r.get('load')} |", flush=True)


def mode_scale(sizes, index):
    print("| n | method | clusters | noise | core share | seconds (+ data gen) | CPU s | "
          "peak MiB (input alone) | load avg |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        for idx in index:
            r = _run_worker(["dbscan", str(n), f"knn/{idx}"])
            print(f"| {n} | knn/{idx} | {r.get('clusters', r.get('error'))} | {r.get('noise')} "
                  f"| {r.get('core_share')} | {r.get('seconds')} (+{r.get('gen_s')}) | "
                  f"{r.get('cpu_s')} | {r.get('peak_mib')} ({r.get('data_mib')}) | {r.get('load0')} → {r.get('load')} |",
                  flush=True)


def mode_kgraph(n: int, k_max: int, nprobe: int):
    """Neighbours kept vs agreement, without the link pass: one ``k_max``-NN graph (faiss
    cells + scan), DBSCAN on its best k columns for several k, against the exact labels
    saved by ``agree`` (same n)."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score

    from vlitq.graph import density as dn

    saved = os.path.join(CACHE, f"density_{n}_exact.npz")
    if not os.path.exists(saved):
        raise SystemExit(f"run `agree --n {n}` first ({saved})")
    e = np.load(saved)
    x = make_data(n)
    t, c0 = time.time(), sum(os.times()[:2])
    nbr, sim = dn._knn_faiss(x, k_max + 1, nprobe=nprobe)
    print(f"# {k_max}-NN graph, nprobe {nprobe}: {time.time() - t:.1f} s, "
          f"{sum(os.times()[:2]) - c0:.1f} CPU s, load {_load()}")
    o = np.argsort(-sim, axis=1)
    nbr, sim = np.take_along_axis(nbr, o, 1), np.take_along_axis(sim, o, 1)
    print("| k | clusters | ARI all | ARI core | core agree | noise agree |")
    print("|---|---|---|---|---|---|")
    for k in (16, 24, 32, 48, 64, 96, 128):
        if k > k_max:
            break
        r = dn.dbscan_from_knn(np.ascontiguousarray(nbr[:, :k + 1]),
                               np.ascontiguousarray(sim[:, :k + 1]), EPS, MIN_SAMPLES)
        both = e["core"] & r.core
        print(f"| {k} | {r.n_clusters} | {adjusted_rand_score(e['labels'], r.labels):.4f} | "
              f"{adjusted_rand_score(e['labels'][both], r.labels[both]):.4f} | "
              f"{np.mean(e['core'] == r.core):.4f} | "
              f"{np.mean((e['labels'] < 0) == (r.labels < 0)):.4f} |", flush=True)


def mode_fromknn(sizes, revs):
    """``dbscan_from_knn`` alone, each implementation in its own process: ``new`` (this
    worktree) against git revisions (the old code); the results must be identical."""
    import numpy as np

    print("| n | implementation | CPU s | wall s | extra peak RSS MiB | tracemalloc peak MiB | "
          "clusters | noise | core share | identical to the first | load avg (start → end) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in sizes:
        first = None
        for rev in revs:
            r = _run_worker(["fromknn", str(n), rev])
            same = ""
            if "labels" in r:
                z = np.load(r["labels"])
                if first is None:
                    first = z
                else:
                    same = str(bool(np.array_equal(first["labels"], z["labels"])
                                    and np.array_equal(first["core"], z["core"])))
            print(f"| {n} | {rev} | {r.get('cpu_s', r.get('error'))} | {r.get('seconds')} | "
                  f"{r.get('extra_rss_mib')} | {r.get('traced_peak_mib')} | "
                  f"{r.get('clusters')} | {r.get('noise')} | {r.get('core_share')} | {same} | "
                  f"{r.get('load0')} → {r.get('load')} |", flush=True)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        return worker(argv[1], int(argv[2]), argv[3] if len(argv) > 3 else "")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["ann", "agree", "scale", "kgraph", "data", "graph",
                                     "fromknn"])
    ap.add_argument("--rev", nargs="+", default=["new", "cb84cb1"],
                    help="fromknn: implementations, 'new' = this worktree, else a git revision")
    ap.add_argument("--k-max", type=int, default=64, help="kgraph: neighbours of the graph")
    ap.add_argument("--nprobe", type=int, default=8, help="kgraph: cells probed per point")
    ap.add_argument("--n", type=int, nargs="+", default=[50000])
    ap.add_argument("--index", nargs="+", default=["faiss"])
    ap.add_argument("--reuse-exact", action="store_true",
                    help="agree: take the exact run saved by an earlier call (same n)")
    ap.add_argument("--extra-path", default=None,
                    help="a folder with hnswlib/pynndescent (pip install --target)")
    a = ap.parse_args(argv)
    if a.mode == "ann":
        mode_ann(a.n, a.extra_path)
    elif a.mode == "agree":
        mode_agree(a.n, a.index, a.reuse_exact)
    elif a.mode == "scale":
        mode_scale(a.n, a.index)
    elif a.mode == "kgraph":
        mode_kgraph(a.n[0], a.k_max, a.nprobe)
    elif a.mode == "fromknn":
        mode_fromknn(a.n, a.rev)
    elif a.mode == "graph":
        for n in a.n:
            knn_graph(n)
    else:
        import numpy as np

        x = make_data(a.n[0])
        s = x[:2000] @ x.T
        print("neighbours within eps (mean, p50, p99):", (s >= 1 - EPS).sum(1).mean(),
              np.percentile((s >= 1 - EPS).sum(1), [50, 99]))


if __name__ == "__main__":
    main()
