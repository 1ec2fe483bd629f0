"""End-to-end ``vlitq.score`` throughput: samples/s per component, peak RSS, cold vs warm cache,
and local vs Ray engine.

    python benchmarks/bench_score.py --n 10000 --scorers text_stats,image_check,duplicates
    python benchmarks/bench_score.py --n 10000 --engine both
    python benchmarks/bench_score.py --n 100000 --stream

Each configuration runs in a fresh subprocess so peak RSS is its own.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import make_llava, peak_rss_mib  # noqa: E402

CHILD = r'''
import json, sys, time, os
sys.path.insert(0, os.path.dirname(os.path.abspath({bench!r})))
from _common import peak_rss_mib
import vlitq
names = {names!r}
t0 = time.perf_counter()
kw = dict(engine={engine!r}, stream={stream!r}, progress=False, cache={cache!r})
if {engine!r} == "ray":
    import ray; ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    kw["num_actors"] = 2
rep = vlitq.score({path!r}, names, **kw)
dt = time.perf_counter() - t0
comp = {{k: v.get("seconds") for k, v in rep.info["components"].items()}}
print(json.dumps({{"seconds": dt, "n": rep.samples.height, "components": comp,
                  "peak_rss_mib": peak_rss_mib(), "errors": rep.error_counts()}}))
'''


def run_child(path, names, engine, stream, cache):
    code = CHILD.format(bench=__file__, names=names, engine=engine, stream=stream, cache=cache,
                        path=path)
    env = {**os.environ, "VLITQ_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[10000])
    ap.add_argument("--scorers", default="text_stats,image_check,duplicates")
    ap.add_argument("--engine", default="local", choices=["local", "ray", "both"])
    ap.add_argument("--stream", action="store_true")
    args = ap.parse_args()
    names = [s for s in args.scorers.split(",") if s]
    engines = ["local", "ray"] if args.engine == "both" else [args.engine]
    print(f"# vlitq.score benchmark, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d')}")
    print(f"# components: {', '.join(names)}")
    for n in args.n:
        d = tempfile.mkdtemp(prefix="vlitq-bench-")
        path = make_llava(os.path.join(d, "llava.json"), n)
        for eng in engines:
            cache = os.path.join(d, f"cache-{eng}")
            cold = run_child(path, names, eng, args.stream, cache)
            warm = run_child(path, names, eng, args.stream, cache)
            print(f"\nn={n} engine={eng} stream={args.stream}")
            print(f"  cold: {cold['seconds']:.1f} s  ({n / cold['seconds']:.0f} samples/s)  "
                  f"peak RSS {cold['peak_rss_mib']:.0f} MiB")
            print(f"  warm: {warm['seconds']:.1f} s  ({n / warm['seconds']:.0f} samples/s)  "
                  f"= {100 * warm['seconds'] / cold['seconds']:.0f}% of cold")
            for k, v in cold["components"].items():
                rate = n / v if v else float("inf")
                wv = warm["components"].get(k) or 0
                print(f"    {k:<24} cold {v:8.2f} s ({rate:9.0f} samples/s)   warm {wv:8.2f} s")
    print(f"\n(driver peak RSS {peak_rss_mib():.0f} MiB)")


if __name__ == "__main__":
    main()
