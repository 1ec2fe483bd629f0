"""The cache on a warm run: opening a store of many rows and reading it back.

Two stores shaped like a 665k-sample run's: ``emb`` — sentence embeddings (``--n-emb`` vectors
of ``--dim`` float32, written in parts of 1,024 as ``SentenceEncoder`` writes them; read back in
slices of 65,536 into one matrix, as it reads them), and ``rows`` — per-sample scorer rows
(``--n-rows`` JSON values of about 120 bytes, parts of 1,024; read in batches of 1,024 keys in
the written order, as the engine's warm run reads them). Each phase runs in a fresh process:
``write`` (the cold run's parts), ``first open`` (more than ``COMPACT_AT`` parts: merged, then
read), ``open`` (the merged part, read again). Prints seconds and the process's peak RSS over
its RSS after imports (MiB).

    OMP_NUM_THREADS=1 python benchmarks/bench_cache.py [--n-emb 798000] [--n-rows 2200000]

Run it against another checkout with ``PYTHONPATH=<checkout>`` to compare implementations.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import json, os, resource, sys, time
import numpy as np
import pyarrow, pyarrow.compute, pyarrow.parquet  # imported before the baseline
import vlitq.cache as vc

def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024

kind, phase, root, n, dim = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
base = rss()
t0 = time.perf_counter()
store = vc.Cache(root).store(kind)
keys = [f"{kind}-{i:09d}" for i in range(n)]
if phase == "write":
    rng = np.random.default_rng(0)
    for a in range(0, n, 1024):
        ks = keys[a:a + 1024]
        if kind == "emb":
            store.put_many_arrays(dict(zip(ks, rng.standard_normal((len(ks), dim), np.float32))))
        else:
            store.put_many_json({k: {"score": a + j, "error": None, "items": ["x" * 40, "y" * 30]}
                                 for j, k in enumerate(ks)})
    check = None
else:
    t_open = time.perf_counter()
    len(store)  # opens it (and merges many parts)
    t_open = time.perf_counter() - t_open
    if kind == "emb":
        out = np.empty((n, dim), np.float32)
        for a in range(0, n, 65536):
            ks = keys[a:a + 65536]
            got = store.get_many_arrays(ks, dim)
            for i, k in enumerate(ks, a):
                out[i] = got[k]
            del got
        check = float(out[:, 0].sum())
    else:
        tot = 0
        for a in range(0, n, 1024):
            got = store.get_many_json(keys[a:a + 1024])
            tot += sum(v["score"] for v in got.values())
        check = tot
dt = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"kind": kind, "phase": phase, "seconds": round(dt, 2),
                  "open_s": None if phase == "write" else round(t_open, 2),
                  "peak_over_base_mib": round(peak - base), "hits": store.hits,
                  "misses": store.misses, "parts": store.n_parts(), "check": check}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n-emb", type=int, default=798_000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--n-rows", type=int, default=2_200_000)
    ap.add_argument("--dir", default=None, help="cache folder (default: a new temporary one)")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = ap.parse_args()
    root = a.dir or tempfile.mkdtemp(prefix="vlitq-bench-cache-")
    out = []
    for kind, n in (("emb", a.n_emb), ("rows", a.n_rows)):
        if not n:
            continue
        for phase in ("write", "first open", "open"):
            r = subprocess.run([sys.executable, "-c", CHILD, kind, phase, root, str(n), str(a.dim)],
                               capture_output=True, text=True, env=os.environ,
                               cwd=root)  # not this folder: PYTHONPATH picks the vlitq
            if r.returncode:
                sys.exit(r.stderr[-3000:])
            rec = json.loads(r.stdout.strip().splitlines()[-1])
            out.append(rec)
            print(f"{kind:5s} {n:>9,d}  {phase:10s}  {rec['seconds']:7.2f} s"
                  + (f" (open {rec['open_s']:.2f} s)" if rec["open_s"] is not None else "")
                  + f"  peak +{rec['peak_over_base_mib']:,d} MiB  parts {rec['parts']}"
                  + f"  hits {rec['hits']:,d}", flush=True)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
