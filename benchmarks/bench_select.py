"""Scaling of selection (``vlitq.filter``) with the number of samples.

    python benchmarks/bench_select.py [--sizes 8000,16000,32000,64000] [--tasks 50]

A synthetic report (``task`` labels, two score columns, 1% nulls) goes through a rules pass
and then each task-based strategy (``balanced``, ``quota``) and ``top_k``. Prints seconds and
samples/s per size, the growth factor per doubling (1.0-2.2 = linear-ish; 4 = quadratic) and
peak RSS. Before the task labels were looked up once per sample (``select/filter.py``), the
balanced step took 2.5 s at 8k and 4x per doubling.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import polars as pl

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peak_rss_mib


def synthetic_report(n: int, n_tasks: int, seed: int = 0):
    from vlitq.report import Report

    rng = np.random.default_rng(seed)
    a = rng.normal(50, 10, n)
    a[rng.random(n) < 0.01] = np.nan
    samples = pl.DataFrame({
        "sample_id": [f"s{i}" for i in range(n)],
        "task": [f"task_{k}" for k in rng.integers(0, n_tasks, n)],
        "text_stats": pl.Series(a).fill_nan(None),
        "text_stats_error": pl.Series([None] * n, dtype=pl.Utf8),
        "elements": rng.integers(0, 30, n).astype(float),
        "elements_error": pl.Series([None] * n, dtype=pl.Utf8),
    })
    return Report(samples=samples, info={"task_column": "task"})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="8000,16000,32000,64000")
    ap.add_argument("--tasks", type=int, default=50)
    args = ap.parse_args()
    import vlitq

    sizes = [int(s) for s in args.sizes.split(",")]
    runs = {
        "rules": (None, {"errors": {"max": 0}, "text_stats": {"quantile_min": 0.1}}),
        "balanced": ({"name": "balanced", "n": None}, {"errors": {"max": 0}}),
        "quota": ({"name": "quota", "per_task": None, "weights": {"elements": 1}}, None),
        "top_k": ({"name": "top_k", "n": None, "weights": {"elements": 1, "text_stats": -1}},
                  None),
    }
    print(f"{'step':<9} {'n':>7} {'seconds':>8} {'samples/s':>11} {'x per 2x':>9}")
    for step, (strategy, rules) in runs.items():
        prev = None
        for n in sizes:
            rep = synthetic_report(n, args.tasks)
            strat = None
            if strategy:
                strat = dict(strategy)
                if "n" in strat:
                    strat["n"] = n // 2
                if "per_task" in strat:
                    strat["per_task"] = n // (2 * args.tasks)
            t0 = time.perf_counter()
            sel = vlitq.filter(rep, rules, strategy=strat, seed=0)
            dt = time.perf_counter() - t0
            growth = f"{dt / prev:9.2f}" if prev else f"{'-':>9}"
            prev = dt
            print(f"{step:<9} {n:>7} {dt:8.3f} {n / dt:11,.0f} {growth}  kept {len(sel.kept)}")
    print(f"peak RSS {peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
