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
if {engine!r} == "ray":  # Ray started by the run, as a user gets it: shut down after scoring
    kw["num_actors"] = 2
rep = vlitq.score({path!r}, names, **kw)
dt = time.perf_counter() - t0
comp = {{k: v.get("seconds") for k, v in rep.info["components"].items()}}
comp_cpu = {{k: v.get("cpu_seconds") for k, v in rep.info["components"].items()}}
comp_rss = {{k: v.get("peak_rss_mib") for k, v in rep.info["components"].items()}}
heavy = sorted(m for m in ("torch", "transformers", "spacy", "sentence_transformers",
                           "open_clip", "sklearn", "py3langid", "jieba") if m in sys.modules)
print(json.dumps({{"seconds": dt, "n": rep.samples.height, "components": comp,
                  "components_cpu": comp_cpu, "components_rss": comp_rss,
                  "served_from_cache": (rep.info.get("ray") or {{}}).get("served_from_cache"),
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


def _descendants(root: int) -> dict[int, str]:
    """{pid: role} for ``root`` and every process below it (/proc): ``driver`` for ``root``;
    by their process titles, the scoring ``actors``, ``read`` and ``write`` tasks and
    ``idle_workers`` of Ray; ``ray`` for Ray's daemons and its own actors; else ``other``."""
    parent: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    parent[int(d)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    kids: dict[int, list[int]] = {}
    for pid, pp in parent.items():
        kids.setdefault(pp, []).append(pid)
    out, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in out:
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmd = fh.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if pid == root:
            role = "driver"
        elif "ScorerUDF" in cmd:
            role = "actors"  # the scoring actors (the title names their current call)
        elif "_read_file" in cmd:
            role = "read"
        elif "Write" in cmd:
            role = "write"
        elif cmd.startswith("ray::IDLE"):
            role = "idle_workers"  # pooled workers between tasks
        elif "ray" in cmd:
            role = "ray"  # GCS, raylet, dashboard agents, Ray Data's own actors
        else:
            role = "other"
        out[pid] = role
        todo.extend(kids.get(pid, ()))
    return out


def _rss_mib(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, IndexError, ValueError):
        return 0.0


def run_child(path, names, engine, stream, cache, image_root, chunk, config=None, trace=None):
    """One fresh process running ``vlitq.score``. Besides the child's own figures, the
    machine's CPU seconds and the peak of its memory in use above the level at the start
    (sampled every second) are recorded: with ``engine="ray"`` the work happens in actor
    processes that are not the child's, so its own CPU time and peak RSS miss them. Both
    machine-wide figures include whatever else runs on the machine (see ``load``).

    Every second the RSS of the child and of each process below it (Ray's workers) is
    sampled too: ``res["peak_by_role_mib"]`` is each role's peak (the sum over its processes
    at one instant: ``actors`` is every scoring actor together; RSS counts pages shared with
    Ray's object store in each process that maps them) and
    ``res["at_machine_peak_mib"]`` the split at the machine's peak; with ``trace`` (a path)
    every sample is written as one JSON line ``{"t", "used", role: rss...}``."""
    import threading

    code = CHILD.format(bench=__file__, names=names, engine=engine, stream=stream, cache=cache,
                        path=path, image_root=image_root, chunk=chunk, config=config or {})
    env = {**os.environ, "VLITQ_DISABLE_PROGRESS_BARS": "1", "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1"}
    la = loadavg()
    base, peak, done = _used_mib(), [0.0], threading.Event()
    by_role: dict[str, float] = {}
    at_peak: dict[str, float] = {}
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    t_start = time.perf_counter()
    fh = open(trace, "w") if trace else None

    def sample():
        while not done.wait(1.0):
            used = _used_mib() - base
            roles: dict[str, float] = {}
            for pid, role in _descendants(proc.pid).items():
                roles[role] = roles.get(role, 0.0) + _rss_mib(pid)
            for role, v in roles.items():
                by_role[role] = max(by_role.get(role, 0.0), v)
            if used > peak[0]:
                peak[0] = used
                at_peak.clear()
                at_peak.update(roles, t=round(time.perf_counter() - t_start, 1))
            if fh:
                fh.write(json.dumps({"t": round(time.perf_counter() - t_start, 1),
                                     "used": round(used), **{k: round(v) for k, v in
                                                              roles.items()}}) + "\n")
                fh.flush()

    th = threading.Thread(target=sample, daemon=True)
    c0 = _system_cpu_s()
    th.start()
    stdout, stderr = proc.communicate()
    out = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    done.set()
    th.join()
    if fh:
        fh.close()
    if out.returncode:
        raise SystemExit(out.stderr[-3000:])
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res["load"] = f"{la}->{loadavg()}"
    res["machine_cpu_s"] = _system_cpu_s() - c0
    res["machine_peak_used_mib"] = peak[0]
    res["peak_by_role_mib"] = {k: round(v) for k, v in sorted(by_role.items())}
    res["at_machine_peak_mib"] = {k: round(v, 1) for k, v in sorted(at_peak.items())}
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
    ap.add_argument("--trace", default=None, metavar="PREFIX",
                    help="write each run's per-second memory by process role to "
                         "PREFIX-<n>-<engine>-<cold|warm>.jsonl")
    ap.add_argument("--data", default=None, metavar="FILE",
                    help="score this existing LLaVA JSON (images beside it) instead of "
                         "generating one; --n is then its number of samples")
    ap.add_argument("--cache", default=None, metavar="DIR",
                    help="cache folder (default: a new one beside the data; with an existing "
                         "one the first run is warm or partly so)")
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
        if args.data:
            path = os.path.abspath(args.data)
            d_img = os.path.dirname(path)
            stats = {"samples": n, "file": path}
        elif args.shape == "665k":
            stats = make_llava665k(path, n)
        else:
            make_llava(path, n)
            stats = {"samples": n}
        root = d_img if args.data else d
        print(f"\n# data ({time.perf_counter() - t0:.0f} s to generate): {stats}")
        for eng in engines:
            cache = args.cache or os.path.join(d, f"cache-{eng}")
            tr = (lambda kind: f"{args.trace}-{n}-{eng}-{kind}.jsonl") if args.trace else None
            cold = run_child(path, names, eng, stream, cache, root, args.chunk_size, config,
                             trace=tr and tr("cold"))
            warm = None if args.no_warm else run_child(path, names, eng, stream, cache, root,
                                                      args.chunk_size, config,
                                                      trace=tr and tr("warm"))
            results.append({"n": n, "engine": eng, "data": stats, "cold": cold, "warm": warm})
            print(f"\nn={n} engine={eng} stream={stream}")
            print(f"  cold: {cold['seconds']:.1f} s  ({n / cold['seconds']:.0f} samples/s, "
                  f"{cold['cpu_s']:.0f} CPU s)  peak RSS {cold['peak_rss_mib']:.0f} MiB  "
                  f"load {cold['load']}  errors {cold['errors']}")
            print(f"  machine: {cold['machine_cpu_s']:.0f} CPU s in all processes, peak memory "
                  f"in use +{cold['machine_peak_used_mib']:.0f} MiB over the start")
            print(f"  cold peak RSS by process role (MiB): {cold['peak_by_role_mib']}; "
                  f"at the machine's peak: {cold['at_machine_peak_mib']}")
            if warm:
                print(f"  warm: {warm['seconds']:.2f} s  ({n / warm['seconds']:.0f} samples/s)  "
                      f"= {100 * warm['seconds'] / cold['seconds']:.1f}% of cold  "
                      f"peak RSS {warm['peak_rss_mib']:.0f} MiB  load {warm['load']}  "
                      f"heavy modules imported: {warm['heavy_imported'] or 'none'}"
                      + ("; served whole from the cache (no Ray)"
                         if warm.get("served_from_cache") else ""))
                print(f"  warm: machine +{warm['machine_peak_used_mib']:.0f} MiB; peak RSS by "
                      f"role (MiB): {warm['peak_by_role_mib']}")
            cpu = cold.get("components_cpu") or {}
            tot = sum(v or 0 for v in cpu.values()) or 1
            for k, v in sorted(cold["components"].items(), key=lambda kv: -(cpu.get(kv[0]) or 0)):
                v = v or 0
                c = cpu.get(k) or 0
                rate = n / c if c else float("inf")
                wv = (warm["components"].get(k) or 0) if warm else float("nan")
                rss = (cold.get("components_rss") or {}).get(k)
                print(f"    {k:<24} cold {v:8.2f} s wall {c:8.2f} s CPU {100 * c / tot:5.1f}% "
                      f"({rate:9.0f} samples/CPU-s)   warm {wv:7.3f} s   peak RSS of its "
                      f"process when done {rss or float('nan'):7.0f} MiB")
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
