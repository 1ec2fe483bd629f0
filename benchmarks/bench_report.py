"""Rendering speed and memory of reports on a large synthetic report.

    python benchmarks/bench_report.py [--n 200000] [--tasks 500] [--scorers 8]

Prints seconds, samples/s and peak RSS for: HTML (plotly inlined, drill-down without a
dataset), Markdown, JSON, and a comparison of two such reports.
"""
from __future__ import annotations

import argparse
import json
import resource
import time

import numpy as np
import polars as pl


def synthetic_report(n: int, n_tasks: int, n_scorers: int, seed: int = 0):
    from vlitq.report import Report
    from vlitq.report.report import ERROR_SCHEMA, INDICATOR_SCHEMA

    rng = np.random.default_rng(seed)
    cols = {"sample_id": [f"s{i}" for i in range(n)],
            "task": [f"task_{k}" for k in rng.integers(0, n_tasks, n)]}
    rows, comps = [], {}
    for j in range(n_scorers):
        name = f"score_{j}"
        v = rng.normal(50, 10, n)
        v[rng.random(n) < 0.01] = np.nan
        cols[name] = v
        cols[f"{name}_error"] = [None] * n
        cols[f"{name}_extra"] = rng.integers(0, 100, n)
        rows.append({"indicator": name, "value": float(np.nanmean(v)), "direction": "up",
                     "principle": "correctness", "kind": "scorer", "n": n, "details": None})
        comps[name] = {"kind": "scorer", "class": "Synthetic", "params": {"j": j},
                       "model": None, "seconds": 1.0}
    samples = pl.DataFrame(cols).with_columns(
        [pl.col(f"score_{j}").fill_nan(None) for j in range(n_scorers)])
    tasks = (samples.group_by("task").agg(pl.len().alias("n"),
                                          *[pl.col(f"score_{j}").mean() for j in range(n_scorers)])
             .with_columns((100 * pl.col("n") / n).alias("share")))
    bad = rng.choice(n, size=n // 100, replace=False)
    errors = pl.DataFrame({"sample_id": [f"s{i}" for i in bad], "scorer": ["score_0"] * len(bad),
                           "reason": ["image file not found"] * len(bad),
                           "file": ["data.json"] * len(bad), "index": bad.astype("int64")},
                          schema=ERROR_SCHEMA)
    return Report(samples=samples, indicators=pl.DataFrame(rows, schema=INDICATOR_SCHEMA),
                  tasks=tasks, errors=errors,
                  info={"components": comps, "vlitq_version": "bench", "warnings": []})


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--scorers", type=int, default=8)
    args = ap.parse_args()
    from vlitq.report import compare

    t0 = time.perf_counter()
    a = synthetic_report(args.n, args.tasks, args.scorers, seed=0)
    b = synthetic_report(args.n, args.tasks, args.scorers, seed=1)
    print(f"built 2 synthetic reports of {args.n:,} samples, {args.tasks} tasks, "
          f"{args.scorers} scorers in {time.perf_counter() - t0:.1f} s; "
          f"peak RSS {peak_rss_mb():.0f} MB")
    for what, fn in (("html", lambda: a.to_html()), ("markdown", lambda: a.to_markdown()),
                     ("json", lambda: a.to_json()),
                     ("compare html", lambda: compare([a, b]).to_html())):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        print(json.dumps({"output": what, "seconds": round(dt, 2),
                          "samples_per_s": round(args.n / dt), "mb": round(len(out) / 1e6, 2),
                          "peak_rss_mb": round(peak_rss_mb())}))


if __name__ == "__main__":
    main()
