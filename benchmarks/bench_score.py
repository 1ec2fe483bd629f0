"""End-to-end ``vlitq.score`` on a LLaVA-665K-shaped dataset: samples/s, peak RSS, the share of
each component, cold vs warm cache, linear or not.

    nice python benchmarks/bench_score.py --n 10000                  # default offline set
    nice python benchmarks/bench_score.py --n 10000 100000           # + linearity
    python benchmarks/bench_score.py --n 10000 --shape simple --scorers text_stats,image_check
    python benchmarks/bench_score.py --n 10000 --engine both --scorers text_stats,duplicates
    python benchmarks/bench_score.py --n 100000 --set response_diversity.model=minilm-static \
        --set tasks.encoder=minilm-static         # component parameters, as `vlitq score --set`

The data comes from :func:`_llava665k.make_llava665k` (the LLaVA-v1.5 mix's task shares, turn
counts, short VQA vs long free-form answers, COCO-style shared images written as small JPEGs
beside the file; ``--shape simple`` is the older 1-3-turn generator). The image root is the
file's folder, as in LLaVA, and is passed explicitly so ``image_check`` finds every image.

Every run (cold, then warm on the same cache folder) is a fresh subprocess, so its peak RSS is
its own and the warm run pays every import it needs. ``matching`` is left out of the default
set: no CLIP weights are available offline here and random-weight ViT-B/32 runs at ~1-2
images/s on this CPU (``bench_matching.py``); it belongs on a GPU.
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
from _llava665k import make_llava665k  # noqa: E402

#: ``vlitq.api.DEFAULT_COMPONENTS`` without ``matching`` (needs CLIP weights / a GPU)
OFFLINE_DEFAULT = ("text_stats,image_check,language,instruction_type,elements,duplicates,tasks,"
                   "task_diversity,balance,instruction_diversity,response_diversity")

CHILD = r'''
import json, sys, time, os
sys.path.insert(0, os.path.dirname(os.path.abspath({bench!r})))
from _common import peak_rss_mib
t0 = time.perf_counter()
import vlitq
names = {names!r}
kw = dict(engine={engine!r}, stream={stream!r}, progress=False, cache={cache!r},
          image_root={image_root!r}, chunk_size={chunk!r}, config={config!r},
          )
if {engine!r} == "ray":
    import ray; ray.init(num_cpus=os.cpu_count(), include_dashboard=False, log_to_driver=False)
    kw["num_actors"] = 2
rep = vlitq.score({path!r}, names, **kw)
dt = time.perf_counter() - t0
comp = {{k: v.get("seconds") for k, v in rep.info["components"].items()}}
comp_cpu = {{k: v.get("cpu_seconds") for k, v in rep.info["components"].items()}}
heavy = sorted(m for m in ("torch", "transformers", "spacy", "sentence_transformers",
                           "open_clip", "sklearn", "py3langid", "jieba") if m in sys.modules)
print(json.dumps({{"seconds": dt, "n": rep.samples.height, "components": comp,
                  "components_cpu": comp_cpu,
                  "peak_rss_mib": peak_rss_mib(), "errors": rep.error_counts(),
                  "heavy_imported": heavy, "cpu_s": sum(os.times()[:2])}}))
'''


def loadavg() -> str:
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def _system_cpu_s() -> float:
    """CPU seconds (user + nice + system) of the whole machine since boot (/proc/stat)."""
    try:
        with open("/proc/stat") as fh:
            f = fh.readline().split()
        return (int(f[1]) + int(f[2]) + int(f[3])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _used_mib() -> float:
    """Memory in use on the machine (MemTotal - MemAvailable), MiB."""
    try:
        info = dict(line.split(":", 1) for line in open("/proc/meminfo"))
        kib = lambda k: int(info[k].split()[0])  # noqa: E731
        return (kib("MemTotal") - kib("MemAvailable")) / 1024
    except (OSError, KeyError, ValueError):
        return float("nan")


def run_child(path, names, engine, stream, cache, image_root, chunk, config=None):
    """One fresh process running ``vlitq.score``. Besides the child's own figures, the
    machine's CPU seconds and the peak of its memory in use above the level at the start
    (sampled every second) are recorded: with ``engine="ray"`` the work happens in actor
    processes that are not the child's, so its own CPU time and peak RSS miss them. Both
    machine-wide figures include whatever else runs on the machine (see ``load``)."""
    import threading

    code = CHILD.format(bench=__file__, names=names, engine=engine, stream=stream, cache=cache,
                        path=path, image_root=image_root, chunk=chunk, config=config or {})
    env = {**os.environ, "VLITQ_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    la = loadavg()
    base, peak, done = _used_mib(), [0.0], threading.Event()

    def sample():
        while not done.wait(1.0):
            peak[0] = max(peak[0], _used_mib() - base)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    c0 = _system_cpu_s()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    done.set()
    th.join()
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["load"] = f"{la}->{loadavg()}"
    res["machine_cpu_s"] = _system_cpu_s() - c0
    res["machine_peak_used_mib"] = peak[0]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[10000])
    ap.add_argument("--scorers", default=OFFLINE_DEFAULT)
    ap.add_argument("--shape", default="665k", choices=["665k", "simple"])
    ap.add_argument("--engine", default="local", choices=["local", "ray", "both"])
    ap.add_argument("--no-stream", action="store_true", help="read the whole file first")
    ap.add_argument("--chunk-size", type=int, default=1024)
    ap.add_argument("--no-warm", action="store_true")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--set", dest="assignments", action="append", default=[],
                    metavar="COMPONENT.PARAM=VALUE", help="a component parameter (repeatable)")
    args = ap.parse_args()
    from vlitq.config import load_run_config

    config = load_run_config(None, args.assignments)
    names = [s for s in args.scorers.split(",") if s]
    engines = ["local", "ray"] if args.engine == "both" else [args.engine]
    stream = not args.no_stream
    print(f"# vlitq.score benchmark, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M')}, "
          f"load {loadavg()}")
    print(f"# components: {', '.join(names)}" + (f"; config {config}" if config else ""))
    results = []
    for n in args.n:
        d = tempfile.mkdtemp(prefix="vlitq-bench-")
        path = os.path.join(d, "llava.json")
        t0 = time.perf_counter()
        if args.shape == "665k":
            stats = make_llava665k(path, n)
        else:
            make_llava(path, n)
            stats = {"samples": n}
        print(f"\n# data ({time.perf_counter() - t0:.0f} s to generate): {stats}")
        for eng in engines:
            cache = os.path.join(d, f"cache-{eng}")
            cold = run_child(path, names, eng, stream, cache, d, args.chunk_size, config)
            warm = None if args.no_warm else run_child(path, names, eng, stream, cache, d,
                                                      args.chunk_size, config)
            results.append({"n": n, "engine": eng, "data": stats, "cold": cold, "warm": warm})
            print(f"\nn={n} engine={eng} stream={stream}")
            print(f"  cold: {cold['seconds']:.1f} s  ({n / cold['seconds']:.0f} samples/s, "
                  f"{cold['cpu_s']:.0f} CPU s)  peak RSS {cold['peak_rss_mib']:.0f} MiB  "
                  f"load {cold['load']}  errors {cold['errors']}")
            print(f"  machine: {cold['machine_cpu_s']:.0f} CPU s in all processes, peak memory "
                  f"in use +{cold['machine_peak_used_mib']:.0f} MiB over the start")
            if warm:
                print(f"  warm: {warm['seconds']:.2f} s  ({n / warm['seconds']:.0f} samples/s)  "
                      f"= {100 * warm['seconds'] / cold['seconds']:.1f}% of cold  "
                      f"peak RSS {warm['peak_rss_mib']:.0f} MiB  load {warm['load']}  "
                      f"heavy modules imported: {warm['heavy_imported'] or 'none'}")
            cpu = cold.get("components_cpu") or {}
            tot = sum(v or 0 for v in cpu.values()) or 1
            for k, v in sorted(cold["components"].items(), key=lambda kv: -(cpu.get(kv[0]) or 0)):
                v = v or 0
                c = cpu.get(k) or 0
                rate = n / c if c else float("inf")
                wv = (warm["components"].get(k) or 0) if warm else float("nan")
                print(f"    {k:<24} cold {v:8.2f} s wall {c:8.2f} s CPU {100 * c / tot:5.1f}% "
                      f"({rate:9.0f} samples/CPU-s)   warm {wv:7.3f} s")
    local = [r for r in results if r["engine"] == "local"]
    if len(local) > 1:
        a, b = local[0], local[-1]
        ratio = (b["cold"]["cpu_s"] / a["cold"]["cpu_s"]) / (b["n"] / a["n"])
        print(f"\n# scaling {a['n']} -> {b['n']}: CPU time per sample x{ratio:.2f} "
              f"({'linear' if ratio < 1.25 else 'super-linear'}); per component:")
        for k, v in (a["cold"].get("components_cpu") or a["cold"]["components"]).items():
            w = (b["cold"].get("components_cpu") or b["cold"]["components"]).get(k) or 0
            if v:
                print(f"    {k:<24} x{(w / v) / (b['n'] / a['n']):.2f} per sample")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    print(f"\n(driver peak RSS {peak_rss_mib():.0f} MiB)")


if __name__ == "__main__":
    main()
